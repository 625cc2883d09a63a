package openai

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

func TestSplitOutcome(t *testing.T) {
	tests := []struct{ in, text, outcome string }{
		{"Done: Ann Lee is created.\nOUTCOME: completed", "Done: Ann Lee is created.", agent.OutcomeCompleted},
		{"Two match.\n\nOutcome: needs_clarification\n", "Two match.", agent.OutcomeNeedsClarification},
		{"I could not.\n  outcome : not_understood.", "I could not.", agent.OutcomeNotUnderstood},
		{"No marker here.", "No marker here.", ""},
		{"Unknown word.\nOUTCOME: splendid", "Unknown word.\nOUTCOME: splendid", ""},
		{"The outcome: completed is mid-line, not a marker line", "The outcome: completed is mid-line, not a marker line", ""},
	}
	for _, tc := range tests {
		text, outcome := splitOutcome(tc.in)
		if text != tc.text || outcome != tc.outcome {
			t.Errorf("splitOutcome(%q) = %q, %q; want %q, %q", tc.in, text, outcome, tc.text, tc.outcome)
		}
	}
}

// TestOutcomeFilterStreams: streamed text passes on as it comes, the
// marker line never does, whatever the pieces' boundaries.
func TestOutcomeFilterStreams(t *testing.T) {
	answers := []string{
		"I sent the email to Ann Lee.\nOUTCOME: completed",
		"Out of stock items: none.\nOutbound mail is fine.\n\nOUTCOME: completed\n",
		"Which one?\nOUTCOME: needs_clarification",
		"No marker at all, and a last line\nOut",
	}
	for _, answer := range answers {
		want, _ := splitOutcome(answer)
		for size := 1; size <= len(answer); size++ {
			var got strings.Builder
			f := outcomeFilter{emit: func(s string) { got.WriteString(s) }}
			for i := 0; i < len(answer); i += size {
				f.write(answer[i:min(len(answer), i+size)])
			}
			f.flush()
			if strings.TrimRight(got.String(), "\n") != want {
				t.Fatalf("pieces of %d: streamed %q, want %q", size, got.String(), want)
			}
		}
	}
}

// TestOutcomeFromTheModel: against an OpenAI-compatible server, the final
// reply's marker becomes the outcome and leaves the text, streamed or not;
// a question's candidates are the records the turn's last search named.
func TestOutcomeFromTheModel(t *testing.T) {
	search := `{"count":2,"contacts":[{"id":"c1","name":"Priya Raman","company":"Northwind","email":"priya@northwind.io"},` +
		`{"id":"c2","name":"Priya Shah","company":"Fabrikam","email":"priya@fabrikam.com"}]}`
	req := agent.Request{Messages: []agent.Message{
		{Role: agent.RoleUser, Content: "Delete Priya"},
		{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "k1", Name: "search_contacts", Arguments: []byte(`{"name":"Priya"}`)}}},
		{Role: agent.RoleTool, ToolCallID: "k1", Name: "search_contacts", Content: search},
	}}
	answer := "Two contacts are named Priya: Priya Raman and Priya Shah. Which one should I delete?\nOUTCOME: needs_clarification"
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		if string(got.raw["stream"]) == "true" {
			var lines []string
			for _, piece := range strings.SplitAfter(answer, " ") {
				lines = append(lines, fmt.Sprintf(`{"id":"c","choices":[{"index":0,"delta":{"content":%q}}]}`, piece))
			}
			lines = append(lines, `{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
				`{"id":"c","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70}}`, `[DONE]`)
			sseChunks(w, lines...)
			return
		}
		writeCompletion(w, wireReply{content: answer, finish: "stop", prompt: 50, completion: 20})
	})
	m := newModel(t, fastConfig(srv.baseURL()))
	plain, err := m.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	live, err := m.CompleteStreaming(context.Background(), req, func(_ int, s string) { streamed.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	for name, resp := range map[string]agent.Response{"complete": plain, "streaming": live} {
		if resp.Outcome != agent.OutcomeNeedsClarification || strings.Contains(resp.Content, "OUTCOME") {
			t.Errorf("%s: outcome %q, content %q", name, resp.Outcome, resp.Content)
		}
		if len(resp.Candidates) != 2 || resp.Candidates[0].ID != "c1" || resp.Candidates[1].Company != "Fabrikam" || resp.Candidates[0].Kind != "contact" {
			t.Errorf("%s: candidates %+v", name, resp.Candidates)
		}
	}
	if streamed.String() != live.Content {
		t.Errorf("streamed %q, reply %q", streamed.String(), live.Content)
	}
}
