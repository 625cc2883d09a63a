package httpapi

import (
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/commands"
)

func TestWordChunksPutTogetherAreTheText(t *testing.T) {
	for _, s := range []string{"", "one", "Contact created: Tomás  Ruiz,\nAcme.", "  lead and trail  ", "日本語 のテキスト"} {
		chunks := wordChunks(s)
		if strings.Join(chunks, "") != s {
			t.Errorf("%q chunked to %q", s, chunks)
		}
		for _, c := range chunks {
			if strings.TrimSpace(c) == "" && strings.TrimSpace(s) != "" && c != chunks[len(chunks)-1] {
				t.Errorf("%q has a chunk of spaces alone: %q", s, chunks)
			}
		}
	}
}

func TestEventIDsOrderAndParse(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"7", true}, {"7.3", true}, {"7.1048600", true}, {"", false}, {"x", false}, {"7.", false}, {"-1", false}, {"7.-2", false}} {
		id, ok := parseEventID(tc.in)
		if ok != tc.ok || (ok && id.String() != tc.in) {
			t.Errorf("parseEventID(%q) = %v, %v", tc.in, id, ok)
		}
	}
	if !(eventID{8, 0}).after(eventID{7, liveBase + 40}) || (eventID{7, 2}).after(eventID{7, liveBase}) {
		t.Error("live text must sort after its fact's events and before the next fact")
	}
}

// TestLiveTextIsAPrefixOfWhatComes: spaces at either end are held back,
// overlapping windows add nothing twice, and a gap or a second attempt
// stops the live text rather than send what may not be the reply.
func TestLiveTextIsAPrefixOfWhatComes(t *testing.T) {
	st := &streamState{live: map[int]*liveText{}}
	var got strings.Builder
	feed := func(d commands.Delta) {
		c, _ := st.onDelta(d)
		got.WriteString(c)
	}
	d := commands.Delta{Step: 2, Attempt: 1}
	d.Text = "\n  Your three"
	feed(d)
	d.Text = "\n  Your three open tasks "
	feed(d)
	if got.String() != "Your three open tasks" {
		t.Fatalf("sent %q", got.String())
	}
	d.Offset, d.Text = 8, "three open tasks are"
	feed(d)
	if got.String() != "Your three open tasks are" {
		t.Fatalf("an overlapping window sent %q", got.String())
	}
	d.Offset, d.Text = 100, "far ahead"
	feed(d)
	d.Offset, d.Text = 0, "\n  Your three open tasks are: a, b"
	feed(d)
	if got.String() != "Your three open tasks are" {
		t.Fatalf("text after a gap was sent: %q", got.String())
	}
	st2 := &streamState{live: map[int]*liveText{}}
	st2.onDelta(commands.Delta{Step: 1, Attempt: 1, Text: "Let me"})
	if c, _ := st2.onDelta(commands.Delta{Step: 1, Attempt: 2, Text: "Sure"}); c != "" {
		t.Errorf("a retried attempt's text was sent: %q", c)
	}
	if c, _ := st2.onDelta(commands.Delta{Step: 3, Attempt: 1, Text: "Later"}); c != "" {
		t.Errorf("a later step's text was sent while step 1's was unsettled: %q", c)
	}
}
