package offline

import (
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// TestAnsweringWhichOne: a request that stopped to ask which record was
// meant goes on, in a follow-up that names one of them, from the step that
// asked, on the record chosen; the same holds for context.entity_id sent
// with the request. A follow-up that is a request of its own, or that
// names none or several of them, is never taken for an answer.
func TestAnsweringWhichOne(t *testing.T) {
	tests := []struct {
		name, opening, answer string
		// want is the write the answer makes ("" none); target the name
		// of the contact it must act on.
		want, target string
	}{
		{"by full name", "Delete Priya", "Priya Shah", toolDeleteContact, "Priya Shah"},
		{"by company", "Delete Priya", "the one at Northwind Traders", toolDeleteContact, "Priya Raman"},
		{"by e-mail", "Email Priya about the renewal", "I mean priya@fabrikam.com", toolSendEmail, "Priya Shah"},
		{"by order", "Change Priya's city to York", "the second one", toolUpdateContact, "Priya Shah"},
		{"after a step that was done", "Find contacts in Leeds, then delete Priya", "Priya Raman please", toolDeleteContact, "Priya Raman"},
		{"a request of its own", "Delete Priya", "Create a task to call Priya Shah", toolCreateTask, ""},
		{"names nobody", "Delete Priya", "hmm, not sure", "", ""},
		{"names both", "Delete Priya", "Priya", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crm := &fakeCRM{}
			corpusSeed(crm)
			ids := map[string]string{}
			for _, c := range crm.contacts {
				ids[c.Name] = c.ID
			}
			first := converseAt(t, crm, catalogToolNames, corpusNow, nil, tc.opening)
			if first.outcome != agent.OutcomeNeedsClarification && first.outcome != agent.OutcomePartial {
				t.Fatalf("the opening did not ask: %s %q", first.outcome, first.reply)
			}
			earlier := append(first.messages, agent.Message{Role: agent.RoleAssistant, Content: first.reply})
			conv := converseAt(t, crm, catalogToolNames, corpusNow, earlier, tc.answer)
			var writes []agent.ToolCall
			for _, c := range conv.calls {
				if writeTools[c.Name] {
					writes = append(writes, c)
				}
			}
			if tc.want == "" {
				if len(writes) > 0 {
					t.Fatalf("wrote %s %s on %q (reply %q)", writes[0].Name, writes[0].Arguments, tc.answer, conv.reply)
				}
				return
			}
			if len(writes) != 1 || writes[0].Name != tc.want {
				t.Fatalf("writes %v, want one %s (reply %q)", writes, tc.want, conv.reply)
			}
			if tc.target == "" {
				return
			}
			id := ids[tc.target]
			if args := string(writes[0].Arguments); !strings.Contains(args, `"`+id+`"`) {
				t.Errorf("%s %s, want it on %s (%s)", writes[0].Name, args, tc.target, id)
			}
		})
	}

	// The same choice sent with the request, as context.entity_id.
	crm := &fakeCRM{}
	corpusSeed(crm)
	shah, _ := crm.contactByName("Priya Shah")
	conv := converseAt(t, crm, catalogToolNames, corpusNow, nil,
		"Delete Priya\nContext: {\"entity_type\":\"contact\",\"entity_id\":\""+shah.ID+"\"}")
	if names := conv.callNames(); len(names) != 2 || names[1] != toolDeleteContact || !strings.Contains(string(conv.calls[1].Arguments), shah.ID) {
		t.Errorf("with the choice in context: calls %v %s, reply %q", names, conv.calls, conv.reply)
	}
}
