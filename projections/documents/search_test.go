package documents

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSnippetCutsAtWordsAndRunes(t *testing.T) {
	for _, c := range []struct {
		name, body, term string
	}{
		{"words around", strings.Repeat("äöü ", 100) + "target " + strings.Repeat("日本語 ", 100), "target"},
		{"no spaces around", strings.Repeat("日本語", 100) + " target " + strings.Repeat("ß", 300), "target"},
		{"no spaces at all before", strings.Repeat("日本語", 100) + ",target", "target"},
		{"no spaces at all after", "target," + strings.Repeat("日本語", 100), "target"},
		{"match at the start", "target " + strings.Repeat("word ", 100), "target"},
		{"match at the end", strings.Repeat("word ", 100) + "target", "target"},
		{"short body", "just the target here", "target"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := snippet(c.body, tokenize(c.body), []string{c.term})
			if !utf8.ValidString(s) {
				t.Fatalf("snippet is not valid UTF-8: %q", s)
			}
			if !strings.Contains(s, c.term) {
				t.Fatalf("snippet lacks %q: %q", c.term, s)
			}
			if len(s) > snippetLen+2*len("… ") {
				t.Fatalf("snippet is %d bytes: %q", len(s), s)
			}
		})
	}
	if s := snippet("just the target here", tokenize("just the target here"), []string{"target"}); s != "just the target here" {
		t.Fatalf("short body snippet = %q", s)
	}
	long := strings.Repeat("alpha ", 10) + "target" + strings.Repeat(" omega", 40)
	s := snippet(long, tokenize(long), []string{"target"})
	if !strings.HasPrefix(s, "… alpha") || !strings.HasSuffix(s, "omega …") {
		t.Fatalf("cut snippet = %q", s)
	}
}

func TestCleanQuery(t *testing.T) {
	for in, want := range map[string]string{
		"Q1 report":           "Q1 report",
		`"sales report" -old`: `"sales report" -old`,
		"e-mail":              "e mail",
		"ada@example.com":     "ada example com",
		"2025-03-01":          "2025 03 01",
		"- alone":             "  alone",
		"x --y":               "x   y",
		"Müller!":             "Müller ",
	} {
		if got := cleanQuery(in); got != want {
			t.Errorf("cleanQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
