package conversations

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	fastjson "github.com/segmentio/encoding/json"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in the conversations table.
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

func (p *Postgres) Name() string { return Name }

func (p *Postgres) Checkpoint(ctx context.Context) (es.Position, error) {
	return projections.PgCheckpoint(ctx, p.pool, Name)
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	// The key usage sums move in the same transaction, by what the saved
	// views counted for before the batch and count for after it.
	var before map[string]counted
	load := func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]View, error) {
		views, err := lockMany(ctx, tx, ids)
		before = make(map[string]counted, len(views))
		for id, v := range views {
			before[id] = countOf(&v)
		}
		return views, err
	}
	save := func(ctx context.Context, tx pgx.Tx, vs []View) error {
		if err := upsertMany(ctx, tx, vs); err != nil {
			return err
		}
		d := usageDelta{}
		for i := range vs {
			if c, ok := before[vs[i].ID]; ok {
				d.move(c, -1)
			}
			d.move(countOf(&vs[i]), 1)
		}
		return saveUsage(ctx, tx, d)
	}
	return projections.PgFold(ctx, p.pool, Name, batch, isConversation, idOf, load, Fold, save)
}

// lockMany reads the views of a batch's conversations for Apply. The
// rows stay locked until the batch commits, so a second instance cannot
// fold them from a stale version.
func lockMany(ctx context.Context, tx pgx.Tx, ids []string) (map[string]View, error) {
	rows, err := tx.Query(ctx, `SELECT view FROM conversations WHERE id = ANY($1::text[]::uuid[]) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	views, err := scanViews(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]View, len(views))
	for _, v := range views {
		out[v.ID] = v
	}
	return out, nil
}

// upsertMany writes a batch's folded conversations back in one statement.
func upsertMany(ctx context.Context, tx pgx.Tx, vs []View) error {
	n := len(vs)
	var (
		ids, ws, users, keys, statuses = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created, expires, updated      = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		versions                       = make([]int64, n)
		docs                           = make([][]byte, n)
		whStatus                       = make([]*string, n)
		whNext, whClaimed              = make([]*time.Time, n), make([]*time.Time, n)
	)
	for i, v := range vs {
		doc, err := fastjson.Marshal(v)
		if err != nil {
			return err
		}
		ids[i], ws[i], users[i], keys[i], statuses[i] = v.ID, v.WorkspaceID, v.UserID, v.APIKeyID, v.Status
		created[i], expires[i], updated[i], versions[i], docs[i] = v.CreatedAt, v.ExpiresAt, v.UpdatedAt, v.Version, doc
		if w := v.Webhook; w != nil {
			whStatus[i], whNext[i], whClaimed[i] = &w.Status, w.NextAttemptAt, w.ClaimedAt
			if w.Delivery == 0 && !v.Terminal() {
				whStatus[i] = nil // nothing can start before the conversation ends
			}
		}
	}
	_, err := tx.Exec(ctx, `
INSERT INTO conversations (id, workspace_id, user_id, api_key_id, status, created_at, expires_at, updated_at, version, view,
  webhook_status, webhook_next_at, webhook_claimed_at)
SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::text[]::uuid[], $4::text[]::uuid[], $5::text[], $6::timestamptz[], $7::timestamptz[],
  $8::timestamptz[], $9::bigint[], $10::jsonb[], $11::text[], $12::timestamptz[], $13::timestamptz[])
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
  version = EXCLUDED.version, view = EXCLUDED.view, webhook_status = EXCLUDED.webhook_status,
  webhook_next_at = EXCLUDED.webhook_next_at, webhook_claimed_at = EXCLUDED.webhook_claimed_at`,
		ids, ws, users, keys, statuses, created, expires, updated, versions, docs, whStatus, whNext, whClaimed)
	return err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func get(ctx context.Context, q querier, id string, forUpdate bool) (View, bool, error) {
	sql := `SELECT view FROM conversations WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var doc []byte
	err := q.QueryRow(ctx, sql, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, false, nil
	}
	if err != nil {
		return View{}, false, err
	}
	var v View
	if err := fastjson.Unmarshal(doc, &v); err != nil {
		return View{}, false, err
	}
	return v, true, nil
}

func (p *Postgres) Get(ctx context.Context, id string) (View, bool, error) {
	return get(ctx, p.pool, id, false)
}

func (p *Postgres) Unfinished(ctx context.Context, limit int) ([]View, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := p.pool.Query(ctx, `SELECT view FROM conversations WHERE status IN ('open', 'processing')
ORDER BY updated_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return scanViews(rows)
}

func (p *Postgres) Stalled(ctx context.Context, before time.Time, limit int) ([]View, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := p.pool.Query(ctx, `SELECT view FROM conversations WHERE status IN ('open', 'processing') AND updated_at < $1
ORDER BY updated_at, id LIMIT $2`, before, limit)
	if err != nil {
		return nil, err
	}
	return scanViews(rows)
}

func scanViews(rows pgx.Rows) ([]View, error) {
	defer rows.Close()
	var out []View
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var v View
		if err := fastjson.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (p *Postgres) UsageByKey(ctx context.Context, keyID string) (Usage, error) {
	u := NewUsage()
	rows, err := p.pool.Query(ctx, `
SELECT status, conversations, model_steps, tool_calls, input_tokens, output_tokens, failed_for_budget,
       webhooks_pending, webhooks_delivered, webhooks_failed
FROM conversation_usage WHERE api_key_id = $1::text::uuid`, keyID)
	if err != nil {
		return u, err
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var r usageRow
		if err := rows.Scan(&status, &r.conversations, &r.steps, &r.toolCalls, &r.inputTokens, &r.outputTokens,
			&r.failedForBudget, &r.webhooks[0], &r.webhooks[1], &r.webhooks[2]); err != nil {
			return u, err
		}
		r.into(&u, status)
	}
	return u, rows.Err()
}

func (p *Postgres) DueWebhooks(ctx context.Context, now time.Time, stale time.Duration, limit int) ([]View, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := p.pool.Query(ctx, `SELECT view FROM conversations
WHERE webhook_status = 'pending'
  AND ((webhook_claimed_at IS NULL AND (webhook_next_at IS NULL OR webhook_next_at <= $1))
       OR webhook_claimed_at <= $2)
ORDER BY updated_at, id LIMIT $3`, now, now.Add(-stale), limit)
	if err != nil {
		return nil, err
	}
	return scanViews(rows)
}
