package httpapi

import (
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
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

// TestLiveTextIsAPrefixOfWhatComes: trailing spaces are held back,
// overlapping windows add nothing twice, text of a step whose claim is not
// read is not shown, and a gap or another writer stops the live text
// rather than send what may not be the reply.
func TestLiveTextIsAPrefixOfWhatComes(t *testing.T) {
	st := &streamState{live: map[int]*liveText{}}
	var got strings.Builder
	feed := func(d commands.Delta) bool {
		c, _, unknown := st.onDelta(d)
		got.WriteString(c)
		return unknown
	}
	d := commands.Delta{Step: 2, Writer: "w1", Attempt: 1, Text: "Your three"}
	if !feed(d) || got.Len() != 0 {
		t.Fatalf("text of a step whose claim was not read: sent %q, unknown not said", got.String())
	}
	st.claimed = 2
	feed(d)
	d.Text = "Your three open tasks "
	feed(d)
	if got.String() != "Your three open tasks" {
		t.Fatalf("sent %q", got.String())
	}
	d.Offset, d.Text = 5, "three open tasks are"
	feed(d)
	if got.String() != "Your three open tasks are" {
		t.Fatalf("an overlapping window sent %q", got.String())
	}
	d.Writer, d.Offset, d.Text = "w2", 0, "Your three open tasks are: a, b"
	feed(d)
	d.Writer, d.Offset, d.Text = "w1", 100, "far ahead"
	feed(d)
	d.Offset, d.Text = 0, "Your three open tasks are: a, b"
	feed(d)
	if got.String() != "Your three open tasks are" {
		t.Fatalf("text of another writer or after a gap was sent: %q", got.String())
	}
}

// TestResumeAfterLiveTextOfALongReply: a client that reconnects holding
// 1500 bytes of a long reply, whose text now comes in windows that start
// past the beginning, gets exactly the rest, live and then from the log.
func TestResumeAfterLiveTextOfALongReply(t *testing.T) {
	reply := strings.Repeat("word ", 400) + "end." // 2004 bytes
	st := &streamState{live: map[int]*liveText{}, resumed: 1500, resumeAfter: 4, claimed: 3}
	var got strings.Builder
	c, sent, _ := st.onDelta(commands.Delta{Step: 3, Writer: "w", Attempt: 1, Offset: 1003, Text: reply[1003:1800]})
	got.WriteString(c)
	if sent != 1799 || c != reply[1500:1799] { // the space at 1799 waits for the next word
		t.Fatalf("resumed live text: %d held, sent %q", sent, c)
	}
	st.cur = 6
	st.render(recorded(t, 5, &conversation.ModelStepCompleted{Step: 3, Content: reply}))
	evs, _ := st.render(recorded(t, 6, &conversation.Resolved{Reply: reply}))
	for _, ev := range evs {
		if m, ok := ev.ev.data.(map[string]string); ok {
			got.WriteString(m["chunk"])
		}
		if ev.ev.event == "retract" {
			t.Fatalf("a retract for text that is the reply: %+v", ev)
		}
	}
	if got.String() != reply[1500:] {
		t.Fatalf("the client got %d bytes after its 1500, want %d", got.Len(), len(reply)-1500)
	}
}

func recorded(t *testing.T, version int64, f es.Fact) es.Recorded {
	t.Helper()
	ev, err := es.NewEvent("id", f, es.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	return es.Recorded{ID: ev.ID, Stream: "conversation-x", StreamVersion: version, Type: ev.Type, Data: ev.Data}
}
