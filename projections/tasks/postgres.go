package tasks

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/projections"
)

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
	)
	for i, v := range vs {
		ids[i], ws[i], titles[i], descs[i], dues[i], assignees[i], statuses[i] = v.ID, v.WorkspaceID, v.Title, v.Description,
			v.DueDate, v.AssigneeID, v.Status
		created[i], completed[i], versions[i] = v.CreatedAt, v.CompletedAt, v.Version
	}
	_, err := tx.Exec(ctx, `
INSERT INTO tasks (id, workspace_id, title, description, due_date, assignee_id, status, created_at, completed_at, version)
SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
  $8::timestamptz[], $9::timestamptz[], $10::bigint[])
ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,
  due_date = EXCLUDED.due_date, assignee_id = EXCLUDED.assignee_id, status = EXCLUDED.status,
  completed_at = EXCLUDED.completed_at, version = EXCLUDED.version`,
		ids, ws, titles, descs, dues, assignees, statuses, created, completed, versions)
	return err
}

const columns = `id, workspace_id, title, description, due_date, assignee_id, status, created_at, completed_at, version`

func scanView(row pgx.Row, extra ...any) (View, error) {
	var v View
	var completed *time.Time
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.Title, &v.Description, &v.DueDate, &v.AssigneeID, &v.Status,
		&v.CreatedAt, &completed, &v.Version}, extra...)...)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	v.CreatedAt = v.CreatedAt.UTC()
	if completed != nil {
		t := completed.UTC()
		v.CompletedAt = &t
	}
	return v, err
}

// isUUID guards the uuid columns: an id that cannot exist is "not found",
// as in the memory store, rather than a cast error from Postgres.
func (p *Postgres) Get(ctx context.Context, workspaceID, id string) (View, bool, error) {
	if !projections.IsUUID(workspaceID) || !projections.IsUUID(id) {
		return View{}, false, nil
	}
	return p.One(ctx, `id = $1 AND workspace_id = $2`, id, workspaceID)
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
