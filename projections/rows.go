package projections

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Rows is the read-model kit: it describes a read model kept as one view
// per stream of one kind, and gives the memory and Postgres stores of it
// (InMemory, InPostgres) with everything that is not the read model's own
// written once: the checkpoint moved with the rows, versions already
// applied skipped, batches all-or-nothing, rows locked in one order, and
// paging with a total. A read model declares only its view, its fold, its
// columns and its queries.
type Rows[V any] struct {
	// Name keys the projection's checkpoint.
	Name string
	// Prefix picks the streams the read model folds; the rest of a stream's
	// name is its row's id (a uuid column named id). Also names more
	// prefixes whose streams fold into the row of the same id.
	Prefix string
	Also   []string
	// Fold applies one event to a view (see contacts.Fold for the rules a
	// fold keeps: skip what the view holds, refuse a gap).
	Fold func(*V, es.Recorded) (changed bool, err error)
	// Clone deep-copies a view whose fold changes shared slices or maps in
	// place; nil means a copy of the value is enough.
	Clone func(V) V

	// Key is a view's id, the rest of its stream's name.
	Key func(V) string
	// Workspace is the tenant a view belongs to, for read models whose
	// queries are scoped to one: Get finds a view only in its workspace,
	// so a tool can never read another tenant's rows. Live, when set,
	// hides views Get must not return (deleted ones); LiveSQL is the same
	// rule as a condition on the table.
	Workspace func(V) string
	Live      func(V) bool
	LiveSQL   string
	// Sandbox, for read models holding records made under test keys,
	// tells a view's side: Get finds it only for a reader on the same side
	// (Sandboxed). In Postgres row-level security enforces the same rule.
	Sandbox func(V) bool

	// Table and Columns name the Postgres table and the columns Scan reads,
	// in order; Scan takes extra destinations after them (Page's total).
	Table, Columns string
	Scan           func(row pgx.Row, extra ...any) (V, error)
	// Save writes a batch's changed views back, in one statement where it
	// can (unnest of arrays), inside the batch's transaction.
	Save func(ctx context.Context, tx pgx.Tx, views []V) error
}

// Relevant tells whether the read model folds rec.
func (r *Rows[V]) Relevant(rec es.Recorded) bool {
	_, ok := r.cut(rec.Stream)
	return ok
}

// ID is the row an event of the read model folds into.
func (r *Rows[V]) ID(rec es.Recorded) string {
	id, _ := r.cut(rec.Stream)
	return id
}

func (r *Rows[V]) cut(stream string) (string, bool) {
	if id, ok := strings.CutPrefix(stream, r.Prefix); ok {
		return id, true
	}
	for _, p := range r.Also {
		if id, ok := strings.CutPrefix(stream, p); ok {
			return id, true
		}
	}
	return "", false
}

// InMemory returns an empty memory store of the read model, rebuilt from the
// log at start.
func (r *Rows[V]) InMemory() *InMemory[V] {
	return &InMemory[V]{rows: r, Views: NewMemoryTable(r.Clone)}
}

// InPostgres returns the Postgres store of the read model (migrations
// already applied).
func (r *Rows[V]) InPostgres(pool *pgxpool.Pool) *InPostgres[V] {
	return &InPostgres[V]{PgProjection: NewPgProjection(pool, r.Name), rows: r}
}

// InMemory keeps a Rows read model in memory. A read model embeds it and
// adds its queries.
type InMemory[V any] struct {
	rows  *Rows[V]
	Views *MemoryTable[V]
}

func (m *InMemory[V]) Name() string { return m.rows.Name }

func (m *InMemory[V]) Checkpoint(context.Context) (es.Position, error) {
	return m.Views.Checkpoint(), nil
}

// Apply is all-or-nothing, like the Postgres transaction.
func (m *InMemory[V]) Apply(_ context.Context, batch []es.Recorded) error {
	return m.Views.Apply(batch, m.rows.Relevant, m.rows.ID, m.rows.Fold)
}

// Get returns the live view id of the workspace (see Rows.Workspace), a
// copy the caller may change.
func (m *InMemory[V]) Get(ctx context.Context, workspaceID, id string) (V, bool, error) {
	v, ok := m.Views.Get(id)
	if !ok || m.rows.Workspace(v) != workspaceID || m.rows.Live != nil && !m.rows.Live(v) ||
		m.rows.Sandbox != nil && m.rows.Sandbox(v) != Sandboxed(ctx) {
		var zero V
		return zero, false, nil
	}
	if m.rows.Clone != nil {
		v = m.rows.Clone(v)
	}
	return v, true, nil
}

// Page is the memory twin of InPostgres.Page: the views keep keeps, in
// less's order, at most limit of them, and how many kept in all.
func (m *InMemory[V]) Page(keep func(V) bool, less func(a, b V) bool, limit int) ([]V, int) {
	var out []V
	for v := range m.Views.All() {
		if keep(v) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	total := len(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total
}

// InPostgres keeps a Rows read model in its table. A read model embeds it
// and adds its queries.
type InPostgres[V any] struct {
	PgProjection
	rows *Rows[V]
}

func (p *InPostgres[V]) Apply(ctx context.Context, batch []es.Recorded) error {
	return p.ApplyWith(ctx, batch, p.LockMany, p.rows.Save)
}

// ApplyWith is Apply with the load and save a read model wraps, to keep
// something of its own in the same transaction (conversations' usage sums).
func (p *InPostgres[V]) ApplyWith(ctx context.Context, batch []es.Recorded,
	load func(context.Context, pgx.Tx, []string) (map[string]V, error),
	save func(context.Context, pgx.Tx, []V) error) error {
	return PgFold(ctx, p.Pool, p.rows.Name, batch, p.rows.Relevant, p.rows.ID, load, p.rows.Fold, save)
}

// LockMany reads the views of a batch's rows and locks them until the batch
// commits, so a second instance cannot fold them from a stale version.
func (p *InPostgres[V]) LockMany(ctx context.Context, tx pgx.Tx, ids []string) (map[string]V, error) {
	rows, err := tx.Query(ctx, `SELECT `+p.rows.Columns+` FROM `+p.rows.Table+
		` WHERE id = ANY($1::text[]::uuid[]) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]V{}
	for rows.Next() {
		v, err := p.rows.Scan(rows)
		if err != nil {
			return nil, err
		}
		out[p.rows.Key(v)] = v
	}
	return out, rows.Err()
}

// Get returns the live view id of the workspace (see Rows.Workspace). An
// id that cannot exist is "not found", as in the memory store, rather
// than a cast error from Postgres.
func (p *InPostgres[V]) Get(ctx context.Context, workspaceID, id string) (V, bool, error) {
	if !IsUUID(workspaceID) || !IsUUID(id) {
		var zero V
		return zero, false, nil
	}
	where := `id = $1 AND workspace_id = $2`
	if p.rows.LiveSQL != "" {
		where += ` AND ` + p.rows.LiveSQL
	}
	return p.one(ctx, workspaceID, where, id, workspaceID)
}

// One reads the row where picks; none is not an error. It reads as the
// tenant ctx works for (see Query), or across tenants without one.
func (p *InPostgres[V]) One(ctx context.Context, where string, args ...any) (V, bool, error) {
	return p.one(ctx, "", where, args...)
}

func (p *InPostgres[V]) one(ctx context.Context, workspaceID, where string, args ...any) (V, bool, error) {
	v, err := p.rows.Scan(QueryRow(ctx, p.Pool, workspaceID, `SELECT `+p.rows.Columns+` FROM `+p.rows.Table+` WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		var zero V
		return zero, false, nil
	}
	if err != nil {
		var zero V
		return zero, false, err
	}
	return v, true, nil
}

// Page reads the rows w picks in orderBy's order, at most limit of them,
// and how many match in all: the window count runs over every match before
// LIMIT, so the total and the page come from one snapshot. columns, when
// set, replaces the read model's columns (Scan must still read it).
func (p *InPostgres[V]) Page(ctx context.Context, w *Where, orderBy string, limit int, columns string) ([]V, int, error) {
	if columns == "" {
		columns = p.rows.Columns
	}
	total := 0
	out, err := p.query(ctx, columns+`, count(*) OVER ()`, w, orderBy, limit, &total)
	return out, total, err
}

// List is Page without the total, for readers that only want the first
// rows (a sweep's batch): it costs what it returns, not what matches.
func (p *InPostgres[V]) List(ctx context.Context, w *Where, orderBy string, limit int) ([]V, error) {
	return p.query(ctx, p.rows.Columns, w, orderBy, limit)
}

// ListColumns is List reading columns instead of the read model's (Scan
// must still read them), to leave a heavy column out of a listing.
func (p *InPostgres[V]) ListColumns(ctx context.Context, w *Where, orderBy string, limit int, columns string) ([]V, error) {
	return p.query(ctx, columns, w, orderBy, limit)
}

func (p *InPostgres[V]) query(ctx context.Context, columns string, w *Where, orderBy string, limit int, extra ...any) ([]V, error) {
	args := append(w.args, limit)
	rows, err := Query(ctx, p.Pool, w.workspace, `SELECT `+columns+` FROM `+p.rows.Table+` WHERE `+
		w.sql()+fmt.Sprintf(` ORDER BY %s LIMIT $%d`, orderBy, len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []V
	for rows.Next() {
		v, err := p.rows.Scan(rows, extra...)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Where gathers a query's conditions (joined by AND) and their arguments,
// numbering the placeholders as they come.
type Where struct {
	conds     []string
	args      []any
	workspace string // the tenant the query reads as (see Query)
}

// InWorkspace starts the conditions of a query scoped to one workspace,
// which it also reads as (row-level security).
func InWorkspace(workspaceID string) *Where {
	return &Where{conds: []string{`workspace_id = $1`}, args: []any{workspaceID}, workspace: workspaceID}
}

// As makes a query read as workspaceID's tenant without adding a
// condition, for queries scoped by a column of their own.
func (w *Where) As(workspaceID string) *Where {
	w.workspace = workspaceID
	return w
}

// Add appends a condition; cond names each argument, in order, as %[1]s,
// %[2]s... (its placeholder, $n).
func (w *Where) Add(cond string, args ...any) *Where {
	marks := make([]any, len(args))
	for i, a := range args {
		w.args = append(w.args, a)
		marks[i] = fmt.Sprintf("$%d", len(w.args))
	}
	w.conds = append(w.conds, fmt.Sprintf(cond, marks...))
	return w
}

// sql is the conditions joined; none is TRUE.
func (w *Where) sql() string {
	if len(w.conds) == 0 {
		return "TRUE"
	}
	return strings.Join(w.conds, " AND ")
}

// Like appends a case-insensitive, literal substring match of term on any
// of cols; a blank term adds nothing (it matches all, as ContainsFold).
func (w *Where) Like(term string, cols ...string) *Where {
	if term == "" {
		return w
	}
	ors := make([]string, len(cols))
	for i, c := range cols {
		ors[i] = c + ` ILIKE %[1]s ESCAPE '\'`
	}
	return w.Add("("+strings.Join(ors, " OR ")+")", Pattern(term))
}

// Page sizes of the read models the agent's tools list: a tool result
// never floods the model's context.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Limit settles a requested page size: DefaultLimit when none is asked
// for, never more than MaxLimit.
func Limit(n int) int { return Clamp(n, DefaultLimit, MaxLimit) }

// Clamp settles a requested page size against a read model's own bounds:
// def when none is asked for, never more than max.
func Clamp(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

// Pattern is the ILIKE pattern that finds term literally anywhere.
func Pattern(term string) string { return "%" + EscapeLike(term) + "%" }

// Next decodes rec when it is the next event of a view's stream (the view
// holds version events): ok is false for an event the view already holds,
// and a gap is an error, so replays are harmless and a lost event stops the
// projection instead of hiding.
//
// opens, when set, names the event that creates the view; it must be the
// stream's first and only there: without it a view has no id or workspace
// to be found by, and a second one would silently reset it.
func Next(version int64, rec es.Recorded, events es.Registry, opens func(es.Fact) bool) (f es.Fact, ok bool, err error) {
	if rec.StreamVersion <= version {
		return nil, false, nil
	}
	if rec.StreamVersion != version+1 {
		return nil, false, GapError(rec.Stream, version, rec.StreamVersion)
	}
	if f, err = events.Decode(rec); err != nil {
		return nil, false, err
	}
	if opens != nil && opens(f) != (version == 0) {
		return nil, false, OutOfPlace(rec)
	}
	return f, true, nil
}

// OutOfPlace is the error for an event its stream cannot hold where it is.
func OutOfPlace(rec es.Recorded) error {
	return fmt.Errorf("stream %s version %d: %s out of place", rec.Stream, rec.StreamVersion, rec.Type)
}

// Scoped is what the kit gives a workspace-scoped read model's store: the
// projection, and Get of one live view of a workspace. A read model's
// Store adds its own queries to it.
type Scoped[V any] interface {
	Projection
	Get(ctx context.Context, workspaceID, id string) (V, bool, error)
}
