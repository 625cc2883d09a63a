package contacts

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

// Postgres keeps the read model in the contacts table.
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

func (p *Postgres) Name() string { return Name }

func (p *Postgres) Checkpoint(ctx context.Context) (es.Position, error) {
	return projections.PgCheckpoint(ctx, p.pool, Name)
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgFold(ctx, p.pool, Name, batch, isContact, idOf, lockMany, Fold, upsertMany)
}

// lockMany reads (and locks) the views of a batch's contacts.
func lockMany(ctx context.Context, tx pgx.Tx, ids []string) (map[string]View, error) {
	rows, err := tx.Query(ctx, `SELECT `+columns+` FROM contacts WHERE id = ANY($1::text[]::uuid[]) ORDER BY id FOR UPDATE`, ids)
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

// upsertMany writes a batch's folded contacts back in one statement.
func upsertMany(ctx context.Context, tx pgx.Tx, vs []View) error {
	n := len(vs)
	cols := make([][]string, 9)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	deleted, created, updated, versions := make([]bool, n), make([]time.Time, n), make([]time.Time, n), make([]int64, n)
	for i, v := range vs {
		for j, f := range []string{v.ID, v.WorkspaceID, v.Name, v.Company, v.Title, v.Email, v.Phone, v.City, v.Notes} {
			cols[j][i] = f
		}
		deleted[i], created[i], updated[i], versions[i] = v.Deleted, v.CreatedAt, v.UpdatedAt, v.Version
	}
	_, err := tx.Exec(ctx, `
INSERT INTO contacts (id, workspace_id, name, company, title, email, phone, city, notes, deleted, created_at, updated_at, version)
SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
  $9::text[], $10::boolean[], $11::timestamptz[], $12::timestamptz[], $13::bigint[])
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, company = EXCLUDED.company, title = EXCLUDED.title,
  email = EXCLUDED.email, phone = EXCLUDED.phone, city = EXCLUDED.city, notes = EXCLUDED.notes,
  deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version`,
		cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], deleted, created, updated, versions)
	return err
}

const columns = `id, workspace_id, name, company, title, email, phone, city, notes, deleted, created_at, updated_at, version`

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func get(ctx context.Context, q querier, where string, args ...any) (View, bool, error) {
	v, err := scanView(q.QueryRow(ctx, `SELECT `+columns+` FROM contacts `+where, args...))
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
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.Name, &v.Company, &v.Title, &v.Email, &v.Phone,
		&v.City, &v.Notes, &v.Deleted, &v.CreatedAt, &v.UpdatedAt, &v.Version}, extra...)...)
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
	return get(ctx, p.pool, `WHERE id = $1 AND workspace_id = $2 AND NOT deleted`, id, workspaceID)
}

func (p *Postgres) Search(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	args := []any{workspaceID}
	where := []string{`workspace_id = $1`, `NOT deleted`}
	like := func(term string, cols ...string) {
		if term == "" {
			return
		}
		args = append(args, "%"+projections.EscapeLike(term)+"%")
		var ors []string
		for _, c := range cols {
			ors = append(ors, fmt.Sprintf(`%s ILIKE $%d ESCAPE '\'`, c, len(args)))
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	like(f.Name, "name")
	like(f.Company, "company")
	like(f.City, "city")
	like(f.Email, "email")
	like(f.Query, "name", "company", "city", "email", "title", "notes")
	args = append(args, f.Limit)
	// The window count runs over every match before LIMIT, so the total and
	// the page come from one snapshot.
	rows, err := p.pool.Query(ctx, `SELECT `+columns+`, count(*) OVER () FROM contacts WHERE `+
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY name COLLATE "C", id LIMIT $%d`, len(args)), args...)
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
