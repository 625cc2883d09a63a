package offline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// The model satisfies the gateway's model port.
var _ interface {
	Complete(context.Context, agent.Request) (agent.Response, error)
} = New()

// seedPeople fills the table with John Smith (Acme Corp) and Ann Lee
// (Initech, London) through the model itself, as a caller would.
func seedPeople(t *testing.T, crm *fakeCRM) {
	t.Helper()
	converse(t, crm, allToolNames, "Create a contact for John Smith at Acme Corp, john@acme.com, +44 7700 900000")
	converse(t, crm, allToolNames, "Create a contact for Ann Lee at Initech in London, ann@initech.com")
	if len(crm.contacts) != 2 {
		t.Fatalf("seeding made %d contacts, want 2: %+v", len(crm.contacts), crm.contacts)
	}
}

func TestConversations(t *testing.T) {
	type check func(t *testing.T, crm *fakeCRM, conv conversation)
	tests := []struct {
		name    string
		setup   func(t *testing.T, crm *fakeCRM)
		tools   []string // nil means every tool
		message string
		// calls are the expected tool calls in order, with the arguments
		// each must carry exactly; nil skips the check, an empty list
		// demands that no tool was called.
		calls []wantCall
		// reply, when set, must equal the final reply; has and hasNot are
		// substrings it must and must not contain.
		reply  string
		has    []string
		hasNot []string
		check  check
	}{
		{
			name:    "create contact with company, email and phone",
			message: "Create a contact for John Smith at Acme Corp, john@acme.com, +44 7700 900000",
			calls: []wantCall{{"create_contact", map[string]string{
				"name": "John Smith", "company": "Acme Corp", "email": "john@acme.com", "phone": "+44 7700 900000"}}},
			reply: "Contact created: John Smith, Acme Corp, john@acme.com, +44 7700 900000 (id c1).",
		},
		{
			name:    "create contact with title of company",
			message: "Create a contact: Jane Doe, CEO of Acme Corp, jane@acme.com",
			calls: []wantCall{{"create_contact", map[string]string{
				"name": "Jane Doe", "title": "CEO", "company": "Acme Corp", "email": "jane@acme.com"}}},
			reply: "Contact created: Jane Doe, CEO at Acme Corp, jane@acme.com (id c1).",
		},
		{
			name:    "create contact with city",
			message: "Create a contact for Ann Lee at Initech in London, ann@initech.com",
			calls: []wantCall{{"create_contact", map[string]string{
				"name": "Ann Lee", "company": "Initech", "city": "London", "email": "ann@initech.com"}}},
			reply: "Contact created: Ann Lee, Initech, based in London, ann@initech.com (id c1).",
		},
		{
			name:    "create contact without a name asks for one",
			message: "Create a contact",
			calls:   []wantCall{},
			reply:   "To create a contact I need at least a name, for example \"Create a contact for John Smith at Acme Corp, john@acme.com\".",
		},
		{
			name:    "find contacts from a place names only the people there",
			setup:   seedPeople,
			message: "Find all contacts from London",
			calls:   []wantCall{{"search_contacts", map[string]string{"query": "London"}}},
			reply:   "I found 1 contact from London: Ann Lee (Initech, London, ann@initech.com).",
			hasNot:  []string{"John Smith"},
		},
		{
			name:    "find contacts in a city",
			setup:   seedPeople,
			message: "Find contacts in London",
			calls:   []wantCall{{"search_contacts", map[string]string{"city": "London"}}},
			reply:   "I found 1 contact based in London: Ann Lee (Initech, ann@initech.com).",
		},
		{
			name:    "who works at a company",
			setup:   seedPeople,
			message: "Who works at Acme Corp?",
			calls:   []wantCall{{"search_contacts", map[string]string{"company": "Acme Corp"}}},
			reply:   "I found 1 contact at Acme Corp: John Smith (Acme Corp, john@acme.com).",
		},
		{
			name:    "find by name",
			setup:   seedPeople,
			message: "Find John Smith",
			calls:   []wantCall{{"search_contacts", map[string]string{"name": "John Smith"}}},
			has:     []string{"I found 1 contact named John Smith: John Smith"},
		},
		{
			name:    "find with no result says so",
			setup:   seedPeople,
			message: "Show contacts based in Paris",
			calls:   []wantCall{{"search_contacts", map[string]string{"city": "Paris"}}},
			reply:   "I found no contacts based in Paris.",
		},
		{
			name: "find lists twenty and counts the rest",
			setup: func(t *testing.T, crm *fakeCRM) {
				for i := range 23 {
					crm.addContact(fakeContact{Name: fmt.Sprintf("Person %02d", i), City: "Leeds"})
				}
			},
			message: "Find contacts in Leeds",
			has:     []string{"I found 23 contacts based in Leeds: Person 00;", "Person 19; and 3 more."},
			hasNot:  []string{"Person 20"},
		},
		{
			name: "update picks the exact name among several matches and says why",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addContact(fakeContact{Name: "John Smithson", Company: "Globex"})
				crm.addContact(fakeContact{Name: "John Smith", Company: "Acme Corp"})
			},
			message: "Update John Smith's phone to +44 7700 900001",
			calls: []wantCall{
				{"search_contacts", map[string]string{"name": "John Smith"}},
				{"update_contact", map[string]string{"id": "c2", "phone": "+44 7700 900001"}},
			},
			reply: "Contact updated: John Smith's phone is now +44 7700 900001. " +
				"2 contacts matched 'John Smith'; I updated John Smith because the name matches exactly.",
			check: func(t *testing.T, crm *fakeCRM, _ conversation) {
				if c, _ := crm.contactByName("John Smith"); c.Phone != "+44 7700 900001" {
					t.Errorf("John Smith's phone = %q", c.Phone)
				}
				if c, _ := crm.contactByName("John Smithson"); c.Phone != "" {
					t.Errorf("John Smithson was changed too: %+v", c)
				}
			},
		},
		{
			name: "an update that could mean several contacts changes none and asks which",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addContact(fakeContact{Name: "John Smith", Company: "Acme Corp", Email: "john@acme.com"})
				crm.addContact(fakeContact{Name: "John Doe"})
			},
			message: "Change the email of John to js@acme.com",
			calls: []wantCall{
				{"search_contacts", map[string]string{"name": "John"}},
			},
			reply: "2 contacts match 'John', so I did not update any of them: John Smith (Acme Corp, john@acme.com) (id c1); " +
				"John Doe (id c2). Which one do you mean? Say so with its full name or id (in a follow-up, or in context.entity_id).",
		},
		{
			name:    "update of an unknown contact changes nothing",
			setup:   seedPeople,
			message: "Set Zoe Quinn's city to Paris",
			calls:   []wantCall{{"search_contacts", map[string]string{"name": "Zoe Quinn"}}},
			reply:   "No contact matches 'Zoe Quinn', so I did not update anything.",
		},
		{
			name:    "update of several fields",
			setup:   seedPeople,
			message: "Set Ann Lee's city to Paris and title to CTO",
			calls: []wantCall{
				{"search_contacts", map[string]string{"name": "Ann Lee"}},
				{"update_contact", map[string]string{"id": "c2", "city": "Paris", "title": "CTO"}},
			},
			reply: "Contact updated: Ann Lee's city is now Paris and title is now CTO.",
		},
		{
			name:    "delete a contact",
			setup:   seedPeople,
			message: "Delete the contact John Smith",
			calls: []wantCall{
				{"search_contacts", map[string]string{"name": "John Smith"}},
				{"delete_contact", map[string]string{"id": "c1"}},
			},
			reply: "Contact deleted: John Smith (Acme Corp).",
			check: func(t *testing.T, crm *fakeCRM, _ conversation) {
				if _, ok := crm.contactByName("John Smith"); ok {
					t.Errorf("John Smith is still in the table")
				}
				if _, ok := crm.contactByName("Ann Lee"); !ok {
					t.Errorf("Ann Lee was deleted too")
				}
			},
		},
		{
			name:    "delete of an unknown contact changes nothing",
			setup:   seedPeople,
			message: "Delete Zoe Quinn from contacts",
			calls:   []wantCall{{"search_contacts", map[string]string{"name": "Zoe Quinn"}}},
			reply:   "No contact matches 'Zoe Quinn', so I did not delete anything.",
		},
		{
			name:    "create a task",
			message: "Create a task: Research competitor pricing for Q1 2026",
			calls:   []wantCall{{"create_task", map[string]string{"title": "Research competitor pricing for Q1 2026"}}},
			reply:   "Task created: Research competitor pricing for Q1 2026 (id t1).",
		},
		{
			name:    "create a task with a due date",
			message: "Add a task to call Ann tomorrow, due 2026-12-01",
			calls:   []wantCall{{"create_task", map[string]string{"title": "Call Ann tomorrow", "due_date": "2026-12-01"}}},
			reply:   "Task created: Call Ann tomorrow, due 2026-12-01 (id t1).",
		},
		{
			name:    "create a task with an impossible date asks again",
			message: "Create a task: Renew licence due 2026-13-40",
			calls:   []wantCall{},
			reply:   "The due date 2026-13-40 is not a valid date; please give it as YYYY-MM-DD.",
		},
		{
			name: "list open tasks",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addTask(fakeTask{Title: "Research competitor pricing", DueDate: "2026-12-01"})
				crm.addTask(fakeTask{Title: "Call Ann"})
				crm.addTask(fakeTask{Title: "Old thing", Status: "done"})
			},
			message: "Show open tasks",
			calls:   []wantCall{{"list_tasks", map[string]string{"status": "open"}}},
			reply:   "You have 2 open tasks: Research competitor pricing (open, due 2026-12-01); Call Ann (open).",
		},
		{
			name: "list done tasks",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addTask(fakeTask{Title: "Call Ann"})
				crm.addTask(fakeTask{Title: "Old thing", Status: "done"})
			},
			message: "What tasks are done?",
			calls:   []wantCall{{"list_tasks", map[string]string{"status": "done"}}},
			reply:   "You have 1 completed task: Old thing (done).",
		},
		{
			name: "list all tasks",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addTask(fakeTask{Title: "Call Ann"})
				crm.addTask(fakeTask{Title: "Old thing", Status: "done"})
			},
			message: "List my tasks",
			calls:   []wantCall{{"list_tasks", map[string]string{"status": "all"}}},
			reply:   "You have 2 tasks: Call Ann (open); Old thing (done).",
		},
		{
			name: "complete a task by its title",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addTask(fakeTask{Title: "Call Ann"})
				crm.addTask(fakeTask{Title: "Research competitor pricing for Q1 2026"})
			},
			message: "Mark the task Research competitor pricing as done",
			calls: []wantCall{
				{"list_tasks", map[string]string{"query": "Research competitor pricing", "status": "open"}},
				{"complete_task", map[string]string{"id": "t2"}},
			},
			reply: "Task completed: Research competitor pricing for Q1 2026.",
			check: func(t *testing.T, crm *fakeCRM, _ conversation) {
				if crm.tasks[1].Status != "done" || crm.tasks[0].Status != "open" {
					t.Errorf("tasks after completion: %+v", crm.tasks)
				}
			},
		},
		{
			name: "complete prefers the exact title",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addTask(fakeTask{Title: "Call Ann about pricing"})
				crm.addTask(fakeTask{Title: "Call Ann"})
			},
			message: "Complete task Call Ann",
			calls: []wantCall{
				{"list_tasks", map[string]string{"query": "Call Ann", "status": "open"}},
				{"complete_task", map[string]string{"id": "t2"}},
			},
			reply: "Task completed: Call Ann. 2 open tasks matched 'Call Ann'; I completed 'Call Ann' because its title matches exactly.",
		},
		{
			name:    "complete an unknown task changes nothing",
			message: "Complete task Nothing like this",
			calls:   []wantCall{{"list_tasks", map[string]string{"query": "Nothing like this", "status": "open"}}, {"list_tasks", map[string]string{"status": "open"}}},
			reply:   "No open task matches 'Nothing like this', so I did not complete anything.",
		},
		{
			name: "summary of the contact in context",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.addContact(fakeContact{Name: "Other Person"})
				crm.addContact(fakeContact{Name: "Jane Doe", Title: "CEO", Company: "Acme Corp",
					Email: "jane@acme.com", Phone: "+44 20 7946 0000", City: "London"})
			},
			message: "Give me a full summary of this contact\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c2\",\"action\":\"view\"}",
			calls:   []wantCall{{"get_contact", map[string]string{"id": "c2"}}},
			reply: "Summary of Jane Doe: CEO at Acme Corp, based in London. Email: jane@acme.com. " +
				"Phone: +44 20 7946 0000. Contact id: c2.",
		},
		{
			name:    "summary says which fields are missing",
			setup:   seedPeople,
			message: "Tell me about Ann Lee",
			calls: []wantCall{
				{"search_contacts", map[string]string{"name": "Ann Lee"}},
				{"get_contact", map[string]string{"id": "c2"}},
			},
			reply: "Summary of Ann Lee: Initech, based in London. Email: ann@initech.com. Contact id: c2. No title or phone on record.",
		},
		{
			name:    "summary of this contact without context asks which",
			message: "Give me a full summary of this contact",
			calls:   []wantCall{},
			reply:   "Which contact should I summarise? No contact is selected, so please give the contact's name.",
		},
		{
			name:    "unknown request gets the honest constant",
			setup:   seedPeople,
			message: "Book a meeting room for Tuesday",
			calls:   []wantCall{},
			reply:   UnsupportedReply,
		},
		{
			name:    "a report is not a contact",
			setup:   seedPeople,
			message: "Find the Q1 report for Acme Corp",
			calls:   []wantCall{},
			reply:   missingToolReply("search_documents"), // the contact tools only
		},
		{
			name: "a tool error is reported honestly",
			setup: func(t *testing.T, crm *fakeCRM) {
				crm.fail = map[string]string{"create_contact": "The workspace is read-only"}
			},
			message: "Create a contact for John Smith at Acme Corp",
			calls:   []wantCall{{"create_contact", map[string]string{"name": "John Smith", "company": "Acme Corp"}}},
			reply:   "I couldn't create the contact: the create_contact tool reported an error: The workspace is read-only.",
			hasNot:  []string{"Contact created"},
		},
		{
			name: "an error in the middle of a flow stops it",
			setup: func(t *testing.T, crm *fakeCRM) {
				seedPeople(t, crm)
				crm.fail = map[string]string{"update_contact": "Phone numbers must be unique."}
			},
			message: "Update John Smith's phone to +44 7700 900001",
			calls: []wantCall{
				{"search_contacts", map[string]string{"name": "John Smith"}},
				{"update_contact", map[string]string{"id": "c1", "phone": "+44 7700 900001"}},
			},
			reply: "I couldn't update the contact: the update_contact tool reported an error: Phone numbers must be unique.",
		},
		{
			name:    "a missing tool is never called and the reply says so",
			setup:   seedPeople,
			tools:   without(allToolNames, "delete_contact"),
			message: "Delete the contact John Smith",
			calls:   []wantCall{{"search_contacts", map[string]string{"name": "John Smith"}}},
			reply:   "I can't delete the contact because the delete_contact tool is not available to me here, so I did nothing.",
			check: func(t *testing.T, crm *fakeCRM, _ conversation) {
				if _, ok := crm.contactByName("John Smith"); !ok {
					t.Errorf("John Smith was deleted without the tool")
				}
			},
		},
		{
			name:    "no tools at all",
			tools:   []string{},
			message: "List my tasks",
			calls:   []wantCall{},
			reply:   "I can't list your tasks because the list_tasks tool is not available to me here, so I did nothing.",
		},
		{
			name:    "an unreadable result is not taken for success",
			setup:   func(t *testing.T, crm *fakeCRM) { crm.raw = map[string]string{"create_task": "<html>502</html>"} },
			message: "Create a task: Call Ann",
			calls:   []wantCall{{"create_task", map[string]string{"title": "Call Ann"}}},
			reply:   "I tried to create the task, but the create_task tool returned a result I could not read, so I can't tell you the outcome.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crm := &fakeCRM{}
			if tc.setup != nil {
				tc.setup(t, crm)
			}
			tools := tc.tools
			if tools == nil {
				tools = allToolNames
			}
			conv := converse(t, crm, tools, tc.message)
			if tc.calls != nil && len(conv.calls) != len(tc.calls) {
				t.Fatalf("calls = %v, want %d calls %v (reply %q)", conv.callNames(), len(tc.calls), tc.calls, conv.reply)
			}
			for i, want := range tc.calls {
				if conv.calls[i].Name != want.name {
					t.Errorf("call %d = %s, want %s", i, conv.calls[i].Name, want.name)
				}
				if got := conv.args(t, i); !maps.Equal(got, want.args) {
					t.Errorf("call %d %s args = %v, want %v", i, want.name, got, want.args)
				}
			}
			if tc.reply != "" && conv.reply != tc.reply {
				t.Errorf("reply =\n  %q\nwant\n  %q", conv.reply, tc.reply)
			}
			for _, s := range tc.has {
				if !strings.Contains(conv.reply, s) {
					t.Errorf("reply %q does not contain %q", conv.reply, s)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(conv.reply, s) {
					t.Errorf("reply %q contains %q", conv.reply, s)
				}
			}
			if tc.check != nil {
				tc.check(t, crm, conv)
			}
		})
	}
}

type wantCall struct {
	name string
	args map[string]string
}

// TestCreateThenFindThenDelete runs one workspace through several requests,
// each a separate run, the way a caller would use the gateway.
func TestCreateThenFindThenDelete(t *testing.T) {
	crm := &fakeCRM{}
	seedPeople(t, crm)
	converse(t, crm, allToolNames, "Create a contact: Bob Roe, CTO at Globex, based in London")

	found := converse(t, crm, allToolNames, "Find all contacts from London")
	want := "I found 2 contacts from London: Ann Lee (Initech, London, ann@initech.com); Bob Roe (CTO at Globex, London)."
	if found.reply != want {
		t.Errorf("find reply = %q, want %q", found.reply, want)
	}

	deleted := converse(t, crm, allToolNames, "Remove contact Ann Lee")
	if deleted.reply != "Contact deleted: Ann Lee (Initech)." {
		t.Errorf("delete reply = %q", deleted.reply)
	}
	after := converse(t, crm, allToolNames, "Find contacts in London")
	if !strings.Contains(after.reply, "Bob Roe") || strings.Contains(after.reply, "Ann Lee") {
		t.Errorf("after delete, find reply = %q", after.reply)
	}

	task := converse(t, crm, allToolNames, "Create a task: Research competitor pricing for Q1 2026")
	if !strings.HasPrefix(task.reply, "Task created: Research competitor pricing for Q1 2026 (id t") {
		t.Errorf("task reply = %q", task.reply)
	}
	done := converse(t, crm, allToolNames, "Mark the task Research competitor pricing as done")
	if done.reply != "Task completed: Research competitor pricing for Q1 2026." {
		t.Errorf("complete reply = %q", done.reply)
	}
	open := converse(t, crm, allToolNames, "Show open tasks")
	if open.reply != "You have no open tasks." {
		t.Errorf("open tasks after completion = %q", open.reply)
	}
}

func TestCallIDsAreDeterministic(t *testing.T) {
	req := agent.Request{
		Messages: []agent.Message{{Role: agent.RoleUser, Content: "Find contacts in London"}},
		Tools:    specs(allToolNames...),
	}
	m := New()
	first, err := m.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := New().Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.ToolCalls) != 1 || len(second.ToolCalls) != 1 {
		t.Fatalf("want one call each, got %v and %v", first.ToolCalls, second.ToolCalls)
	}
	if first.ToolCalls[0].ID != second.ToolCalls[0].ID {
		t.Errorf("same transcript, different ids: %s vs %s", first.ToolCalls[0].ID, second.ToolCalls[0].ID)
	}
	if want := callID(transcriptSeed(req.Messages), "search_contacts", 0); first.ToolCalls[0].ID != want {
		t.Errorf("id = %s, want %s", first.ToolCalls[0].ID, want)
	}

	other := req
	other.Messages = []agent.Message{{Role: agent.RoleUser, Content: "Find contacts in Paris"}}
	third, err := m.Complete(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if third.ToolCalls[0].ID == first.ToolCalls[0].ID {
		t.Errorf("different transcripts share the id %s", first.ToolCalls[0].ID)
	}
	seed := transcriptSeed(req.Messages)
	if callID(seed, "a", 0) == callID(seed, "a", 1) || callID(seed, "a", 0) == callID(seed, "b", 0) {
		t.Errorf("ids must depend on tool name and index")
	}
}

// TestNeverCallsAToolThatIsNotOffered drives every supported phrasing with
// each tool removed in turn; converse fails on any call to a missing tool.
func TestNeverCallsAToolThatIsNotOffered(t *testing.T) {
	messages := []string{
		"Create a contact for John Smith at Acme Corp, john@acme.com",
		"Find all contacts from London",
		"Update John Smith's phone to +44 7700 900001",
		"Delete the contact John Smith",
		"Create a task: Research competitor pricing",
		"List my tasks",
		"Mark the task Call Ann as done",
		"Tell me about John Smith",
		"Give me a full summary of this contact\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c1\"}",
	}
	for _, missing := range allToolNames {
		for _, msg := range messages {
			t.Run(missing+"/"+msg, func(t *testing.T) {
				crm := &fakeCRM{}
				crm.addContact(fakeContact{Name: "John Smith", Company: "Acme Corp"})
				crm.addTask(fakeTask{Title: "Call Ann"})
				conv := converse(t, crm, without(allToolNames, missing), msg)
				if slices.Contains(conv.callNames(), missing) {
					t.Fatalf("called %s", missing)
				}
			})
		}
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New().Complete(ctx, agent.Request{
		Messages: []agent.Message{{Role: agent.RoleUser, Content: "List my tasks"}},
		Tools:    specs(allToolNames...),
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestOddTranscripts feeds transcripts no well-behaved loop produces; each
// must get an honest text reply, never a panic or a guessed success.
func TestOddTranscripts(t *testing.T) {
	call := agent.ToolCall{ID: "call_x", Name: "create_contact", Arguments: []byte(`{"name":"John Smith"}`)}
	user := agent.Message{Role: agent.RoleUser, Content: "Create a contact for John Smith"}
	asked := agent.Message{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{call}}
	tests := []struct {
		name     string
		messages []agent.Message
		want     string
	}{
		{"empty transcript", nil, noRequestReply},
		{"only a system-like assistant message", []agent.Message{{Role: agent.RoleAssistant, Content: "hi"}}, noRequestReply},
		{"call without a result", []agent.Message{user, asked}, missingResultReply("create_contact")},
		{"result that is not JSON", []agent.Message{user, asked,
			{Role: agent.RoleTool, ToolCallID: "call_x", Name: "create_contact", Content: "ok"}}, unreadableReply("create_contact")},
		{"result with an unexpected shape", []agent.Message{user, asked,
			{Role: agent.RoleTool, ToolCallID: "call_x", Name: "create_contact", Content: `{"contact": 7}`}}, unreadableReply("create_contact")},
		{"error object", []agent.Message{user, asked,
			{Role: agent.RoleTool, ToolCallID: "call_x", Name: "create_contact", Content: `{"error": {"message": "Quota exceeded"}}`}},
			"I couldn't create the contact: the create_contact tool reported an error: Quota exceeded."},
		{"result matched by tool name when the id is missing", []agent.Message{user, asked,
			{Role: agent.RoleTool, Name: "create_contact", Content: `{"contact": {"id": 42, "name": "John Smith"}}`}},
			"Contact created: John Smith (id 42)."},
		{"search result without contacts", []agent.Message{
			{Role: agent.RoleUser, Content: "Delete the contact John Smith"},
			{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "s", Name: "search_contacts", Arguments: []byte(`{"name":"John Smith"}`)}}},
			{Role: agent.RoleTool, ToolCallID: "s", Content: `{"contacts": "none"}`}}, unreadableReply("search_contacts")},
		{"search match without an id", []agent.Message{
			{Role: agent.RoleUser, Content: "Delete the contact John Smith"},
			{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "s", Name: "search_contacts", Arguments: []byte(`{"name":"John Smith"}`)}}},
			{Role: agent.RoleTool, ToolCallID: "s", Content: `{"count": 1, "contacts": [{"name": "John Smith"}]}`}},
			"I found 'John Smith', but the result has no id, so I could not delete it."},
		{"a delete result without the contact names the search match", []agent.Message{
			{Role: agent.RoleUser, Content: "Delete the contact John Smith"},
			{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "s", Name: "search_contacts", Arguments: []byte(`{"name":"John Smith"}`)}}},
			{Role: agent.RoleTool, ToolCallID: "s", Content: `{"count": 1, "contacts": [{"id": "c1", "name": "John Smith"}]}`},
			{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "d", Name: "delete_contact", Arguments: []byte(`{"id":"c1"}`)}}},
			{Role: agent.RoleTool, ToolCallID: "d", Content: `{"deleted": true}`}},
			"Contact deleted: John Smith."},
		{"a delete the tool refused", []agent.Message{
			{Role: agent.RoleUser, Content: "Delete the contact John Smith"},
			{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "s", Name: "search_contacts", Arguments: []byte(`{"name":"John Smith"}`)}}},
			{Role: agent.RoleTool, ToolCallID: "s", Content: `{"count": 1, "contacts": [{"id": "c1", "name": "John Smith"}]}`},
			{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "d", Name: "delete_contact", Arguments: []byte(`{"id":"c1"}`)}}},
			{Role: agent.RoleTool, ToolCallID: "d", Content: `{"deleted": false, "contact": {"id": "c1", "name": "John Smith"}}`}},
			"The delete_contact tool reported that John Smith was not deleted."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := New().Complete(context.Background(), agent.Request{Messages: tc.messages, Tools: specs(allToolNames...)})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.ToolCalls) != 0 || resp.FinishReason != "stop" {
				t.Fatalf("want a final reply, got calls %v finish %q", resp.ToolCalls, resp.FinishReason)
			}
			if resp.Content != tc.want {
				t.Errorf("reply =\n  %q\nwant\n  %q", resp.Content, tc.want)
			}
		})
	}
}

func TestUsageEstimate(t *testing.T) {
	req := agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: strings.Repeat("x", 400)}}}
	resp, err := New().Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// 400 content characters + 4 for the role, and no tools.
	if resp.Usage.InputTokens != 101 {
		t.Errorf("input tokens = %d, want 101", resp.Usage.InputTokens)
	}
	if want := (len([]rune(resp.Content)) + 3) / 4; resp.Usage.OutputTokens != want {
		t.Errorf("output tokens = %d, want %d", resp.Usage.OutputTokens, want)
	}
	if tokens(0) != 1 || tokens(1) != 1 || tokens(4) != 1 || tokens(5) != 2 {
		t.Errorf("tokens() must be ceil(chars/4) and never zero")
	}
}

// FuzzComplete checks that no request text or tool result makes the model
// panic, error, or call a tool it was not offered.
func FuzzComplete(f *testing.F) {
	f.Add("Create a contact for John Smith at Acme Corp, john@acme.com, +44 7700 900000", `{"contact":{"id":"c1"}}`)
	f.Add("Update John Smith's phone to +44 7700 900001", `{"count":2,"contacts":[{"id":"c1","name":"John"},{}]}`)
	f.Add("Mark the task X as done", `{"count":1e99,"tasks":[null,{"id":1}]}`)
	f.Add("Give me a summary of this contact\nContext: {\"entity_type\":\"contact\",\"entity_id\":7}", `{"error":""}`)
	f.Add("Find contacts in", `[]`)
	f.Add("Delete", `null`)
	f.Fuzz(func(t *testing.T, message, result string) {
		tools := specs("search_contacts", "create_contact", "update_contact", "list_tasks", "complete_task")
		msgs := []agent.Message{{Role: agent.RoleUser, Content: message}}
		for range 4 {
			resp, err := New().Complete(context.Background(), agent.Request{Messages: msgs, Tools: tools})
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if len(resp.ToolCalls) == 0 {
				if resp.Content == "" {
					t.Fatalf("empty reply for %q", message)
				}
				return
			}
			msgs = append(msgs, agent.Message{Role: agent.RoleAssistant, ToolCalls: resp.ToolCalls})
			for _, c := range resp.ToolCalls {
				if !slices.ContainsFunc(tools, func(s agent.ToolSpec) bool { return s.Name == c.Name }) {
					t.Fatalf("called unoffered tool %s", c.Name)
				}
				msgs = append(msgs, agent.Message{Role: agent.RoleTool, ToolCallID: c.ID, Name: c.Name, Content: result})
			}
		}
	})
}

// TestLongRequestsStayFast guards against parsing that is quadratic in the
// request: each of these took minutes when courtesy words were stripped one
// pass per word.
func TestLongRequestsStayFast(t *testing.T) {
	for _, msg := range []string{
		strings.Repeat("please ", 10000) + "list my tasks",
		"Create a contact for " + strings.Repeat("John Smith at Acme, ", 3000),
		"Update John Smith: " + strings.Repeat("phone 1234567, ", 3000),
		"Find contacts " + strings.Repeat("in London at Acme ", 3000),
		"List my tasks" + strings.Repeat(" thanks", 10000),
	} {
		start := time.Now()
		resp, err := New().Complete(context.Background(), agent.Request{
			Messages: []agent.Message{{Role: agent.RoleUser, Content: msg}},
			Tools:    specs(allToolNames...),
		})
		if err != nil {
			t.Fatal(err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("%d-character request took %v", len(msg), elapsed)
		}
		if len(resp.ToolCalls) == 0 && resp.Content == "" {
			t.Errorf("no answer for a %d-character request", len(msg))
		}
	}
}
