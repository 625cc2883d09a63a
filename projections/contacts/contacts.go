// Package contacts is the read model the agent's tools search: one row per
// contact of a workspace, with the fields flattened so they can be matched
// without replaying streams.
package contacts

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "contacts"

const streamPrefix = "contact-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Workspace: func(v View) string { return v.WorkspaceID },
	Live:      func(v View) bool { return !v.Deleted }, LiveSQL: `NOT deleted`,
	Sandbox: func(v View) bool { return v.Sandbox },
	Table:   "contacts", Columns: columns, Scan: scanView, Save: upsertMany,
}

// View is one contact as the tools read it. Deleted contacts keep their row
// (and version) so that a replayed event is still recognised as already
// applied; queries hide them.
type View struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	Company     string    `json:"company"`
	Title       string    `json:"title"`
	Email       string    `json:"email"`
	Phone       string    `json:"phone"`
	City        string    `json:"city"`
	Notes       string    `json:"notes"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Deleted     bool      `json:"deleted"`
	// Sandbox: made under a test key, seen only by test keys.
	Sandbox bool  `json:"sandbox,omitempty"`
	Version int64 `json:"version"`
}

// Filter narrows a search. Every non-blank field must match (AND); each is a
// case-insensitive substring, taken literally (no wildcards), because the
// values come from a model's tool call and must not be able to widen the
// match.
type Filter struct {
	// Query matches any of name, company, city, email, title or notes.
	Query   string `json:"query,omitempty"`
	Name    string `json:"name,omitempty"`
	Company string `json:"company,omitempty"`
	City    string `json:"city,omitempty"`
	Email   string `json:"email,omitempty"`
	// Limit is settled by projections.Limit.
	Limit int `json:"limit,omitempty"`
}

// normalized trims the terms, so a stray space from a tool call does not turn
// into a term that matches nothing, and settles the limit.
func (f Filter) normalized() Filter {
	f.Query, f.Name, f.Company = strings.TrimSpace(f.Query), strings.TrimSpace(f.Name), strings.TrimSpace(f.Company)
	f.City, f.Email = strings.TrimSpace(f.City), strings.TrimSpace(f.Email)
	f.Limit = projections.Limit(f.Limit)
	return f
}

// Fold applies one recorded contact event to a view. It skips events the
// view already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	f, ok, err := projections.Next(v.Version, rec, contact.Events, func(f es.Fact) bool { _, ok := f.(*contact.Created); return ok })
	if err != nil || !ok {
		return false, err
	}
	switch e := f.(type) {
	case *contact.Created:
		at := projections.Stamp(e.CreatedAt)
		// The stream names the contact: it is what later events and Get
		// find the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, CreatedAt: at, UpdatedAt: at,
			Sandbox: e.Sandbox}
		v.setFields(e.Fields)
	case *contact.Updated:
		v.setFields(e.Fields)
		v.UpdatedAt = projections.Stamp(e.UpdatedAt)
	case *contact.Deleted:
		v.Deleted = true
		v.UpdatedAt = projections.Stamp(e.DeletedAt)
	}
	v.Version = rec.StreamVersion
	return true, nil
}

func (v *View) setFields(f contact.Fields) {
	v.Name, v.Company, v.Title, v.Email = f.Name, f.Company, f.Title, f.Email
	v.Phone, v.City, v.Notes = f.Phone, f.City, f.Notes
}

// Store is the contacts read model: a projection plus its queries. Every
// query is scoped to one workspace, so a tool can never see another tenant's
// contacts, and deleted contacts are invisible.
type Store interface {
	projections.Scoped[View]
	// Search returns the matching contacts ordered by name then id (byte
	// order, so both stores agree), at most f.Limit of them, and how many
	// match in all so the caller can tell the model the list is cut short.
	Search(ctx context.Context, workspaceID string, f Filter) ([]View, int, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{rows.InMemory()} }

func (m *Memory) Search(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	sandbox := projections.Sandboxed(ctx)
	out, total := m.Page(func(v View) bool {
		return !v.Deleted && v.WorkspaceID == workspaceID && v.Sandbox == sandbox && f.matches(v)
	},
		func(a, b View) bool { return a.Name < b.Name || a.Name == b.Name && a.ID < b.ID }, f.Limit)
	return out, total, nil
}

func (f Filter) matches(v View) bool {
	return projections.ContainsFold(v.Name, f.Name) && projections.ContainsFold(v.Company, f.Company) && projections.ContainsFold(v.City, f.City) &&
		projections.ContainsFold(v.Email, f.Email) &&
		(f.Query == "" || projections.ContainsFold(v.Name, f.Query) || projections.ContainsFold(v.Company, f.Query) || projections.ContainsFold(v.City, f.Query) ||
			projections.ContainsFold(v.Email, f.Query) || projections.ContainsFold(v.Title, f.Query) || projections.ContainsFold(v.Notes, f.Query))
}

// Postgres keeps the read model in the contacts table.
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

// upsertMany writes a batch's folded contacts back in one statement.
func upsertMany(ctx context.Context, tx pgx.Tx, vs []View) error {
	n := len(vs)
	cols := make([][]string, 9)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	deleted, sandbox := make([]bool, n), make([]bool, n)
	created, updated, versions := make([]time.Time, n), make([]time.Time, n), make([]int64, n)
	for i, v := range vs {
		for j, f := range []string{v.ID, v.WorkspaceID, v.Name, v.Company, v.Title, v.Email, v.Phone, v.City, v.Notes} {
			cols[j][i] = f
		}
		deleted[i], sandbox[i], created[i], updated[i], versions[i] = v.Deleted, v.Sandbox, v.CreatedAt, v.UpdatedAt, v.Version
	}
	_, err := tx.Exec(ctx, `
INSERT INTO contacts (id, workspace_id, name, company, title, email, phone, city, notes, deleted, created_at, updated_at, version, sandbox)
SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
  $9::text[], $10::boolean[], $11::timestamptz[], $12::timestamptz[], $13::bigint[], $14::boolean[])
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, company = EXCLUDED.company, title = EXCLUDED.title,
  email = EXCLUDED.email, phone = EXCLUDED.phone, city = EXCLUDED.city, notes = EXCLUDED.notes,
  deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version`,
		cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], deleted, created, updated, versions, sandbox)
	return err
}

const columns = `id, workspace_id, name, company, title, email, phone, city, notes, deleted, created_at, updated_at, version, sandbox`

func scanView(row pgx.Row, extra ...any) (View, error) {
	var v View
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.Name, &v.Company, &v.Title, &v.Email, &v.Phone,
		&v.City, &v.Notes, &v.Deleted, &v.CreatedAt, &v.UpdatedAt, &v.Version, &v.Sandbox}, extra...)...)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, err
}

func (p *Postgres) Search(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	w := projections.InWorkspace(workspaceID).Add(`NOT deleted`).
		Like(f.Name, "name").Like(f.Company, "company").Like(f.City, "city").Like(f.Email, "email").
		Like(f.Query, "name", "company", "city", "email", "title", "notes")
	return p.Page(ctx, w, `name COLLATE "C", id`, f.Limit, "")
}
