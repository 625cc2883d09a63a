package offline

import (
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// firstTurn runs a conversation's opening request and returns its whole
// transcript, the final reply included, as the gateway keeps it.
func firstTurn(t *testing.T, crm *fakeCRM, message string) []agent.Message {
	t.Helper()
	conv := converse(t, crm, allToolNames, message)
	return append(conv.messages, agent.Message{Role: agent.RoleAssistant, Content: conv.reply})
}

// TestFollowUpsReferBack: a follow-up points at what the turn before acted
// on in the many ways people write it, and the write lands on that record.
func TestFollowUpsReferBack(t *testing.T) {
	const opening = "Create a contact for Priya Raman at Northwind Traders, priya@northwind.io"
	tests := []struct {
		message string
		tool    string
		args    map[string]string // arguments that must be there; "$id" is the contact created first
		title   string            // for create_task: words the title must hold
	}{
		{"Add the phone number +1 415 555 0134 to that contact", toolUpdateContact, map[string]string{"id": "$id", "phone": "+1 415 555 0134"}, ""},
		{"also add her phone number: 020 7946 0958", toolUpdateContact, map[string]string{"id": "$id", "phone": "020 7946 0958"}, ""},
		{"Her email is priya.r@northwind.io", toolUpdateContact, map[string]string{"id": "$id", "email": "priya.r@northwind.io"}, ""},
		{"She moved to Contoso Ltd", toolUpdateContact, map[string]string{"id": "$id", "company": "Contoso Ltd"}, ""},
		{"Change her city to Leeds", toolUpdateContact, map[string]string{"id": "$id", "city": "Leeds"}, ""},
		{"Put 07700 900461 as the mobile on this contact", toolUpdateContact, map[string]string{"id": "$id", "phone": "07700 900461"}, ""},
		{"Now create a contact for Tom Okafor at the same company", toolCreateContact, map[string]string{"name": "Tom Okafor", "company": "Northwind Traders"}, ""},
		{"And also create a task to call her on Friday", toolCreateTask, nil, "Priya Raman"},
		{"Remind me to email him the pricing sheet", toolCreateTask, nil, "Priya Raman"},
		{"Give me a summary of that contact", toolGetContact, map[string]string{"id": "$id"}, ""},
		{"Actually, delete it", toolDeleteContact, map[string]string{"id": "$id"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.message, func(t *testing.T) {
			crm := &fakeCRM{}
			crm.addContact(fakeContact{Name: "Priya Shah", Company: "Fabrikam", Email: "ps@fabrikam.com"})
			earlier := firstTurn(t, crm, opening)
			created, ok := crm.contactByName("Priya Raman")
			if !ok {
				t.Fatalf("the opening turn created no contact: %+v", crm.contacts)
			}
			conv := converseAfter(t, crm, allToolNames, earlier, tc.message)
			var hit *agent.ToolCall
			for i := range conv.calls {
				if conv.calls[i].Name == tc.tool {
					hit = &conv.calls[i]
				}
				if conv.calls[i].Name == toolSearchContacts {
					t.Errorf("searched (%s) instead of following the reference", conv.calls[i].Arguments)
				}
			}
			if hit == nil {
				t.Fatalf("no %s call; calls %v, reply %q", tc.tool, conv.callNames(), conv.reply)
			}
			args := conv.args(t, len(conv.calls)-1)
			for k, want := range tc.args {
				if want == "$id" {
					want = created.ID
				}
				if args[k] != want {
					t.Errorf("%s %s = %q, want %q (args %v)", tc.tool, k, args[k], want, args)
				}
			}
			if tc.title != "" && !strings.Contains(args["title"], tc.title) {
				t.Errorf("task title %q does not name %q", args["title"], tc.title)
			}
		})
	}
}

// TestFollowUpsNeverGuess: a reference with nothing (or too much) behind
// it writes nothing and says what is missing.
func TestFollowUpsNeverGuess(t *testing.T) {
	tests := []struct {
		name, opening, followUp, says string
	}{
		{"several contacts matched before", "Find contacts at Acme Corp", "Update her phone to +44 7700 900111", "several"},
		{"no company known", "Show my open tasks", "Create a contact for Al Bee at the same company", "same company"},
		{"no contact known", "Show my open tasks", "Add the phone number +44 7700 900222 to that contact", "Which contact"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crm := &fakeCRM{}
			crm.addContact(fakeContact{Name: "Ann Lee", Company: "Acme Corp"})
			crm.addContact(fakeContact{Name: "Bea Cho", Company: "Acme Corp"})
			crm.addTask(fakeTask{Title: "Send the Q3 deck"})
			before := len(crm.contacts)
			earlier := firstTurn(t, crm, tc.opening)
			conv := converseAfter(t, crm, allToolNames, earlier, tc.followUp)
			for _, c := range conv.calls {
				if c.Name != toolSearchContacts && c.Name != toolListTasks {
					t.Errorf("wrote on a guess: %s %s", c.Name, c.Arguments)
				}
			}
			if len(crm.contacts) != before {
				t.Errorf("contacts changed: %+v", crm.contacts)
			}
			if !strings.Contains(conv.reply, tc.says) {
				t.Errorf("reply %q does not say %q", conv.reply, tc.says)
			}
		})
	}
}

// TestFollowUpCompletesTheTaskMadeBefore: "it" is the task the turn before
// created when the follow-up is about a task.
func TestFollowUpCompletesTheTaskMadeBefore(t *testing.T) {
	crm := &fakeCRM{}
	crm.addTask(fakeTask{Title: "Book the venue"})
	earlier := firstTurn(t, crm, "Create a task: Send the Q3 deck to Dana, due 2026-12-18")
	conv := converseAfter(t, crm, allToolNames, earlier, "great, mark it as done")
	if len(conv.calls) != 1 || conv.calls[0].Name != toolCompleteTask {
		t.Fatalf("calls %v, reply %q", conv.callNames(), conv.reply)
	}
	if got := conv.args(t, 0)["id"]; got != crm.tasks[1].ID {
		t.Errorf("completed %q, want the task made before (%s)", got, crm.tasks[1].ID)
	}
}

// TestWordsThatFitNoFieldAreLeftOutAndSaid: a part of a request that is no
// name, company, title, e-mail, phone or place (an address a web page
// mangled, say) is not written into the city: the contact is created
// without it, and the reply says what was left out.
func TestWordsThatFitNoFieldAreLeftOutAndSaid(t *testing.T) {
	crm := &fakeCRM{}
	conv := converse(t, crm, allToolNames, "Create a contact for John Smith at Acme Corp, [email protected], +44 7700 900000")
	c, ok := crm.contactByName("John Smith")
	if !ok || c.City != "" || c.Company != "Acme Corp" || c.Phone != "+44 7700 900000" {
		t.Fatalf("contact %+v", c)
	}
	if !strings.Contains(conv.reply, "did not understand '[email protected]'") {
		t.Errorf("reply %q does not say what was left out", conv.reply)
	}
}
