package tools

import (
	"context"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/projections/contacts"
	"github.com/sois-ai/chat-agent-gateway/projections/emails"
	"github.com/sois-ai/chat-agent-gateway/projections/tasks"
)

// ContactOut is how a contact is shown to the model.
// Its fields are the domain's, under the same JSON names.
type ContactOut struct {
	ID string `json:"id"`
	contact.Fields
}

func contactFromDomain(c contact.Contact) ContactOut { return ContactOut{ID: c.ID, Fields: c.Fields} }

func contactFromView(v contacts.View) ContactOut {
	return ContactOut{ID: v.ID, Fields: contact.Fields{Name: v.Name, Company: v.Company, Title: v.Title, Email: v.Email,
		Phone: v.Phone, City: v.City, Notes: v.Notes}}
}

const contactFieldsSchema = `
  "name":    {"type": "string", "description": "Full name, e.g. \"John Smith\""},
  "company": {"type": "string", "description": "Company or organisation"},
  "title":   {"type": "string", "description": "Job title, e.g. \"CEO\""},
  "email":   {"type": "string", "description": "Email address"},
  "phone":   {"type": "string", "description": "Phone number as given, e.g. \"+44 7700 900000\""},
  "city":    {"type": "string", "description": "City the contact is based in"},
  "notes":   {"type": "string", "description": "Free-form notes"}`

func (c *Catalog) addContactTools() {
	c.add("search_contacts",
		"Search the workspace's contacts. Every given filter must match (case-insensitive, partial match). "+
			"Use `query` for free text matched against name, company, city, email, title and notes. "+
			"Always search before updating or deleting a contact, to find its id.",
		`{"type": "object", "properties": {
  "query":   {"type": "string", "description": "Free text matched against every field"},
  "name":    {"type": "string"}, "company": {"type": "string"}, "city": {"type": "string"}, "email": {"type": "string"},
  "limit":   {"type": "integer", "minimum": 1, "maximum": 100, "description": "At most this many contacts (default 20)"}
}, "additionalProperties": false}`,
		c.searchContacts)
	c.add("get_contact", "Get one contact by id, with every field.",
		`{"type": "object", "properties": {"id": {"type": "string", "description": "The contact's id"}}, "required": ["id"], "additionalProperties": false}`,
		c.getContact)
	c.add("create_contact", "Create a contact in the workspace. Only `name` is required; give every other fact the request mentions.",
		`{"type": "object", "properties": {`+contactFieldsSchema+`}, "required": ["name"], "additionalProperties": false}`,
		c.createContact)
	c.add("update_contact", "Change fields of an existing contact (find its id with search_contacts first). Only the given fields change.",
		`{"type": "object", "properties": {"id": {"type": "string", "description": "The contact's id"},`+contactFieldsSchema+`}, "required": ["id"], "additionalProperties": false}`,
		c.updateContact)
	c.add("summarize_contact", "Everything known about one contact: its fields, the tasks and documents that mention it, and the emails sent to it. "+
		"Use it for \"give me a summary of this contact\" (the contact's id may be in the request's context as entity_id).",
		`{"type": "object", "properties": {"id": {"type": "string", "description": "The contact's id"}}, "required": ["id"], "additionalProperties": false}`,
		c.summarizeContact)
	c.add("delete_contact", "Delete a contact (find its id with search_contacts first).",
		`{"type": "object", "properties": {"id": {"type": "string", "description": "The contact's id"}}, "required": ["id"], "additionalProperties": false}`,
		c.deleteContact)
}

func (c *Catalog) searchContacts(ctx context.Context, call commands.ToolCall) (any, error) {
	var f contacts.Filter
	if err := decode(call, &f); err != nil {
		return nil, err
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	views, total, err := c.deps.Contacts.Search(ctx, call.WorkspaceID, f)
	if err != nil {
		return nil, err
	}
	out := make([]ContactOut, 0, len(views))
	for _, v := range views {
		out = append(out, contactFromView(v))
	}
	return map[string]any{"count": total, "contacts": out}, nil
}

type idArgs struct {
	ID string `json:"id"`
}

// idArg reads the arguments of a tool that takes one id, of a what: an id
// that cannot be one is the model's mistake, told back to it.
func idArg(call commands.ToolCall, what string) (idArgs, error) {
	var a idArgs
	if err := decode(call, &a); err != nil {
		return a, err
	}
	if !isUUID(a.ID) {
		return a, userErr("No %s has the id %q.", what, a.ID)
	}
	return a, nil
}

// contactArg reads the contact a one-id tool names, from its facts.
func (c *Catalog) contactArg(ctx context.Context, call commands.ToolCall) (contact.Contact, error) {
	a, err := idArg(call, "contact")
	if err != nil {
		return contact.Contact{}, err
	}
	return c.deps.Commands.GetContact(ctx, a.ID, call.WorkspaceID, call.Sandbox)
}

func (c *Catalog) getContact(ctx context.Context, call commands.ToolCall) (any, error) {
	ct, err := c.contactArg(ctx, call)
	if err != nil {
		return nil, err
	}
	return map[string]any{"contact": contactFromDomain(ct)}, nil
}

func (c *Catalog) createContact(ctx context.Context, call commands.ToolCall) (any, error) {
	var f contact.Fields
	if err := decode(call, &f); err != nil {
		return nil, err
	}
	if same, found, err := c.sameContact(ctx, call, f); err != nil || found {
		// The same person sent twice is one contact: the caller gets the
		// one there is, and is told so.
		return map[string]any{"contact": same, "existing": true,
			"note": "A contact with this name and " + sameBy(f) + " already exists, so no second one was created. Create it again with other details if a second one is really meant."}, err
	}
	ct, err := c.deps.Commands.CreateContact(ctx, call.EffectID(), call.WorkspaceID, f, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"contact": contactFromDomain(ct)}, nil
}

// sameContact finds a contact a new one would repeat: the same name and
// the same e-mail, or, with no e-mail given, the same name and company.
// The contact this very call created (a retried call) is not a repeat.
func (c *Catalog) sameContact(ctx context.Context, call commands.ToolCall, f contact.Fields) (ContactOut, bool, error) {
	name := strings.TrimSpace(f.Name)
	if name == "" || (f.Email == "" && f.Company == "") {
		return ContactOut{}, false, nil
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return ContactOut{}, false, err
	}
	views, _, err := c.deps.Contacts.Search(ctx, call.WorkspaceID, contacts.Filter{Name: name, Email: f.Email, Limit: 20})
	if err != nil {
		return ContactOut{}, false, err
	}
	for _, v := range views {
		if v.ID == call.EffectID() || !strings.EqualFold(strings.TrimSpace(v.Name), name) {
			continue
		}
		if f.Email != "" && strings.EqualFold(v.Email, f.Email) ||
			f.Email == "" && strings.EqualFold(strings.TrimSpace(v.Company), strings.TrimSpace(f.Company)) {
			return contactFromView(v), true, nil
		}
	}
	return ContactOut{}, false, nil
}

func sameBy(f contact.Fields) string {
	if f.Email != "" {
		return "e-mail"
	}
	return "company"
}

func (c *Catalog) updateContact(ctx context.Context, call commands.ToolCall) (any, error) {
	var raw map[string]any
	if err := decode(call, &raw); err != nil {
		return nil, err
	}
	id, _ := raw["id"].(string)
	if !isUUID(id) {
		return nil, userErr("No contact has the id %q.", id)
	}
	patch := map[string]string{}
	for k, v := range raw {
		if k == "id" {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, userErr("Field %s must be a string.", k)
		}
		patch[k] = s
	}
	if len(patch) == 0 {
		return nil, userErr("Give at least one field to change besides id.")
	}
	ct, err := c.deps.Commands.UpdateContact(ctx, id, call.WorkspaceID, patch, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"contact": contactFromDomain(ct)}, nil
}

func (c *Catalog) deleteContact(ctx context.Context, call commands.ToolCall) (any, error) {
	a, err := idArg(call, "contact")
	if err != nil {
		return nil, err
	}
	ct, err := c.deps.Commands.DeleteContact(ctx, a.ID, call.WorkspaceID, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"deleted": true, "contact": contactFromDomain(ct)}, nil
}

func isUUID(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

func (c *Catalog) summarizeContact(ctx context.Context, call commands.ToolCall) (any, error) {
	ct, err := c.contactArg(ctx, call)
	if err != nil {
		return nil, err
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	name := ct.Fields.Name
	taskViews, _, err := c.deps.Tasks.List(ctx, call.WorkspaceID, tasks.Filter{Query: name, Limit: 20})
	if err != nil {
		return nil, err
	}
	ts := make([]TaskOut, 0, len(taskViews))
	for _, v := range taskViews {
		ts = append(ts, TaskOut{ID: v.ID, Title: v.Title, Description: v.Description, Status: v.Status, DueDate: v.DueDate, AssigneeID: v.AssigneeID})
	}
	hits, _, err := c.deps.Documents.Search(ctx, call.WorkspaceID, name, 10)
	if err != nil {
		return nil, err
	}
	docs := make([]DocumentOut, 0, len(hits))
	for _, h := range hits {
		docs = append(docs, DocumentOut{ID: h.ID, Title: h.Title, Folder: h.Folder})
	}
	var mails []EmailOut
	seen := map[string]bool{}
	for _, f := range []emails.Filter{{ContactID: ct.ID, Limit: 20}, {To: ct.Fields.Email, Limit: 20}} {
		if f.To == "" && f.ContactID == "" {
			continue
		}
		views, _, err := c.deps.Emails.List(ctx, call.WorkspaceID, f)
		if err != nil {
			return nil, err
		}
		for _, v := range views {
			if !seen[v.ID] {
				seen[v.ID] = true
				mails = append(mails, emailOut(v.ID, v.To, v.Subject, v.Status, v.Transport, ""))
			}
		}
	}
	if mails == nil {
		mails = []EmailOut{}
	}
	return map[string]any{"contact": contactFromDomain(ct), "tasks": ts, "documents": docs, "emails": mails}, nil
}
