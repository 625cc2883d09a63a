package offline

import (
	"regexp"
	"strings"
)

// clause is one step of a request. ifNone marks a step said to apply only
// when the step before it found nothing ("if not, add her").
type clause struct {
	text   string
	ifNone bool
	// ifSome marks a step said to apply only when the step before found
	// something ("if so, push its deadline").
	ifSome bool
}

// pronounAbsent: "she's missing", "he isn't", "they are not there".
const pronounAbsent = `(?:he|she|they|it)(?:(?:'s|\s+is|\s+are)?\s*(?:n't|not|missing|absent)|\s+(?:isn't|aren't|doesn't|don't|is\s+not|are\s+not|does\s+not|do\s+not))`

// actionVerbs start a new step when they follow a comma or "and": "find
// the report, summarise it, and email it".
const actionVerbs = `(?:e-?mail|mail|send|forward|share|summari[sz]e|create|add|delete|remove|update|change|set|mark|complete|` +
	`assign|find|search|look|read|open|move|list|show|tell|remind|schedule|notify|let|save|record|check|give|get|put|file|archive|make)`

var (
	// thenSplitRe: ", then", "and then", "; then", ". Then".
	thenSplitRe = regexp.MustCompile(`(?i)(?:\s*[,;.]\s*|\s+)(?:and\s+)?then\b[\s,]*()`)
	// semicolonSplitRe: "…; email …" (a list of fields "name: …; city: …"
	// is one step).
	semicolonSplitRe = regexp.MustCompile(`(?i)\s*;\s*(?:and\s+)?(?:also\s+)?(` + actionVerbs + `\b)`)
	// sentenceSplitRe: "…. Email …": a sentence that starts with a verb.
	sentenceSplitRe = regexp.MustCompile(`(?i)[.!?]\s+(?:please\s+|pls\s+|kindly\s+|now\s+)?(` + actionVerbs + `\b)`)
	// commaVerbSplitRe: "…, summarise it", "…, and email …".
	commaVerbSplitRe = regexp.MustCompile(`(?i)\s*,\s*(?:and\s+)?(?:also\s+)?(` + actionVerbs + `\b)`)
	// andVerbSplitRe: "… and email …".
	andVerbSplitRe = regexp.MustCompile(`(?i)\s+and\s+(?:also\s+)?(` + actionVerbs + `\b)`)
	// andPronounVerbSplitRe: "… and assign it to …", the only "and" split
	// inside a new task's title, whose words may hold verbs of their own
	// ("review and send the contract").
	andPronounVerbSplitRe = regexp.MustCompile(`(?i)\s+and\s+(` + actionVerbs + `\s+(?:it|its|this|that|the\s+task|this\s+task|her|him|them)\b)`)
	// conditionSplitRe: "…, and if not, …", "… otherwise …".
	conditionSplitRe = regexp.MustCompile(`(?i)(?:\s*[,;.?!\-–—]\s*(?:and\s+)?|\s+and\s+|\s+)((?:if|when)\s+(?:so\b|found\b|there(?:'s|\s+is)\s+one\b|not|none|nothing|no\s+one|nobody|there\s+(?:is|are|'s)\s*n|there\s+(?:is|are)\s+no\b|` + pronounAbsent + `|(?:we|you)\s+(?:don't|do\s+not|can't|cannot)|not\s+found|missing|absent)|otherwise\b|else\b|failing\s+that\b)`)
	// conditionRe reads the condition at the start of a step and what
	// follows it.
	conditionRe = regexp.MustCompile(`(?i)^(?:(?:if|when)\s+(?:not|none|nothing|no\s+one|nobody|not\s+found|missing|absent|` +
		`there\s+(?:is|are)\s+(?:none|no\s+one|nobody|nothing|no\s+matches?|no\s+such\s+\w+)|` +
		`there(?:'s|\s+is|\s+are)?\s*(?:n't|not|no)\s+(?:an?\s+|any\s+)?(?:contact|match|record|entry|one)s?(?:\s+(?:for|of|with)\s+(?:him|her|them|it))?|` +
		pronounAbsent + `(?:\s*(?:exist|there|found|in\s+(?:the\s+)?(?:crm|contacts|system|list)))?|` +
		`(?:we|you)\s+(?:don't|do\s+not|can't|cannot)\s+(?:have|find)\s+(?:him|her|them|it|one|anyone|anybody|any)?)|otherwise|else|failing\s+that)\b[\s,:]*(?:then\b[\s,]*)?`)
	// foundConditionRe: "if so", "if found", "if there is one".
	foundConditionRe = regexp.MustCompile(`(?i)^(?:if|when)\s+(?:so|found|there(?:'s|\s+is|\s+are)\s+(?:one|some|any)|(?:she|he|it|they)(?:'s|\s+is|\s+are)\s+there)\b[\s,:]*(?:then\b[\s,]*)?`)
	// taskClauseRe: a step that creates a task.
	taskClauseRe = regexp.MustCompile(`(?i)^(?:please\s+)?(?:(?:create|add|new|make|set\s+up|open|log|schedule)\s+(?:a\s+|an\s+|the\s+|another\s+)?(?:new\s+)?(?:task|to-?do)|remind\s+me)\b`)
)

// bareVerbRe: a step with no object ("tidy up and move …"): no step.
var bareVerbRe = regexp.MustCompile(`(?i)^(?:can\s+you\s+|please\s+)?(?:tidy|clean|sort|go|hurry|quickly|just)(?:\s+(?:up|out|ahead|on))?$`)

// splitClauses cuts a request into its steps. Quoted text is never cut,
// and a new task's title is cut only where a step plainly starts.
func splitClauses(text string) []clause {
	var out []clause
	rest := strings.TrimSpace(text)
	for rest != "" {
		cut, next := nextSplit(rest)
		if cut < 0 {
			out = append(out, clause{text: trimClause(rest)})
			break
		}
		if head := trimClause(rest[:cut]); head != "" {
			out = append(out, clause{text: head})
		}
		rest = strings.TrimSpace(rest[next:])
	}
	for i := range out {
		if m := foundConditionRe.FindStringIndex(out[i].text); m != nil && i > 0 {
			out[i].ifSome = true
			out[i].text = trimClause(out[i].text[m[1]:])
			if out[i].text == "" && i+1 < len(out) {
				out[i+1].ifSome = true
			}
			continue
		}
		if m := conditionRe.FindStringIndex(out[i].text); m != nil && i > 0 {
			out[i].ifNone = true
			out[i].text = trimClause(out[i].text[m[1]:])
			if out[i].text == "" && i+1 < len(out) {
				// "…; if not, add her": the condition is a step of its own
				// only by punctuation.
				out[i+1].ifNone = true
			}
		}
	}
	var kept []clause
	for _, c := range out {
		if c.text != "" && !(len(out) > 1 && bareVerbRe.MatchString(c.text)) {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return []clause{{text: strings.TrimSpace(text)}}
	}
	return kept
}

// nextSplit finds the earliest place the request goes on to a new step:
// the end of the current step (cut) and the start of the next (next).
func nextSplit(s string) (cut, next int) {
	splitters := []*regexp.Regexp{thenSplitRe, semicolonSplitRe, sentenceSplitRe, commaVerbSplitRe, conditionSplitRe}
	if taskClauseRe.MatchString(s) {
		splitters = append(splitters, andPronounVerbSplitRe)
	} else {
		splitters = append(splitters, andVerbSplitRe)
	}
	cut, next = -1, -1
	for _, re := range splitters {
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if m[0] == 0 || insideQuotes(s, m[0]) || fieldLabelRe.MatchString(s[m[2]:]) {
				continue
			}
			if cut < 0 || m[0] < cut {
				cut, next = m[0], m[2]
			}
			break
		}
	}
	return cut, next
}

// fieldLabelRe: "email ann@x.com", "e-mail: …", "email address …" after a
// comma are a contact's field, not a step that sends mail: the address
// is all that follows (or a label mark does).
var fieldLabelRe = regexp.MustCompile(`(?i)^(?:e-?mail|mail)(?:\s+address)?(?:\s*[:=]|\s+(?:is\s+)?[^\s@,;]+@[^\s,;]+\s*(?:$|[,;]|\s+(?:and\s+)?(?:phone|mobile|tel|city|title|company)\b))`)

// insideQuotes reports whether position i of s is inside a "…" pair.
func insideQuotes(s string, i int) bool {
	n := strings.Count(s[:i], `"`) + strings.Count(s[:i], "“") + strings.Count(s[:i], "”")
	return n%2 == 1
}

// trimClause drops the joining words and punctuation around a step.
func trimClause(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, " ,;.")
	return strings.TrimSpace(followUpTailRe.ReplaceAllString(s, ""))
}

// skippedReply reports a conditional step that did not apply: the search
// before it found something.
func skippedReply(text string, r referents) string {
	what := "the search found a match"
	if r.searched != "" {
		what = r.searched + " is already there"
	}
	return "I did not " + lowerFirst(text) + ": " + what + "."
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
