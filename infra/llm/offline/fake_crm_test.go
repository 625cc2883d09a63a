package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// fakeCRM is an in-memory tool executor that follows the tool contract:
// a small contact and task table, JSON arguments in, JSON results out.
type fakeCRM struct {
	contacts  []fakeContact
	tasks     []fakeTask
	documents []fakeDocument
	teams     []fakeTeam
	members   []fakeMember
	depts     []string
	sent      []fakeEmail
	nextID    int
	// fail makes a tool answer {"error": message}.
	fail map[string]string
	// raw makes a tool answer this exact text instead of running.
	raw map[string]string
}

type fakeContact struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Company string `json:"company"`
	Title   string `json:"title"`
	Email   string `json:"email"`
	Phone   string `json:"phone"`
	City    string `json:"city"`
}

type fakeTask struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Status      string `json:"status"`
	DueDate     string `json:"due_date"`
}

type fakeDocument struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Folder string `json:"folder"`
	Body   string `json:"body,omitempty"`
}

type fakeMember struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
}

type fakeTeam struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	Department string       `json:"department,omitempty"`
	Members    []fakeMember `json:"members"`
}

type fakeEmail struct {
	ID         string   `json:"id"`
	To         []string `json:"to"`
	Subject    string   `json:"subject"`
	Body       string   `json:"-"`
	Status     string   `json:"status"`
	ContactIDs []string `json:"-"`
	TeamID     string   `json:"-"`
}

func (f *fakeCRM) addDocument(d fakeDocument) fakeDocument {
	d.ID = f.id("d")
	f.documents = append(f.documents, d)
	return d
}

func (f *fakeCRM) addTeam(t fakeTeam) fakeTeam {
	t.ID = f.id("tm")
	f.teams = append(f.teams, t)
	return t
}

func (f *fakeCRM) id(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s%d", prefix, f.nextID)
}

// addContact seeds the table directly.
func (f *fakeCRM) addContact(c fakeContact) fakeContact {
	c.ID = f.id("c")
	f.contacts = append(f.contacts, c)
	return c
}

func (f *fakeCRM) addTask(t fakeTask) fakeTask {
	t.ID = f.id("t")
	if t.Status == "" {
		t.Status = "open"
	}
	f.tasks = append(f.tasks, t)
	return t
}

func (f *fakeCRM) contactByName(name string) (fakeContact, bool) {
	for _, c := range f.contacts {
		if c.Name == name {
			return c, true
		}
	}
	return fakeContact{}, false
}

func contains(haystack, needle string) bool {
	return strings.Contains(strings.ToLower(haystack), strings.ToLower(needle))
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func errorResult(msg string) string { return toJSON(map[string]string{"error": msg}) }

// exec runs one tool call.
func (f *fakeCRM) exec(call agent.ToolCall) string {
	if msg, ok := f.fail[call.Name]; ok {
		return errorResult(msg)
	}
	if raw, ok := f.raw[call.Name]; ok {
		return raw
	}
	if call.Name == "send_email" {
		return f.sendEmail(call.Arguments)
	}
	var args map[string]string
	if err := json.Unmarshal(call.Arguments, &args); err != nil {
		var loose map[string]any
		if json.Unmarshal(call.Arguments, &loose) != nil {
			return errorResult("arguments are not a JSON object: " + err.Error())
		}
		args = map[string]string{}
		for k, v := range loose {
			args[k] = fmt.Sprint(v)
		}
	}
	switch call.Name {
	case "search_documents":
		var found []map[string]string
		for _, d := range f.documents {
			all := true
			for _, w := range strings.Fields(args["query"]) {
				all = all && contains(d.Title+" "+d.Body, w)
			}
			if all {
				found = append(found, map[string]string{"id": d.ID, "title": d.Title, "folder": d.Folder, "snippet": firstN(d.Body, 60)})
			}
		}
		return toJSON(map[string]any{"count": len(found), "documents": orEmpty(found)})
	case "read_document":
		for _, d := range f.documents {
			if d.ID == args["id"] {
				return toJSON(map[string]any{"document": d})
			}
		}
		return errorResult("No document has id " + args["id"] + ".")
	case "move_document":
		for i := range f.documents {
			if f.documents[i].ID == args["id"] {
				f.documents[i].Folder = args["folder"]
				d := f.documents[i]
				d.Body = ""
				return toJSON(map[string]any{"document": d})
			}
		}
		return errorResult("No document has id " + args["id"] + ".")
	case "list_documents":
		var found []fakeDocument
		for _, d := range f.documents {
			if args["folder"] == "" || strings.EqualFold(d.Folder, args["folder"]) || strings.HasPrefix(strings.ToLower(d.Folder), strings.ToLower(args["folder"])+"/") {
				d.Body = ""
				found = append(found, d)
			}
		}
		return toJSON(map[string]any{"count": len(found), "documents": orEmpty(found)})
	case "list_folders":
		counts := map[string]int{}
		var paths []string
		for _, d := range f.documents {
			if counts[d.Folder] == 0 {
				paths = append(paths, d.Folder)
			}
			counts[d.Folder]++
		}
		var out []map[string]any
		for _, p := range paths {
			out = append(out, map[string]any{"path": p, "documents": counts[p]})
		}
		return toJSON(map[string]any{"folders": orEmpty(out)})
	case "list_teams":
		var found []fakeTeam
		for _, t := range f.teams {
			if args["name"] == "" || contains(t.Name+" "+t.Department, args["name"]) {
				found = append(found, t)
			}
		}
		return toJSON(map[string]any{"count": len(found), "teams": orEmpty(found)})
	case "list_departments":
		var out []map[string]string
		for i, d := range f.depts {
			out = append(out, map[string]string{"id": fmt.Sprintf("dep%d", i+1), "name": d})
		}
		return toJSON(map[string]any{"count": len(out), "departments": orEmpty(out)})
	case "list_members":
		return toJSON(map[string]any{"count": len(f.members), "members": orEmpty(f.members)})
	case "assign_task", "set_task_due_date":
		for i := range f.tasks {
			if f.tasks[i].ID == args["id"] {
				if call.Name == "set_task_due_date" {
					f.tasks[i].DueDate = args["due_date"]
				}
				return toJSON(map[string]any{"task": f.tasks[i]})
			}
		}
		return errorResult("No task has id " + args["id"] + ".")
	case "search_contacts":
		var found []fakeContact
		for _, c := range f.contacts {
			if (args["name"] == "" || contains(c.Name, args["name"])) &&
				(args["company"] == "" || contains(c.Company, args["company"])) &&
				(args["city"] == "" || contains(c.City, args["city"])) &&
				(args["email"] == "" || contains(c.Email, args["email"])) &&
				(args["query"] == "" || contains(strings.Join([]string{c.Name, c.Company, c.City, c.Email, c.Title}, " "), args["query"])) {
				found = append(found, c)
			}
		}
		return toJSON(map[string]any{"count": len(found), "contacts": orEmpty(found)})
	case "get_contact":
		for _, c := range f.contacts {
			if c.ID == args["id"] {
				return toJSON(map[string]any{"contact": c})
			}
		}
		return errorResult("No contact has id " + args["id"] + ".")
	case "summarize_contact":
		for _, c := range f.contacts {
			if c.ID == args["id"] {
				var tasks []fakeTask
				for _, t := range f.tasks {
					if contains(t.Title+" "+t.Description, strings.Fields(c.Name)[0]) {
						tasks = append(tasks, t)
					}
				}
				return toJSON(map[string]any{"contact": c, "tasks": orEmpty(tasks), "documents": []any{}, "emails": []any{}})
			}
		}
		return errorResult("No contact has id " + args["id"] + ".")
	case "create_contact":
		if args["name"] == "" {
			return errorResult("A contact needs a name.")
		}
		for _, c := range f.contacts {
			// The tool's own rule: the same name and e-mail is the same person.
			sameEmail := args["email"] != "" && strings.EqualFold(c.Email, args["email"])
			sameCompany := args["email"] == "" && args["company"] != "" && strings.EqualFold(c.Company, args["company"])
			if strings.EqualFold(c.Name, args["name"]) && (sameEmail || sameCompany) {
				return toJSON(map[string]any{"contact": c, "existing": true})
			}
		}
		c := f.addContact(fakeContact{Name: args["name"], Company: args["company"], Title: args["title"],
			Email: args["email"], Phone: args["phone"], City: args["city"]})
		return toJSON(map[string]any{"contact": c})
	case "update_contact":
		for i := range f.contacts {
			c := &f.contacts[i]
			if c.ID != args["id"] {
				continue
			}
			for key, value := range args {
				switch key {
				case "name":
					c.Name = value
				case "company":
					c.Company = value
				case "title":
					c.Title = value
				case "email":
					c.Email = value
				case "phone":
					c.Phone = value
				case "city":
					c.City = value
				}
			}
			return toJSON(map[string]any{"contact": *c})
		}
		return errorResult("No contact has id " + args["id"] + ".")
	case "delete_contact":
		for i, c := range f.contacts {
			if c.ID == args["id"] {
				f.contacts = slices.Delete(f.contacts, i, i+1)
				return toJSON(map[string]any{"deleted": true, "contact": c})
			}
		}
		return errorResult("No contact has id " + args["id"] + ".")
	case "create_task":
		if args["title"] == "" {
			return errorResult("A task needs a title.")
		}
		t := f.addTask(fakeTask{Title: args["title"], Description: args["description"], DueDate: args["due_date"]})
		return toJSON(map[string]any{"task": t})
	case "list_tasks":
		status := args["status"]
		if status == "" {
			status = "open"
		}
		var found []fakeTask
		for _, t := range f.tasks {
			if (status == "all" || t.Status == status) &&
				(args["query"] == "" || contains(t.Title+" "+t.Description, args["query"])) {
				found = append(found, t)
			}
		}
		return toJSON(map[string]any{"count": len(found), "tasks": orEmpty(found)})
	case "complete_task":
		for i := range f.tasks {
			if f.tasks[i].ID == args["id"] {
				f.tasks[i].Status = "done"
				return toJSON(map[string]any{"task": f.tasks[i]})
			}
		}
		return errorResult("No task has id " + args["id"] + ".")
	}
	return errorResult("Unknown tool " + call.Name + ".")
}

func (f *fakeCRM) sendEmail(raw json.RawMessage) string {
	var a struct {
		To         []string `json:"to"`
		ContactIDs []string `json:"contact_ids"`
		TeamID     string   `json:"team_id"`
		Subject    string   `json:"subject"`
		Body       string   `json:"body"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return errorResult("send_email arguments: " + err.Error())
	}
	if a.Subject == "" || a.Body == "" {
		return errorResult("subject and body are required")
	}
	to := append([]string(nil), a.To...)
	for _, id := range a.ContactIDs {
		found := false
		for _, c := range f.contacts {
			if c.ID == id {
				if c.Email == "" {
					return errorResult("Contact " + c.Name + " has no email address.")
				}
				to, found = append(to, c.Email), true
			}
		}
		if !found {
			return errorResult("No contact has the id " + id + ".")
		}
	}
	if a.TeamID != "" {
		found := false
		for _, t := range f.teams {
			if t.ID == a.TeamID {
				for _, m := range t.Members {
					to = append(to, m.Email)
				}
				found = true
			}
		}
		if !found {
			return errorResult("No team has the id " + a.TeamID + ".")
		}
	}
	if len(to) == 0 {
		return errorResult("The email has no recipient.")
	}
	e := fakeEmail{ID: f.id("e"), To: to, Subject: a.Subject, Body: a.Body, Status: "sent", ContactIDs: a.ContactIDs, TeamID: a.TeamID}
	f.sent = append(f.sent, e)
	return toJSON(map[string]any{"email": e})
}

func firstN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func orEmpty[T any](items []T) []T {
	if items == nil {
		return []T{}
	}
	return items
}

// toolNames of the whole contract.
var allToolNames = []string{"search_contacts", "get_contact", "create_contact", "update_contact",
	"delete_contact", "create_task", "list_tasks", "complete_task"}

// catalogToolNames are every tool the gateway's catalog offers.
var catalogToolNames = append(slices.Clone(allToolNames), "summarize_contact", "assign_task", "set_task_due_date",
	"search_documents", "read_document", "move_document", "list_documents", "list_folders", "create_document",
	"send_email", "list_sent_emails", "list_teams", "get_team", "list_departments", "list_members")

func specs(names ...string) []agent.ToolSpec {
	var out []agent.ToolSpec
	for _, n := range names {
		out = append(out, agent.ToolSpec{
			Name:        n,
			Description: "The " + n + " tool of the CRM workspace.",
			Parameters:  json.RawMessage(`{"type":"object"}`),
		})
	}
	return out
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// conversation is the outcome of driving the model to a final reply.
type conversation struct {
	reply    string
	outcome  string
	calls    []agent.ToolCall
	messages []agent.Message
}

// callNames lists the tools called, in order.
func (c conversation) callNames() []string {
	var names []string
	for _, call := range c.calls {
		names = append(names, call.Name)
	}
	return names
}

// args decodes the arguments of the i-th call.
func (c conversation) args(t *testing.T, i int) map[string]string {
	t.Helper()
	if i >= len(c.calls) {
		t.Fatalf("wanted call %d, only %d calls: %v", i, len(c.calls), c.callNames())
	}
	var args map[string]string
	if err := json.Unmarshal(c.calls[i].Arguments, &args); err != nil {
		t.Fatalf("call %d arguments %s: %v", i, c.calls[i].Arguments, err)
	}
	return args
}

// converse runs the agent loop the gateway runs: ask the model, execute
// the tools it asks for, feed the results back, until it answers in text.
// It fails the test if the model calls a tool it was not offered, reports
// zero usage, or mislabels its finish reason.
func converse(t *testing.T, crm *fakeCRM, tools []string, message string) conversation {
	t.Helper()
	return converseAfter(t, crm, tools, nil, message)
}

// converseAfter is converse for a follow-up: the earlier turns come first,
// and only the calls of this turn are in the outcome.
func converseAfter(t *testing.T, crm *fakeCRM, tools []string, earlier []agent.Message, message string) conversation {
	t.Helper()
	return converseAt(t, crm, tools, time.Time{}, earlier, message)
}

// converseAt is converseAfter for a message that arrived at now.
func converseAt(t testing.TB, crm *fakeCRM, tools []string, now time.Time, earlier []agent.Message, message string) conversation {
	t.Helper()
	m := New()
	offered := specs(tools...)
	conv := conversation{messages: append(slices.Clone(earlier), agent.Message{Role: agent.RoleUser, Content: message})}
	for range 10 {
		resp, err := m.Complete(context.Background(), agent.Request{
			System: "You are the CRM agent.", Messages: conv.messages, Tools: offered, Now: now,
		})
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if resp.Model != "offline" {
			t.Errorf("Model = %q, want offline", resp.Model)
		}
		if resp.Usage.InputTokens <= 0 || resp.Usage.OutputTokens <= 0 {
			t.Errorf("usage must never be zero: %+v", resp.Usage)
		}
		if len(resp.ToolCalls) == 0 {
			if resp.FinishReason != "stop" {
				t.Errorf("FinishReason = %q for a text reply, want stop", resp.FinishReason)
			}
			if strings.TrimSpace(resp.Content) == "" {
				t.Fatalf("empty final reply")
			}
			conv.reply, conv.outcome = resp.Content, resp.Outcome
			return conv
		}
		if resp.FinishReason != "tool_calls" {
			t.Errorf("FinishReason = %q with tool calls, want tool_calls", resp.FinishReason)
		}
		conv.messages = append(conv.messages, agent.Message{Role: agent.RoleAssistant, Content: resp.Content, ToolCalls: resp.ToolCalls})
		for _, call := range resp.ToolCalls {
			if !slices.Contains(tools, call.Name) {
				t.Fatalf("model called %s, which is not among the offered tools %v", call.Name, tools)
			}
			if !strings.HasPrefix(call.ID, "call_") || len(call.ID) != len("call_")+24 {
				t.Errorf("call id %q is not call_ + 24 hex digits", call.ID)
			}
			conv.calls = append(conv.calls, call)
			conv.messages = append(conv.messages, agent.Message{
				Role: agent.RoleTool, ToolCallID: call.ID, Name: call.Name, Content: crm.exec(call),
			})
		}
	}
	t.Fatalf("no final reply after 10 model steps; calls: %v", conv.callNames())
	return conv
}
