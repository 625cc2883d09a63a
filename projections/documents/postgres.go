package documents

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in the documents table, whose generated
// search column is the full-text index (migration 00005).
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

func (p *Postgres) Name() string { return Name }

func (p *Postgres) Checkpoint(ctx context.Context) (es.Position, error) {
	return projections.PgCheckpoint(ctx, p.pool, Name)
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgFold(ctx, p.pool, Name, batch, isDocument, idOf, projections.EachRow(lock), Fold, projections.EachSave(upsert))
}

// lock reads a document's view for Apply. The row stays locked until the batch
// commits, so a second instance cannot fold it from a stale version.
func lock(ctx context.Context, tx pgx.Tx, id string) (View, error) {
	v, _, err := get(ctx, tx, `WHERE id = $1 FOR UPDATE`, id)
	return v, err
}

// upsert writes a folded document back.
func upsert(ctx context.Context, tx pgx.Tx, v View) error {
	_, err := tx.Exec(ctx, `
INSERT INTO documents (id, workspace_id, title, folder, body, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, folder = EXCLUDED.folder, body = EXCLUDED.body,
  updated_at = EXCLUDED.updated_at, version = EXCLUDED.version`,
		v.ID, v.WorkspaceID, v.Title, v.Folder, v.Body, v.CreatedAt, v.UpdatedAt, v.Version)
	return err
}

// columns without the body, which Get adds and List and Search leave out.
const columns = `id, workspace_id, title, folder, created_at, updated_at, version`

// folderOrder is folderKey in SQL: List's order, folder segment by segment.
const folderOrder = `replace(folder, '/', chr(1)) COLLATE "C"`

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func get(ctx context.Context, q querier, where string, args ...any) (View, bool, error) {
	var body string
	v, err := scanView(q.QueryRow(ctx, `SELECT `+columns+`, body FROM documents `+where, args...), &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, false, nil
	}
	if err != nil {
		return View{}, false, err
	}
	v.Body = body
	return v, true, nil
}

func scanView(row pgx.Row, extra ...any) (View, error) {
	var v View
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.Title, &v.Folder, &v.CreatedAt, &v.UpdatedAt, &v.Version},
		extra...)...)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
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

func (p *Postgres) List(ctx context.Context, workspaceID string, f ListFilter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	args := []any{workspaceID}
	where := []string{`workspace_id = $1`}
	switch {
	case f.Folder == "":
	case f.Recursive:
		args = append(args, f.Folder, projections.EscapeLike(f.Folder)+"/%")
		where = append(where, fmt.Sprintf(`(folder = $%d OR folder COLLATE "C" LIKE $%d ESCAPE '\')`, len(args)-1, len(args)))
	default:
		args = append(args, f.Folder)
		where = append(where, fmt.Sprintf(`folder = $%d`, len(args)))
	}
	args = append(args, f.Limit)
	// The window count runs over every match before LIMIT, so the total and
	// the page come from one snapshot.
	rows, err := p.pool.Query(ctx, `SELECT `+columns+`, count(*) OVER () FROM documents WHERE `+
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY %s, title COLLATE "C", id LIMIT $%d`, folderOrder, len(args)), args...)
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

func (p *Postgres) Folders(ctx context.Context, workspaceID string) ([]Folder, error) {
	if !projections.IsUUID(workspaceID) {
		return []Folder{}, nil
	}
	rows, err := p.pool.Query(ctx, `SELECT folder, count(*) FROM documents WHERE workspace_id = $1 GROUP BY folder`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var folder string
		var n int
		if err := rows.Scan(&folder, &n); err != nil {
			return nil, err
		}
		counts[folder] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return folderTree(counts), nil
}

// headlineOptions make ts_headline return up to two short fragments of
// plain text (no highlight markers, as the memory store's snippets).
const headlineOptions = `MaxFragments=2, MaxWords=18, MinWords=6, ShortWord=2, FragmentDelimiter=" … ", StartSel="", StopSel=""`

func (p *Postgres) Search(ctx context.Context, workspaceID, query string, n int) ([]Hit, int, error) {
	if !projections.IsUUID(workspaceID) || len(queryTerms(query)) == 0 {
		return nil, 0, nil
	}
	// The inner query ranks and cuts; ts_headline, which re-parses the whole
	// body, only runs on the rows returned.
	rows, err := p.pool.Query(ctx, `
WITH q AS (SELECT websearch_to_tsquery('simple', $2) AS q),
hits AS (
  SELECT `+columns+`, body, ts_rank(search, q.q)::float8 AS score, count(*) OVER () AS total
  FROM documents, q
  WHERE workspace_id = $1 AND search @@ q.q
  ORDER BY score DESC, title COLLATE "C", id
  LIMIT $3)
SELECT `+columns+`, ts_headline('simple', body, (SELECT q FROM q), $4), score, total
FROM hits ORDER BY score DESC, title COLLATE "C", id`,
		workspaceID, cleanQuery(query), limit(n), headlineOptions)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Hit
	total := 0
	for rows.Next() {
		var h Hit
		h.View, err = scanView(rows, &h.Snippet, &h.Rank, &total)
		if err != nil {
			return nil, 0, err
		}
		h.Snippet = collapse(h.Snippet)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// escapeLike makes the text match literally: % and _ would otherwise be
// wildcards, and the escape character itself must be escaped first.
