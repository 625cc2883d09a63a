package emails

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

// Postgres keeps the read model in the emails table.
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

func (p *Postgres) Name() string { return Name }

func (p *Postgres) Checkpoint(ctx context.Context) (es.Position, error) {
	return projections.PgCheckpoint(ctx, p.pool, Name)
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgFold(ctx, p.pool, Name, batch, isEmail, idOf, projections.EachRow(lock), Fold, projections.EachSave(upsert))
}

// lock reads an email's view for Apply. The row stays locked until the batch
// commits, so a second instance cannot fold it from a stale version.
func lock(ctx context.Context, tx pgx.Tx, id string) (View, error) {
	v, _, err := get(ctx, tx, `WHERE id = $1 FOR UPDATE`, id)
	return v, err
}

// upsert writes a folded email back.
func upsert(ctx context.Context, tx pgx.Tx, v View) error {
	_, err := tx.Exec(ctx, `
INSERT INTO emails (id, workspace_id, from_addr, to_addrs, subject, body, contact_ids, team_id, status, transport,
  message_id, failure_reason, queued_at, sent_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, transport = EXCLUDED.transport,
  message_id = EXCLUDED.message_id, failure_reason = EXCLUDED.failure_reason, sent_at = EXCLUDED.sent_at,
  version = EXCLUDED.version`,
		v.ID, v.WorkspaceID, v.From, v.To, v.Subject, v.Body, v.ContactIDs, v.TeamID, v.Status, v.Transport,
		v.MessageID, v.FailureReason, v.QueuedAt, v.SentAt, v.Version)
	return err
}

const columns = `id, workspace_id, from_addr, to_addrs, subject, body, contact_ids, team_id, status, transport,
  message_id, failure_reason, queued_at, sent_at, version`

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func get(ctx context.Context, q querier, where string, args ...any) (View, bool, error) {
	v, err := scanView(q.QueryRow(ctx, `SELECT `+columns+` FROM emails `+where, args...))
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
	var sent *time.Time
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.From, &v.To, &v.Subject, &v.Body, &v.ContactIDs,
		&v.TeamID, &v.Status, &v.Transport, &v.MessageID, &v.FailureReason, &v.QueuedAt, &sent, &v.Version}, extra...)...)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	v.QueuedAt = v.QueuedAt.UTC()
	if sent != nil {
		t := sent.UTC()
		v.SentAt = &t
	}
	v.To, v.ContactIDs = list(v.To), list(v.ContactIDs)
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
	f = f.normalized()
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	args := []any{workspaceID}
	where := []string{`workspace_id = $1`}
	if f.To != "" {
		args = append(args, "%"+projections.EscapeLike(f.To)+"%")
		where = append(where, fmt.Sprintf(`EXISTS (SELECT 1 FROM unnest(to_addrs) AS a(addr) WHERE a.addr ILIKE $%d ESCAPE '\')`, len(args)))
	}
	if f.ContactID != "" {
		args = append(args, []string{f.ContactID})
		where = append(where, fmt.Sprintf(`contact_ids @> $%d::text[]`, len(args)))
	}
	if f.Query != "" {
		args = append(args, "%"+projections.EscapeLike(f.Query)+"%")
		n := len(args)
		where = append(where, fmt.Sprintf(`(subject ILIKE $%d ESCAPE '\' OR body ILIKE $%d ESCAPE '\')`, n, n))
	}
	args = append(args, f.Limit)
	// The window count runs over every match before LIMIT, so the total and
	// the page come from one snapshot.
	rows, err := p.pool.Query(ctx, `SELECT `+columns+`, count(*) OVER () FROM emails WHERE `+
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY queued_at DESC, id DESC LIMIT $%d`, len(args)), args...)
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
