package offline

import "testing"

func TestBreakSentences(t *testing.T) {
	for in, want := range map[string]string{
		"Kwame, to contacts. His email is x@y.com": "Kwame, to contacts, His email is x@y.com",
		"Dr. Jane Doe at Acme Corp. Ltd":           "Dr. Jane Doe at Acme Corp. Ltd",
		"Ann Lee! She is CEO":                      "Ann Lee, She is CEO",
		"ann@x.co. Then":                           "ann@x.co, Then",
	} {
		if got := breakSentences(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
