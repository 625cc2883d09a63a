// Package emails is the read model of the mail the agent sent: one row per
// email of a workspace, with its delivery status, listable by recipient,
// contact or text without replaying streams.
package emails

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/domain/email"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "emails"

const streamPrefix = "email-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Workspace: func(v View) string { return v.WorkspaceID }, Clone: out,
	Sandbox: func(v View) bool { return v.Sandbox },
	Table:   "emails", Columns: columns, Scan: scanView, Save: projections.EachSave(upsert),
}

// View is one email as the tools read it.
type View struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspace_id"`
	From        string   `json:"from"`
	To          []string `json:"to"` // never nil
	Subject     string   `json:"subject"`
	Body        string   `json:"body"`
	ContactIDs  []string `json:"contact_ids"` // never nil
	TeamID      string   `json:"team_id"`
	// Status is "queued", "sent", "outbox" (recorded without an SMTP
	// server), "sandbox" (written under a test key: recorded, never sent)
	// or "failed".
	Status        string     `json:"status"`
	Transport     string     `json:"transport"`
	MessageID     string     `json:"message_id"`
	FailureReason string     `json:"failure_reason"` // set while Status is "failed"
	QueuedAt      time.Time  `json:"queued_at"`
	SentAt        *time.Time `json:"sent_at"`
	// Sandbox: written under a test key, seen only by test keys.
	Sandbox bool  `json:"sandbox,omitempty"`
	Version int64 `json:"version"`
}

// Filter narrows a listing. Every non-blank field must match (AND); the text
// fields are case-insensitive substrings taken literally (no wildcards),
// because the values come from a model's tool call and must not be able to
// widen the match.
type Filter struct {
	// To is part of any one recipient's address.
	To string `json:"to,omitempty"`
	// ContactID keeps the mails sent to this contact (exact id).
	ContactID string `json:"contact_id,omitempty"`
	// Query is part of the subject or the body.
	Query string `json:"query,omitempty"`
	// Limit is settled by projections.Limit.
	Limit int `json:"limit,omitempty"`
}

// normalized trims the terms and settles the limit.
func (f Filter) normalized() Filter {
	f.To, f.ContactID, f.Query = strings.TrimSpace(f.To), strings.TrimSpace(f.ContactID), strings.TrimSpace(f.Query)
	f.Limit = projections.Limit(f.Limit)
	return f
}

// matches is the memory twin of the Postgres conditions.
func (f Filter) matches(v View) bool {
	return (f.To == "" || slices.ContainsFunc(v.To, func(a string) bool { return projections.ContainsFold(a, f.To) })) &&
		(f.ContactID == "" || slices.Contains(v.ContactIDs, f.ContactID)) &&
		(projections.ContainsFold(v.Subject, f.Query) || projections.ContainsFold(v.Body, f.Query))
}

// newer is List's order: newest first, and for mails queued at the same
// instant the greater id first.
func newer(a, b View) bool {
	if !a.QueuedAt.Equal(b.QueuedAt) {
		return a.QueuedAt.After(b.QueuedAt)
	}
	return a.ID > b.ID
}

// list copies a slice, never nil, so views never share (or lose) their lists.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// Fold applies one recorded email event to a view. It skips events the view
// already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
//
// The status follows the domain: EmailSent makes it "sent", or "outbox"
// when the transport is the outbox; EmailFailed makes it "failed" with the
// reason. A mail sent after a failed attempt drops the old reason.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	f, ok, err := projections.Next(v.Version, rec, email.Events, func(f es.Fact) bool { _, ok := f.(*email.Queued); return ok })
	if err != nil || !ok {
		return false, err
	}
	switch e := f.(type) {
	case *email.Queued:
		// The stream names the email: it is what later events and Get find
		// the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, From: e.From, To: list(e.To), Subject: e.Subject,
			Body: e.Body, ContactIDs: list(e.ContactIDs), TeamID: e.TeamID, Status: string(email.StatusQueued),
			QueuedAt: projections.Stamp(e.QueuedAt), Sandbox: e.Sandbox}
	case *email.Sent:
		at := projections.Stamp(e.SentAt)
		v.Status, v.Transport, v.MessageID, v.FailureReason, v.SentAt = string(email.StatusSent), e.Transport, e.MessageID, "", &at
		switch e.Transport {
		case email.TransportOutbox:
			v.Status = string(email.StatusOutbox)
		case email.TransportSandbox:
			v.Status = string(email.StatusSandbox)
		}
	case *email.Failed:
		v.Status, v.FailureReason = string(email.StatusFailed), e.Reason
	}
	v.Version = rec.StreamVersion
	return true, nil
}

// Store is the emails read model: a projection plus its queries. Every query
// is scoped to one workspace, so a tool can never see another tenant's mail.
type Store interface {
	projections.Scoped[View]
	// List returns the matching emails newest first (queued_at, then id,
	// both descending), at most f.Limit of them, and how many match in all
	// so the caller can tell the model the list is cut short.
	List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

func NewMemory() *Memory { return &Memory{rows.InMemory()} }

// out copies the lists of a stored view, so the caller cannot change the
// store through them.
func out(v View) View {
	v.To, v.ContactIDs = list(v.To), list(v.ContactIDs)
	return v
}

func (m *Memory) List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	sandbox := projections.Sandboxed(ctx)
	vs, total := m.Page(func(v View) bool { return v.WorkspaceID == workspaceID && v.Sandbox == sandbox && f.matches(v) }, newer, f.Limit)
	for i := range vs {
		vs[i] = out(vs[i])
	}
	return vs, total, nil
}

// Postgres keeps the read model in the emails table.
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

// upsert writes a folded email back.
func upsert(ctx context.Context, tx pgx.Tx, v View) error {
	_, err := tx.Exec(ctx, `
INSERT INTO emails (id, workspace_id, from_addr, to_addrs, subject, body, contact_ids, team_id, status, transport,
  message_id, failure_reason, queued_at, sent_at, version, sandbox)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, transport = EXCLUDED.transport,
  message_id = EXCLUDED.message_id, failure_reason = EXCLUDED.failure_reason, sent_at = EXCLUDED.sent_at,
  version = EXCLUDED.version`,
		v.ID, v.WorkspaceID, v.From, v.To, v.Subject, v.Body, v.ContactIDs, v.TeamID, v.Status, v.Transport,
		v.MessageID, v.FailureReason, v.QueuedAt, v.SentAt, v.Version, v.Sandbox)
	return err
}

const columns = `id, workspace_id, from_addr, to_addrs, subject, body, contact_ids, team_id, status, transport,
  message_id, failure_reason, queued_at, sent_at, version, sandbox`

func scanView(row pgx.Row, extra ...any) (View, error) {
	var v View
	var sent *time.Time
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.From, &v.To, &v.Subject, &v.Body, &v.ContactIDs,
		&v.TeamID, &v.Status, &v.Transport, &v.MessageID, &v.FailureReason, &v.QueuedAt, &sent, &v.Version, &v.Sandbox}, extra...)...)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	v.QueuedAt = v.QueuedAt.UTC()
	if sent != nil {
		t := sent.UTC()
		v.SentAt = &t
	}
	v.To, v.ContactIDs = list(v.To), list(v.ContactIDs)
	return v, err
}

func (p *Postgres) List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	w := projections.InWorkspace(workspaceID).Like(f.Query, "subject", "body")
	if f.To != "" {
		w.Add(`EXISTS (SELECT 1 FROM unnest(to_addrs) AS a(addr) WHERE a.addr ILIKE %s ESCAPE '\')`, projections.Pattern(f.To))
	}
	if f.ContactID != "" {
		w.Add(`contact_ids @> %s::text[]`, []string{f.ContactID})
	}
	return p.Page(ctx, w, `queued_at DESC, id DESC`, f.Limit, "")
}
