// Package documents is the read model behind the agent's document tools: one
// row per document of a workspace, listable by folder and searchable by the
// words of its title and body without replaying streams.
package documents

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/domain/document"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "documents"

const streamPrefix = "document-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read (body included) and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Workspace: func(v View) string { return v.WorkspaceID },
	Sandbox:   func(v View) bool { return v.Sandbox },
	Table:     "documents", Columns: columns + `, body`, Scan: scanWithBody, Save: projections.EachSave(upsert),
}

// View is one document as the tools read it. List and Search leave Body
// empty: a listing must not flood the model's context with whole documents.
type View struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Title       string    `json:"title"`
	Folder      string    `json:"folder"` // "/", "/Reports", "/Reports/Q1"
	Body        string    `json:"body,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Sandbox: made under a test key, seen only by test keys.
	Sandbox bool  `json:"sandbox,omitempty"`
	Version int64 `json:"version"`
}

// ListFilter narrows a listing.
type ListFilter struct {
	// Folder is a folder path ("Reports/Q1" and "/Reports/Q1/" mean the same
	// folder); empty lists every folder. Folder names match exactly, case
	// and all.
	Folder string `json:"folder,omitempty"`
	// Recursive includes the documents of the folder's subfolders too.
	Recursive bool `json:"recursive,omitempty"`
	// Limit is settled by projections.Limit.
	Limit int `json:"limit,omitempty"`
}

// Folder is one folder of a workspace and how many documents it holds
// directly (not counting its subfolders).
type Folder struct {
	Path      string `json:"path"`
	Documents int    `json:"documents"`
}

// Hit is one search result: the document without its body, a short extract
// of the body around the matched words, and how well it matched (higher is
// better; only comparable within one result list, and computed differently
// by the memory and Postgres stores).
type Hit struct {
	View
	Snippet string  `json:"snippet"`
	Rank    float64 `json:"rank"`
}

// normalized settles the filter: the folder in the form documents are filed
// under ("" for all), and the limit bounded. A folder that could never
// exist ("a/../b") is an error rather than an empty listing.
func (f ListFilter) normalized() (ListFilter, error) {
	f.Limit = projections.Limit(f.Limit)
	if strings.TrimSpace(f.Folder) == "" {
		f.Folder = ""
		return f, nil
	}
	folder, err := document.NormalizeFolder(f.Folder)
	if err != nil {
		return f, err
	}
	f.Folder = folder
	if f.Folder == "/" && f.Recursive {
		f.Folder = "" // everything lives under the root
	}
	return f, nil
}

// inFolder is the memory twin of the folder condition of List.
func (f ListFilter) inFolder(folder string) bool {
	switch {
	case f.Folder == "":
		return true
	case f.Recursive:
		return folder == f.Folder || strings.HasPrefix(folder, f.Folder+"/")
	}
	return folder == f.Folder
}

// folderKey orders folders segment by segment, so that a folder's
// subfolders come right after it: "/A", "/A/B", "/A B" rather than the byte
// order "/A", "/A B", "/A/B". Replacing the separator by the lowest byte
// Postgres text can hold does exactly that under byte-wise comparison; the
// Postgres store sorts by replace(folder, '/', chr(1)) COLLATE "C".
func folderKey(folder string) string { return strings.ReplaceAll(folder, "/", "\x01") }

// less is the order of List: folder (segment-wise), then title and id,
// byte-wise, as in the Postgres store.
func less(a, b View) bool {
	if ka, kb := folderKey(a.Folder), folderKey(b.Folder); ka != kb {
		return ka < kb
	}
	if a.Title != b.Title {
		return a.Title < b.Title
	}
	return a.ID < b.ID
}

// folderTree turns the number of documents filed directly in each folder
// into the list Folders returns: those folders plus all their ancestors up
// to the root, in the order of folderKey. Both stores share it, so they
// agree on which folders exist.
func folderTree(counts map[string]int) []Folder {
	all := map[string]int{}
	for path, n := range counts {
		all[path] += n
		for p := path; p != "/"; {
			i := strings.LastIndex(p, "/")
			if i <= 0 {
				p = "/"
			} else {
				p = p[:i]
			}
			if _, ok := all[p]; !ok {
				all[p] = 0
			}
		}
	}
	out := make([]Folder, 0, len(all))
	for path, n := range all {
		out = append(out, Folder{Path: path, Documents: n})
	}
	sort.Slice(out, func(i, j int) bool { return folderKey(out[i].Path) < folderKey(out[j].Path) })
	return out
}

// Fold applies one recorded document event to a view. It skips events the
// view already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	f, ok, err := projections.Next(v.Version, rec, document.Events, func(f es.Fact) bool { _, ok := f.(*document.Created); return ok })
	if err != nil || !ok {
		return false, err
	}
	switch e := f.(type) {
	case *document.Created:
		at := projections.Stamp(e.CreatedAt)
		// The stream names the document: it is what later events and Get
		// find the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, Title: e.Title, Folder: e.Folder, Body: e.Body,
			CreatedAt: at, UpdatedAt: at, Sandbox: e.Sandbox}
	case *document.Moved:
		v.Folder, v.UpdatedAt = e.To, projections.Stamp(e.MovedAt)
	}
	v.Version = rec.StreamVersion
	return true, nil
}

// Store is the documents read model: a projection plus its queries. Every
// query is scoped to one workspace, so a tool can never see another tenant's
// documents.
type Store interface {
	projections.Scoped[View]
	// List returns the documents of a folder (or all of them) without their
	// bodies, ordered by folder (segment by segment, so a folder's
	// subfolders follow it), then title and id (byte-wise, so both stores
	// agree); at most f.Limit of them, and how many match in all so the
	// caller can tell the model the list is cut short. A folder that cannot
	// exist is a *document.ValidationError.
	List(ctx context.Context, workspaceID string, f ListFilter) ([]View, int, error)
	// Folders returns every folder that holds documents, and all their
	// ancestors up to the root "/", each with the number of documents filed
	// directly in it, in List's folder order. An empty workspace has none.
	Folders(ctx context.Context, workspaceID string) ([]Folder, error)
	// Search finds the documents whose title or body holds every word of
	// the query (whole words, case-insensitive, no stemming; see search.go),
	// best match first (then title and id), at most limit of them
	// (settled by projections.Limit), and how many match
	// in all. A query without any word matches nothing. Only the Postgres
	// store also understands web-search syntax ("a phrase", or, -word).
	Search(ctx context.Context, workspaceID, query string, limit int) ([]Hit, int, error)
	// ByCreation pages the workspace's documents (of one folder, when
	// q.Folder names one) in the order they were made, (created_at, id),
	// without their bodies: those after q.After, at most q.Limit. A keyset
	// over a key that never changes, so a document added while a client
	// pages is neither skipped nor shown twice, and a page costs what it
	// returns however many documents came before.
	ByCreation(ctx context.Context, workspaceID string, q CreationQuery) ([]View, error)
}

// CreationQuery is a page of ByCreation.
type CreationQuery struct {
	Folder string // "" for every folder; only that folder, not its subfolders
	After  *Place // nil from the first document
	Limit  int
}

// Place is a document's place in ByCreation's order.
type Place struct {
	CreatedAt time.Time
	ID        string
}

func (p *Place) before(v View) bool {
	return p == nil || p.CreatedAt.Before(v.CreatedAt) || p.CreatedAt.Equal(v.CreatedAt) && p.ID < v.ID
}

// normalized settles the query's folder (a folder that could never exist
// is a *document.ValidationError) and limit (1 to 101: a caller asks for
// one more than it shows to learn whether a next page exists).
func (q CreationQuery) normalized() (CreationQuery, error) {
	q.Limit = projections.Clamp(q.Limit, projections.DefaultLimit, projections.MaxLimit+1)
	if strings.TrimSpace(q.Folder) == "" {
		q.Folder = ""
		return q, nil
	}
	folder, err := document.NormalizeFolder(q.Folder)
	q.Folder = folder
	return q, err
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{rows.InMemory()} }

func (m *Memory) List(ctx context.Context, workspaceID string, f ListFilter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	sandbox := projections.Sandboxed(ctx)
	out, total := m.Page(func(v View) bool {
		return v.WorkspaceID == workspaceID && v.Sandbox == sandbox && f.inFolder(v.Folder)
	}, less, f.Limit)
	for i := range out {
		out[i].Body = "" // lists leave the bodies out
	}
	return out, total, nil
}

func (m *Memory) ByCreation(ctx context.Context, workspaceID string, q CreationQuery) ([]View, error) {
	q, err := q.normalized()
	if err != nil {
		return nil, err
	}
	sandbox := projections.Sandboxed(ctx)
	out, _ := m.Page(func(v View) bool {
		return v.WorkspaceID == workspaceID && v.Sandbox == sandbox && (q.Folder == "" || v.Folder == q.Folder) && q.After.before(v)
	}, func(a, b View) bool {
		return a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID
	}, q.Limit)
	for i := range out {
		out[i].Body = ""
	}
	return out, nil
}

func (m *Memory) Folders(ctx context.Context, workspaceID string) ([]Folder, error) {
	counts := map[string]int{}
	sandbox := projections.Sandboxed(ctx)
	for v := range m.Views.All() {
		if v.WorkspaceID == workspaceID && v.Sandbox == sandbox {
			counts[v.Folder]++
		}
	}
	return folderTree(counts), nil
}

// Search tokenises every document of the workspace on each call: the memory
// store serves development and tests, where that is cheap enough.
func (m *Memory) Search(ctx context.Context, workspaceID, query string, n int) ([]Hit, int, error) {
	terms := queryTerms(query)
	if len(terms) == 0 {
		return nil, 0, nil
	}
	n = projections.Limit(n)
	var out []Hit
	sandbox := projections.Sandboxed(ctx)
	for v := range m.Views.All() {
		if v.WorkspaceID != workspaceID || v.Sandbox != sandbox {
			continue
		}
		body := tokenize(v.Body)
		if rank := match(terms, tokenize(v.Title), body); rank > 0 {
			h := Hit{View: v, Snippet: snippet(v.Body, body, terms), Rank: rank}
			h.Body = ""
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rank != out[j].Rank {
			return out[i].Rank > out[j].Rank
		}
		if out[i].Title != out[j].Title {
			return out[i].Title < out[j].Title
		}
		return out[i].ID < out[j].ID
	})
	total := len(out)
	if len(out) > n {
		out = out[:n]
	}
	return out, total, nil
}

// Postgres keeps the read model in the documents table, whose generated
// search column is the full-text index (migration 00005).
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

// upsert writes a folded document back.
func upsert(ctx context.Context, tx pgx.Tx, v View) error {
	_, err := tx.Exec(ctx, `
INSERT INTO documents (id, workspace_id, title, folder, body, created_at, updated_at, version, sandbox)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, folder = EXCLUDED.folder, body = EXCLUDED.body,
  updated_at = EXCLUDED.updated_at, version = EXCLUDED.version`,
		v.ID, v.WorkspaceID, v.Title, v.Folder, v.Body, v.CreatedAt, v.UpdatedAt, v.Version, v.Sandbox)
	return err
}

// columns without the body, which Get adds and List and Search leave out.
const columns = `id, workspace_id, title, folder, created_at, updated_at, version, sandbox`

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
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.Title, &v.Folder, &v.CreatedAt, &v.UpdatedAt, &v.Version, &v.Sandbox},
		extra...)...)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, err
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

func (p *Postgres) ByCreation(ctx context.Context, workspaceID string, q CreationQuery) ([]View, error) {
	q, err := q.normalized()
	if err != nil {
		return nil, err
	}
	if !projections.IsUUID(workspaceID) || q.After != nil && !projections.IsUUID(q.After.ID) {
		return nil, nil
	}
	w := projections.InWorkspace(workspaceID)
	if q.Folder != "" {
		w.Add(`folder = %s`, q.Folder)
	}
	if q.After != nil {
		w.Add(`(created_at, id) > (%s, %s::text::uuid)`, q.After.CreatedAt, q.After.ID)
	}
	return p.ListColumns(ctx, w, `created_at, id`, q.Limit, columns+`, ''`)
}

func (p *Postgres) Folders(ctx context.Context, workspaceID string) ([]Folder, error) {
	if !projections.IsUUID(workspaceID) {
		return []Folder{}, nil
	}
	rows, err := projections.Query(ctx, p.Pool, workspaceID, `SELECT folder, count(*) FROM documents WHERE workspace_id = $1 GROUP BY folder`, workspaceID)
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
	rows, err := projections.Query(ctx, p.Pool, workspaceID, `
WITH q AS (SELECT websearch_to_tsquery('simple', $2) AS q),
hits AS (
  SELECT `+columns+`, body, ts_rank(search, q.q)::float8 AS score, count(*) OVER () AS total
  FROM documents, q
  WHERE workspace_id = $1 AND search @@ q.q
  ORDER BY score DESC, title COLLATE "C", id
  LIMIT $3)
SELECT `+columns+`, ts_headline('simple', body, (SELECT q FROM q), $4), score, total
FROM hits ORDER BY score DESC, title COLLATE "C", id`,
		workspaceID, cleanQuery(query), projections.Limit(n), headlineOptions)
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
