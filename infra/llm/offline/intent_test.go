package offline

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// TestFirstStep checks how each supported phrasing is understood: the first
// tool call the model asks for (name and exact arguments), or its reply
// when no tool is needed.
func TestFirstStep(t *testing.T) {
	const ctxContact = "\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c9\",\"action\":\"edit\"}"
	tests := []struct {
		message string
		tool    string
		args    map[string]string
		reply   string
	}{
		// Create a contact.
		{"Create a contact for John Smith at Acme Corp, john@acme.com, +44 7700 900000", "create_contact",
			map[string]string{"name": "John Smith", "company": "Acme Corp", "email": "john@acme.com", "phone": "+44 7700 900000"}, ""},
		{"create a contact: jane doe, ceo of acme corp, jane@acme.com", "create_contact",
			map[string]string{"name": "jane doe", "title": "ceo", "company": "acme corp", "email": "jane@acme.com"}, ""},
		{"Add a contact for Bob Roe based in Paris, bob@globex.com.", "create_contact",
			map[string]string{"name": "Bob Roe", "city": "Paris", "email": "bob@globex.com"}, ""},
		{"New contact: Ann Lee, Sales Manager at Initech, London", "create_contact",
			map[string]string{"name": "Ann Lee", "title": "Sales Manager", "company": "Initech", "city": "London"}, ""},
		{"Please add a new contact named Carl Jung who works at Globex with email [carl@globex.com](mailto:carl@globex.com) and phone 020 7946 0018", "create_contact",
			map[string]string{"name": "Carl Jung", "company": "Globex", "email": "carl@globex.com", "phone": "020 7946 0018"}, ""},
		{"Add Dana Scully as a contact, Head of Research at FBI", "create_contact",
			map[string]string{"name": "Dana Scully", "title": "Head of Research", "company": "FBI"}, ""},
		{"Create contact - name: Eve Adams; company: Hooli; city: Berlin", "create_contact",
			map[string]string{"name": "Eve Adams", "company": "Hooli", "city": "Berlin"}, ""},

		// Find contacts.
		{"Find all contacts from London", "search_contacts", map[string]string{"query": "London"}, ""},
		{"Find contacts in London", "search_contacts", map[string]string{"city": "London"}, ""},
		{"Show contacts based in Paris", "search_contacts", map[string]string{"city": "Paris"}, ""},
		{"List contacts at Acme Corp", "search_contacts", map[string]string{"company": "Acme Corp"}, ""},
		{"Search contacts working at Initech", "search_contacts", map[string]string{"company": "Initech"}, ""},
		{"Who works at Acme Corp?", "search_contacts", map[string]string{"company": "Acme Corp"}, ""},
		{"who is based in london", "search_contacts", map[string]string{"city": "london"}, ""},
		{"Find John Smith", "search_contacts", map[string]string{"name": "John Smith"}, ""},
		{"Look up john smith", "search_contacts", map[string]string{"name": "john smith"}, ""},
		{"Find contacts named John", "search_contacts", map[string]string{"name": "John"}, ""},
		{"Find contacts at Acme Corp in London", "search_contacts", map[string]string{"company": "Acme Corp", "city": "London"}, ""},
		{"Find the contact with email john@acme.com", "search_contacts", map[string]string{"email": "john@acme.com"}, ""},
		{"List all contacts", "search_contacts", map[string]string{}, ""},

		// Update a contact.
		{"Update John Smith's phone to +44 7700 900001", "search_contacts", map[string]string{"name": "John Smith"}, ""},
		{"Change the email of John Smith to js@acme.com", "search_contacts", map[string]string{"name": "John Smith"}, ""},
		{"Set Ann Lee's city to Paris", "search_contacts", map[string]string{"name": "Ann Lee"}, ""},
		{"John Smith moved to Globex", "search_contacts", map[string]string{"name": "John Smith"}, ""},
		{"Update Ann Lee: phone +44 20 7946 0999, title CTO", "search_contacts", map[string]string{"name": "Ann Lee"}, ""},
		{"Change this contact's phone to 555 0100 222" + ctxContact, "update_contact",
			map[string]string{"id": "c9", "phone": "555 0100 222"}, ""},
		{"Update his email to new@acme.com" + ctxContact, "update_contact",
			map[string]string{"id": "c9", "email": "new@acme.com"}, ""},

		// Delete a contact.
		{"Delete the contact John Smith", "search_contacts", map[string]string{"name": "John Smith"}, ""},
		{"Remove contact Ann Lee", "search_contacts", map[string]string{"name": "Ann Lee"}, ""},
		{"Delete John Smith from contacts", "search_contacts", map[string]string{"name": "John Smith"}, ""},
		{"Delete this contact" + ctxContact, "delete_contact", map[string]string{"id": "c9"}, ""},

		// Summarise a contact.
		{"Give me a full summary of this contact" + ctxContact, "get_contact", map[string]string{"id": "c9"}, ""},
		{"Summarize\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c9\"}", "get_contact", map[string]string{"id": "c9"}, ""},
		{"What can you tell me?\nContext: {\"entity_type\":\"contact\",\"entity_id\":9,\"action\":\"summarize\"}\nMetadata: {\"source\":\"crm\"}",
			"get_contact", map[string]string{"id": "9"}, ""},
		{"Who is Ann Lee?", "search_contacts", map[string]string{"name": "Ann Lee"}, ""},

		// Tasks.
		{"Create a task: Research competitor pricing for Q1 2026", "create_task",
			map[string]string{"title": "Research competitor pricing for Q1 2026"}, ""},
		{"Add a task to call Ann tomorrow", "create_task", map[string]string{"title": "Call Ann tomorrow"}, ""},
		{"New task: Send the proposal, due on 2026-12-01", "create_task",
			map[string]string{"title": "Send the proposal", "due_date": "2026-12-01"}, ""},
		{"Remind me to renew the licence by 2026-06-30", "create_task",
			map[string]string{"title": "Renew the licence", "due_date": "2026-06-30"}, ""},
		{"List my tasks", "list_tasks", map[string]string{"status": "all"}, ""},
		{"Show open tasks", "list_tasks", map[string]string{"status": "open"}, ""},
		{"What tasks are done?", "list_tasks", map[string]string{"status": "done"}, ""},
		{"What tasks are not done yet?", "list_tasks", map[string]string{"status": "open"}, ""},
		{"List all tasks about pricing", "list_tasks", map[string]string{"status": "all", "query": "pricing"}, ""},
		{"Mark the task Research competitor pricing as done", "list_tasks",
			map[string]string{"query": "Research competitor pricing", "status": "open"}, ""},
		{"Complete task Call Ann", "list_tasks", map[string]string{"query": "Call Ann", "status": "open"}, ""},
		{"Mark this task as done\nContext: {\"entity_type\":\"task\",\"entity_id\":\"t7\"}", "complete_task",
			map[string]string{"id": "t7"}, ""},

		// Context hints without a recognised phrase.
		{"Ann Lee, Initech, ann@initech.com\nContext: {\"entity_type\":\"contact\",\"action\":\"create\"}", "create_contact",
			map[string]string{"name": "Ann Lee", "company": "Initech", "email": "ann@initech.com"}, ""},

		// Not understood, or understood but not actionable.
		{"Send an email to john@acme.com", "", nil, noEmailTextProblem},
		{"Find the Q1 report for Acme", "", nil, missingToolReply("search_documents")},
		{"Give me a summary of the Q1 report", "", nil, missingToolReply("search_documents")},
		{"Delete the Q1 report", "", nil, UnsupportedReply},
		{"Delete contacts in London", "", nil, UnsupportedReply},
		{"Delete this contact" + "\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c9\",\"action\":\"delete\"}", "delete_contact",
			map[string]string{"id": "c9"}, ""},
		{"What's the weather?\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c9\",\"action\":\"delete\"}", "", nil, UnsupportedReply},
		{"Mark this task as done", "", nil,
			"Which task should I mark as done? No task is selected, so please give its title, for example \"Mark the task Research competitor pricing as done\"."},
		{"", "", nil, UnsupportedReply},
	}
	for _, tc := range tests {
		t.Run(tc.message, func(t *testing.T) {
			resp, err := New().Complete(context.Background(), agent.Request{
				Messages: []agent.Message{{Role: agent.RoleUser, Content: tc.message}},
				Tools:    specs(allToolNames...),
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.tool == "" {
				if len(resp.ToolCalls) != 0 {
					t.Fatalf("called %s %s, want the reply %q", resp.ToolCalls[0].Name, resp.ToolCalls[0].Arguments, tc.reply)
				}
				if resp.Content != tc.reply {
					t.Errorf("reply = %q, want %q", resp.Content, tc.reply)
				}
				return
			}
			if len(resp.ToolCalls) != 1 {
				t.Fatalf("want one call to %s, got %d calls and reply %q", tc.tool, len(resp.ToolCalls), resp.Content)
			}
			call := resp.ToolCalls[0]
			var args map[string]string
			if err := json.Unmarshal(call.Arguments, &args); err != nil {
				t.Fatalf("arguments %s: %v", call.Arguments, err)
			}
			if call.Name != tc.tool || !maps.Equal(args, tc.args) {
				t.Errorf("call = %s %v, want %s %v", call.Name, args, tc.tool, tc.args)
			}
		})
	}
}

// TestParseContactDetails pins the segment rules of parseContactDetails.
func TestParseContactDetails(t *testing.T) {
	tests := []struct {
		in   string
		want contactFields
	}{
		{"John Smith at Acme Corp, john@acme.com, +44 7700 900000",
			contactFields{Name: "John Smith", Company: "Acme Corp", Email: "john@acme.com", Phone: "+44 7700 900000"}},
		{"Jane Doe, CEO of Acme Corp", contactFields{Name: "Jane Doe", Title: "CEO", Company: "Acme Corp"}},
		{"Jane Doe, Head of Sales", contactFields{Name: "Jane Doe", Title: "Head of Sales"}},
		{"Jane Doe, Acme Marketing", contactFields{Name: "Jane Doe", Company: "Acme Marketing"}},
		{"Jane Doe, Senior Engineer, Globex, Paris", contactFields{Name: "Jane Doe", Title: "Senior Engineer", Company: "Globex", City: "Paris"}},
		{"Jane Doe (CTO, Globex)", contactFields{Name: "Jane Doe", Title: "CTO", Company: "Globex"}},
		{"Ann Lee at Initech in London", contactFields{Name: "Ann Lee", Company: "Initech", City: "London"}},
		{"Ann Lee, based in New York, as a Designer", contactFields{Name: "Ann Lee", City: "New York", Title: "Designer"}},
		{"Bo Li, tel: 2026 2027 99", contactFields{Name: "Bo Li", Phone: "2026 2027 99"}},
		{"Q1 2026", contactFields{Name: "Q1 2026"}},
	}
	for _, tc := range tests {
		if got := parseContactDetails(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseContactDetails(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestLooksLikeName(t *testing.T) {
	tests := []struct {
		in    string
		lower bool
		want  bool
	}{
		{"John Smith", false, true},
		{"Ludwig van Beethoven", false, true},
		{"Mary-Jane O'Neil", false, true},
		{"john smith", true, true},
		{"john smith", false, false},
		{"the Q1 report", false, false},
		{"Q1", false, false},
		{"sales team", true, true},
		{"sales figures", true, false},
		{"my pipeline", true, false},
		{"Everyone", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		if got := looksLikeName(tc.in, tc.lower); got != tc.want {
			t.Errorf("looksLikeName(%q, %v) = %v, want %v", tc.in, tc.lower, got, tc.want)
		}
	}
}
