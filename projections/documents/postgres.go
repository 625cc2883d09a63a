package documents

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in the documents table, whose generated
// search column is the full-text index (migration 00005).
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

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

// scanWithBody reads the columns and then the body.
func scanWithBody(row pgx.Row, extra ...any) (View, error) {
	var body string
	v, err := scanView(row, append([]any{&body}, extra...)...)
	v.Body = body
	return v, err
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
	return p.One(ctx, `id = $1 AND workspace_id = $2`, id, workspaceID)
}

func (p *Postgres) List(ctx context.Context, workspaceID string, f ListFilter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	w := projections.InWorkspace(workspaceID)
	switch {
	case f.Folder == "":
	case f.Recursive:
		w.Add(`(folder = %s OR folder COLLATE "C" LIKE %s ESCAPE '\')`, f.Folder, projections.EscapeLike(f.Folder)+"/%")
	default:
		w.Add(`folder = %s`, f.Folder)
	}
	// An empty string stands in the body's column: lists leave it out.
	return p.Page(ctx, w, folderOrder+`, title COLLATE "C", id`, f.Limit, columns+`, ''`)
}

func (p *Postgres) Folders(ctx context.Context, workspaceID string) ([]Folder, error) {
	if !projections.IsUUID(workspaceID) {
		return []Folder{}, nil
	}
	rows, err := p.Pool.Query(ctx, `SELECT folder, count(*) FROM documents WHERE workspace_id = $1 GROUP BY folder`, workspaceID)
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
	rows, err := p.Pool.Query(ctx, `
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
