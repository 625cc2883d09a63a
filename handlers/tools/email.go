package tools

import (
	"context"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/email"
	"github.com/sois-ai/chat-agent-gateway/projections/emails"
)

// EmailOut is a sent mail as the model reads it.
type EmailOut struct {
	ID        string   `json:"id"`
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	Status    string   `json:"status"`
	Transport string   `json:"transport,omitempty"`
	SentAt    string   `json:"sent_at,omitempty"`
}

func (c *Catalog) addEmailTools() {
	c.add("send_email", "Compose and send a plain-text email. Address it to email addresses, to contacts (by id: their email is used), "+
		"and/or to a team (by id: every member's email is used). Write the subject and the whole body yourself.",
		`{"type": "object", "properties": {
  "to":          {"type": "array", "items": {"type": "string"}, "description": "Email addresses"},
  "contact_ids": {"type": "array", "items": {"type": "string"}, "description": "Contacts to mail (find them with search_contacts)"},
  "team_id":     {"type": "string", "description": "A team whose members all receive the mail (find it with list_teams)"},
  "subject":     {"type": "string"},
  "body":        {"type": "string"}
}, "required": ["subject", "body"], "additionalProperties": false}`,
		c.sendEmail)
	c.add("list_sent_emails", "List emails the workspace's agent sent, newest first.",
		`{"type": "object", "properties": {
  "to":    {"type": "string", "description": "Text to find in a recipient's address"},
  "query": {"type": "string", "description": "Text to find in the subject or body"},
  "limit": {"type": "integer", "minimum": 1, "maximum": 100}
}, "additionalProperties": false}`,
		c.listSentEmails)
}

func (c *Catalog) sendEmail(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		To         []string `json:"to"`
		ContactIDs []string `json:"contact_ids"`
		TeamID     string   `json:"team_id"`
		Subject    string   `json:"subject"`
		Body       string   `json:"body"`
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	to := append([]string(nil), a.To...)
	var contactIDs []string
	for _, id := range a.ContactIDs {
		if !isUUID(id) {
			return nil, userErr("No contact has the id %q.", id)
		}
		ct, err := c.deps.Commands.GetContact(ctx, id, call.WorkspaceID, call.Sandbox)
		if err != nil {
			return nil, err
		}
		if ct.Fields.Email == "" {
			return nil, userErr("Contact %s (%s) has no email address.", ct.Fields.Name, ct.ID)
		}
		to = append(to, ct.Fields.Email)
		contactIDs = append(contactIDs, ct.ID)
	}
	if a.TeamID != "" {
		t, err := c.team(ctx, call.WorkspaceID, a.TeamID)
		if err != nil {
			return nil, err
		}
		byID, _, err := c.members(ctx, call.WorkspaceID)
		if err != nil {
			return nil, err
		}
		for _, m := range c.teamOut(t, byID).Members {
			to = append(to, m.Email)
		}
		if len(t.MemberIDs) == 0 {
			return nil, userErr("Team %s has no members to mail.", t.Name)
		}
	}
	m, err := c.deps.Commands.SendEmail(ctx, email.Queued{EmailID: call.EffectID(), WorkspaceID: call.WorkspaceID,
		To: to, Subject: a.Subject, Body: a.Body, ContactIDs: contactIDs, TeamID: a.TeamID}, cause(call))
	if err != nil {
		if commands.IsSendFailed(err) {
			return nil, userErr("%s", err.Error())
		}
		if err == email.ErrNoRecipients {
			return nil, userErr("The email has no recipient: give addresses, contacts with an email, or a team.")
		}
		return nil, err
	}
	return map[string]any{"email": emailOut(m.EmailID, m.To, m.Subject, string(m.Status), m.Transport, "")}, nil
}

func emailOut(id string, to []string, subject, status, transport, sentAt string) EmailOut {
	return EmailOut{ID: id, To: to, Subject: subject, Status: status, Transport: transport, SentAt: sentAt}
}

func (c *Catalog) listSentEmails(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		To, Query string
		Limit     int
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	views, total, err := c.deps.Emails.List(ctx, call.WorkspaceID, emails.Filter{To: strings.TrimSpace(a.To), Query: a.Query, Limit: a.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]EmailOut, 0, len(views))
	for _, v := range views {
		sent := ""
		if v.SentAt != nil {
			sent = v.SentAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		out = append(out, emailOut(v.ID, v.To, v.Subject, v.Status, v.Transport, sent))
	}
	return map[string]any{"count": total, "emails": out}, nil
}
