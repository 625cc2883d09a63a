package documents

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// How the two stores search, and why they agree.
//
// Postgres indexes title and body with the 'simple' text-search
// configuration, which lower-cases words and keeps every one of them: no
// stemming and no stop words. The 'english' configuration would stem
// ("reports" matches "report") and drop words such as "the", which the
// memory store cannot imitate, so the two stores would find different
// documents. Before indexing, every run of characters other than letters and
// digits becomes a space (see migration 00005), so that a word is exactly a
// maximal run of letters and digits in both stores: the parser would
// otherwise keep "ada@example.com" or "2025-03-01" as lexemes of their own.
//
// The query goes through websearch_to_tsquery after the same cleaning
// (cleanQuery), which keeps its quotes and leading minus signs: Postgres
// understands "exact phrase", "or" and -excluded words. The memory store
// does not: for it every word of the query, "or" included, must occur
// somewhere in the title or body. For queries of plain words both stores
// match the same documents; their ranks differ and are only comparable
// within one store.

// isWordRune tells which characters make up words: letters, digits, letter
// numbers (Ⅻ) and the marks Unicode counts as alphabetic (most vowel signs).
// It follows Postgres' [[:alnum:]] under a UTF-8 locale, which uses the C
// library's classification derived from the same Unicode properties.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Other_Alphabetic, r)
}

// token is one word of a text: its lower-cased form and where it sits.
type token struct {
	word       string
	start, end int // byte offsets in the text
}

// tokenize splits s into words (maximal runs of word runes), lower-cased.
func tokenize(s string) []token {
	var out []token
	start := -1
	for i, r := range s {
		switch {
		case isWordRune(r) && start < 0:
			start = i
		case !isWordRune(r) && start >= 0:
			out = append(out, token{strings.ToLower(s[start:i]), start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, token{strings.ToLower(s[start:]), start, len(s)})
	}
	return out
}

// queryTerms are the distinct words of a query, in order.
func queryTerms(q string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tokenize(q) {
		if !seen[t.word] {
			seen[t.word] = true
			out = append(out, t.word)
		}
	}
	return out
}

// cleanQuery prepares a query for websearch_to_tsquery: words, spaces,
// double quotes (phrases) and a minus sign in front of a word (exclusion)
// stay; everything else becomes a space, as it did in the indexed text, so
// "e-mail" looks for the words "e" and "mail" and "ada@example.com" for
// "ada", "example" and "com" — the words the index holds.
func cleanQuery(q string) string {
	var b strings.Builder
	rs := []rune(q)
	for i, r := range rs {
		switch {
		case isWordRune(r), r == '"':
			b.WriteRune(r)
		case r == '-' && (i == 0 || unicode.IsSpace(rs[i-1]) || rs[i-1] == '"') &&
			i+1 < len(rs) && isWordRune(rs[i+1]):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// titleBoost weighs a word found in the title above the same word in the
// body, as weight A (1.0) outweighs weight B (0.4) in Postgres' ts_rank.
const titleBoost = 4

// match ranks a document against the query terms: zero when a term occurs
// in neither title nor body. Each term adds a damped count of its
// occurrences, so a body repeating a word many times does not outrank a
// title naming it.
func match(terms []string, title, body []token) float64 {
	if len(terms) == 0 {
		return 0
	}
	count := func(ts []token) map[string]int {
		m := map[string]int{}
		for _, t := range ts {
			m[t.word]++
		}
		return m
	}
	inTitle, inBody := count(title), count(body)
	rank := 0.0
	for _, term := range terms {
		nt, nb := inTitle[term], inBody[term]
		if nt == 0 && nb == 0 {
			return 0
		}
		rank += titleBoost*math.Log1p(float64(nt)) + math.Log1p(float64(nb))
	}
	return rank / float64(len(terms))
}

// snippetLen is about how long a memory snippet is, in bytes.
const snippetLen = 120

// snippet cuts a window of about snippetLen bytes out of body around the
// first word that is one of the terms (the start of the body if none is),
// at word boundaries, with its whitespace collapsed and "…" where text was
// cut off.
func snippet(body string, tokens []token, terms []string) string {
	at := 0
	for _, t := range tokens {
		if slices.Contains(terms, t.word) {
			at = t.start
			break
		}
	}
	start := at - snippetLen/3
	if start <= 0 {
		start = 0
	} else if i := strings.IndexFunc(body[start:at], unicode.IsSpace); i >= 0 {
		start += i // begin at a word boundary before the match
	} else {
		start = at
	}
	end := start + snippetLen
	if end >= len(body) {
		end = len(body)
	} else if j := strings.LastIndexFunc(body[at:end], unicode.IsSpace); j > 0 {
		end = at + j // stop at a word boundary after the match
	} else {
		for end > at && !utf8.RuneStart(body[end]) {
			end--
		}
	}
	s := strings.Join(strings.Fields(body[start:end]), " ")
	if s == "" {
		return ""
	}
	if start > 0 {
		s = "… " + s
	}
	if end < len(body) && strings.TrimSpace(body[end:]) != "" {
		s += " …"
	}
	return s
}

// collapse turns the whitespace of a Postgres headline into single spaces,
// as in the memory store's snippets.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
