package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in the tasks table.
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

func (p *Postgres) Name() string { return Name }

func (p *Postgres) Checkpoint(ctx context.Context) (es.Position, error) {
	return projections.PgCheckpoint(ctx, p.pool, Name)
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgFold(ctx, p.pool, Name, batch, isTask, idOf, lockMany, Fold, upsertMany)
}

// lockMany reads (and locks) the views of a batch's tasks.
func lockMany(ctx context.Context, tx pgx.Tx, ids []string) (map[string]View, error) {
	rows, err := tx.Query(ctx, `SELECT `+columns+` FROM tasks WHERE id = ANY($1::text[]::uuid[]) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]View{}
	for rows.Next() {
		v, err := scanView(rows)
		if err != nil {
			return nil, err
		}
		out[v.ID] = v
	}
	return out, rows.Err()
}

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

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func get(ctx context.Context, q querier, where string, args ...any) (View, bool, error) {
	v, err := scanView(q.QueryRow(ctx, `SELECT `+columns+` FROM tasks `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, false, nil
	}
	if err != nil {
		return View{}, false, err
	}
	return v, true, nil
}

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
	return get(ctx, p.pool, `WHERE id = $1 AND workspace_id = $2`, id, workspaceID)
}

func (p *Postgres) List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	args := []any{workspaceID}
	where := []string{`workspace_id = $1`}
	if f.Status != "" {
		args = append(args, f.Status)
		where = append(where, fmt.Sprintf(`status = $%d`, len(args)))
	}
	if f.AssigneeID != "" {
		args = append(args, f.AssigneeID)
		where = append(where, fmt.Sprintf(`assignee_id = $%d`, len(args)))
	}
	if f.Query != "" {
		args = append(args, "%"+projections.EscapeLike(f.Query)+"%")
		n := len(args)
		where = append(where, fmt.Sprintf(`(title ILIKE $%d ESCAPE '\' OR description ILIKE $%d ESCAPE '\')`, n, n))
	}
	args = append(args, f.Limit)
	// The window count runs over every match before LIMIT, so the total and
	// the page come from one snapshot.
	rows, err := p.pool.Query(ctx, `SELECT `+columns+`, count(*) OVER () FROM tasks WHERE `+
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []View
	total := 0
	for rows.Next() {
		v, err := scanView(rows, &total)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// escapeLike makes the user's text match literally: % and _ would otherwise
// be wildcards, and the escape character itself must be escaped first.
