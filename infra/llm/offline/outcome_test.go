package offline

import (
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// TestOutcome: every final reply says how the request ended, the way a
// script reads it, and a question lists the records to choose from.
func TestOutcome(t *testing.T) {
	tests := []struct {
		request    string
		fail       map[string]string
		outcome    string
		candidates []string // names, in order
	}{
		{"Find contacts in Glasgow", nil, agent.OutcomeCompleted, nil},
		{"Create a task to call Ann Lee by Friday", nil, agent.OutcomeCompleted, nil},
		{"Delete Priya", nil, agent.OutcomeNeedsClarification, []string{"Priya Raman", "Priya Shah"}},
		{"Email Priya about the renewal", nil, agent.OutcomeNeedsClarification, []string{"Priya Raman", "Priya Shah"}},
		{"Create a contact", nil, agent.OutcomeNeedsClarification, nil},
		{"Change the email of Zoe Quinn to zoe@example.com", nil, agent.OutcomeNeedsClarification, nil},
		{"Make me a sandwich", nil, agent.OutcomeNotUnderstood, nil},
		{"Delete Priya and then email the sales team", nil, agent.OutcomeNeedsClarification, []string{"Priya Raman", "Priya Shah"}},
		{"Find contacts in Leeds, then delete Priya", nil, agent.OutcomePartial, []string{"Priya Raman", "Priya Shah"}},
		{"Create a task: file the report", map[string]string{"create_task": "the task store is read-only today"}, agent.OutcomeCouldNotComplete, nil},
		{"Move the pricing documents to /Old", nil, agent.OutcomeNeedsClarification, []string{"Q3 pricing deck", "Pricing policy 2027"}},
	}
	for _, tc := range tests {
		t.Run(tc.request, func(t *testing.T) {
			crm := &fakeCRM{fail: tc.fail}
			corpusSeed(crm)
			conv := converseAt(t, crm, catalogToolNames, corpusNow, nil, tc.request)
			if conv.outcome != tc.outcome {
				t.Errorf("outcome = %q, want %q (reply %q)", conv.outcome, tc.outcome, conv.reply)
			}
			resp, err := New().Complete(t.Context(), agent.Request{Messages: conv.messages, Tools: specs(catalogToolNames...), Now: corpusNow})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range resp.Candidates {
				if c.ID == "" || c.Kind == "" {
					t.Errorf("candidate %+v has no id or kind", c)
				}
				names = append(names, c.Name)
			}
			if len(names) != len(tc.candidates) {
				t.Fatalf("candidates %v, want %v", names, tc.candidates)
			}
			for i := range names {
				if names[i] != tc.candidates[i] {
					t.Errorf("candidates %v, want %v", names, tc.candidates)
				}
			}
		})
	}
}
