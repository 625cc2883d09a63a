package emails

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in the emails table.
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

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
	return p.One(ctx, `id = $1 AND workspace_id = $2`, id, workspaceID)
}

func (p *Postgres) List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	if !projections.IsUUID(workspaceID) {
		return nil, 0, nil
	}
	w := projections.InWorkspace(workspaceID).Like(f.Query, "subject", "body")
	if f.To != "" {
		w.Add(`EXISTS (SELECT 1 FROM unnest(to_addrs) AS a(addr) WHERE a.addr ILIKE %s ESCAPE '\')`, projections.Pattern(f.To))
	}
	if f.ContactID != "" {
		w.Add(`contact_ids @> %s::text[]`, []string{f.ContactID})
	}
	return p.Page(ctx, w, `queued_at DESC, id DESC`, f.Limit, "")
}
