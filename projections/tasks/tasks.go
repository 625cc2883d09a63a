// Package tasks is the read model behind the agent's task tools: one row per
// task of a workspace, listable by status without replaying streams.
package tasks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "tasks"

const streamPrefix = "task-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Workspace: func(v View) string { return v.WorkspaceID },
	Sandbox:   func(v View) bool { return v.Sandbox },
	Table:     "tasks", Columns: columns, Scan: scanView, Save: upsertMany,
}

// View is one task as the tools read it.
type View struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	DueDate     string     `json:"due_date"`    // YYYY-MM-DD or empty
	AssigneeID  string     `json:"assignee_id"` // the member the task is assigned to, or empty
	Status      string     `json:"status"`      // "open" | "done"
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at"`
	// Sandbox: made under a test key, seen only by test keys.
	Sandbox bool  `json:"sandbox,omitempty"`
	Version int64 `json:"version"`
}

// Filter narrows a listing.
type Filter struct {
	// Status is "open", "done", or "" / "all" for both.
	Status string `json:"status,omitempty"`
	// Query is a case-insensitive substring of the title or description,
	// taken literally (no wildcards).
	Query string `json:"query,omitempty"`
	// AssigneeID keeps only the tasks assigned to this member (exact id);
	// empty means any assignee or none.
	AssigneeID string `json:"assignee_id,omitempty"`
	// Limit is settled by projections.Limit.
	Limit int `json:"limit,omitempty"`
}

// ErrInvalidStatus is returned for a status filter other than open, done or
// all: silently listing nothing would read to the model as "no tasks".
var ErrInvalidStatus = fmt.Errorf("task status filter must be %q, %q or %q", task.Open, task.Done, "all")

// normalized settles the filter: "all" becomes "", the query is trimmed and
// the limit bounded.
func (f Filter) normalized() (Filter, error) {
	f.Status = strings.ToLower(strings.TrimSpace(f.Status))
	switch f.Status {
	case "", "all":
		f.Status = ""
	case string(task.Open), string(task.Done):
	default:
		return f, fmt.Errorf("%w, not %q", ErrInvalidStatus, f.Status)
	}
	f.Query, f.AssigneeID = strings.TrimSpace(f.Query), strings.TrimSpace(f.AssigneeID)
	f.Limit = projections.Limit(f.Limit)
	return f, nil
}

// Fold applies one recorded task event to a view. It skips events the view
// already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	f, ok, err := projections.Next(v.Version, rec, task.Events, func(f es.Fact) bool { _, ok := f.(*task.Created); return ok })
	if err != nil || !ok {
		return false, err
	}
	switch e := f.(type) {
	case *task.Created:
		// The stream names the task: it is what later events and Get find
		// the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, Title: e.Title, Description: e.Description,
			DueDate: e.DueDate, Status: string(task.Open), CreatedAt: projections.Stamp(e.CreatedAt), Sandbox: e.Sandbox}
	case *task.Completed:
		at := projections.Stamp(e.CompletedAt)
		v.Status, v.CompletedAt = string(task.Done), &at
	case *task.Assigned:
		v.AssigneeID = e.AssigneeID
	case *task.DueDateSet:
		v.DueDate = e.DueDate
	}
	v.Version = rec.StreamVersion
	return true, nil
}

// Store is the tasks read model: a projection plus its queries. Every query
// is scoped to one workspace, so a tool can never see another tenant's tasks.
type Store interface {
	projections.Scoped[View]
	// List returns the matching tasks oldest first (created_at, then id), at
	// most f.Limit of them, and how many match in all so the caller can tell
	// the model the list is cut short.
	List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

func NewMemory() *Memory { return &Memory{rows.InMemory()} }

func (m *Memory) List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	sandbox := projections.Sandboxed(ctx)
	out, total := m.Page(func(v View) bool {
		return v.WorkspaceID == workspaceID && v.Sandbox == sandbox && (f.Status == "" || v.Status == f.Status) &&
			(f.AssigneeID == "" || v.AssigneeID == f.AssigneeID) &&
			(projections.ContainsFold(v.Title, f.Query) || projections.ContainsFold(v.Description, f.Query))
	}, func(a, b View) bool {
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	}, f.Limit)
	return out, total, nil
}

// Postgres keeps the read model in the tasks table.
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

// upsertMany writes a batch's folded tasks back in one statement.
func upsertMany(ctx context.Context, tx pgx.Tx, vs []View) error {
	n := len(vs)
	var (
		ids, ws, titles, descs, dues, assignees, statuses = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created   = make([]time.Time, n)
		completed = make([]*time.Time, n)
		versions  = make([]int64, n)
		sandbox   = make([]bool, n)
	)
	for i, v := range vs {
		ids[i], ws[i], titles[i], descs[i], dues[i], assignees[i], statuses[i] = v.ID, v.WorkspaceID, v.Title, v.Description,
			v.DueDate, v.AssigneeID, v.Status
		created[i], completed[i], versions[i], sandbox[i] = v.CreatedAt, v.CompletedAt, v.Version, v.Sandbox
	}
	_, err := tx.Exec(ctx, `
INSERT INTO tasks (id, workspace_id, title, description, due_date, assignee_id, status, created_at, completed_at, version, sandbox)
SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
  $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::boolean[])
ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,
  due_date = EXCLUDED.due_date, assignee_id = EXCLUDED.assignee_id, status = EXCLUDED.status,
  completed_at = EXCLUDED.completed_at, version = EXCLUDED.version`,
		ids, ws, titles, descs, dues, assignees, statuses, created, completed, versions, sandbox)
	return err
}

const columns = `id, workspace_id, title, description, due_date, assignee_id, status, created_at, completed_at, version, sandbox`

func scanView(row pgx.Row, extra ...any) (View, error) {
	var v View
	var completed *time.Time
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.Title, &v.Description, &v.DueDate, &v.AssigneeID, &v.Status,
		&v.CreatedAt, &completed, &v.Version, &v.Sandbox}, extra...)...)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	v.CreatedAt = v.CreatedAt.UTC()
	if completed != nil {
		t := completed.UTC()
		v.CompletedAt = &t
	}
	return v, err
}

func (p *Postgres) List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	w := projections.InWorkspace(workspaceID).Like(f.Query, "title", "description")
	if f.Status != "" {
		w.Add(`status = %s`, f.Status)
	}
	if f.AssigneeID != "" {
		w.Add(`assignee_id = %s`, f.AssigneeID)
	}
	return p.Page(ctx, w, `created_at, id`, f.Limit, "")
}
