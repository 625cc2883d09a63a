package contacts

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/projections"
)

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
	return p.One(ctx, `id = $1 AND workspace_id = $2 AND NOT deleted`, id, workspaceID)
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
