package conversations

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	fastjson "github.com/segmentio/encoding/json"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the conversations read model: a projection plus its queries.
type Store interface {
	projections.Projection
	// Get returns one conversation's view.
	Get(ctx context.Context, id string) (View, bool, error)
	// Unfinished lists conversations that are open or processing, least
	// recently updated first.
	Unfinished(ctx context.Context, limit int) ([]View, error)
	// Stalled lists the unfinished conversations last updated before
	// before, least recently updated first: what the reaper looks at, and
	// no more, so its sweep costs what is stalled, not what is running.
	Stalled(ctx context.Context, before time.Time, limit int) ([]View, error)
	// ByUser lists a user's conversations in a workspace, newest first
	// (created_at, then id, descending), a page at a time.
	ByUser(ctx context.Context, q UserQuery) ([]View, error)
	// UsageByKey adds up a key's conversations.
	UsageByKey(ctx context.Context, keyID string) (Usage, error)
	// DueWebhooks lists conversations whose webhook delivery waits for an
	// attempt, or to start one, at now (see View.WebhookDue), oldest first.
	DueWebhooks(ctx context.Context, now time.Time, stale time.Duration, limit int) ([]View, error)
}

// UserQuery picks a page of a user's conversations: those of Status (""
// any) created at or after Since (zero: any), older than the row Before
// names (nil: from the newest), at most Limit.
type UserQuery struct {
	WorkspaceID, UserID, Status string
	Since                       time.Time
	Before                      *Place
	Limit                       int
}

// Place is a conversation's place in the newest-first order.
type Place struct {
	CreatedAt time.Time
	ID        string
}

// older reports whether v comes after the place in newest-first order.
func (p *Place) older(v View) bool {
	at := v.CreatedAt.Truncate(time.Microsecond) // as the database keeps it
	return p == nil || at.Before(p.CreatedAt) || at.Equal(p.CreatedAt) && v.ID < p.ID
}

func (q UserQuery) matches(v View) bool {
	return v.WorkspaceID == q.WorkspaceID && v.UserID == q.UserID && (q.Status == "" || v.Status == q.Status) &&
		!v.CreatedAt.Before(q.Since) && q.Before.older(v)
}

const (
	conversationPrefix = "conversation-"
	webhookPrefix      = "webhook-"
)

// rows is the read model as the kit sees it: a conversation and its
// webhook deliveries fold into one row, kept as a JSON view beside the
// columns the queries use.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: conversationPrefix, Also: []string{webhookPrefix}, Fold: Fold, Clone: clone,
	Key: func(v View) string { return v.ID }, Table: "conversations", Columns: "view", Scan: scanView, Save: upsertMany,
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct {
	*projections.InMemory[View]
	usage memoryUsage
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	m := &Memory{InMemory: rows.InMemory()}
	// The key usage sums move by what each view counted for before the
	// batch and counts for after it, as in Postgres.
	m.Views.OnSave = func(before View, had bool, after View) {
		d := usageDelta{}
		if had {
			d.move(countOf(&before), -1)
		}
		d.move(countOf(&after), 1)
		m.usage.apply(d)
	}
	return m
}

// clone copies what Fold changes in place, the turns and the webhook with
// its history, so a view handed out earlier never changes under its reader.
func clone(v View) View {
	v.Turns = append([]Turn(nil), v.Turns...)
	if v.Webhook != nil {
		wh := *v.Webhook
		wh.History = append([]Attempt(nil), v.Webhook.History...)
		v.Webhook = &wh
	}
	return v
}

func (m *Memory) Get(_ context.Context, id string) (View, bool, error) {
	v, ok := m.Views.Get(id)
	return v, ok, nil
}

func (m *Memory) Unfinished(_ context.Context, limit int) ([]View, error) {
	var out []View
	for v := range m.Views.All() {
		if !v.Terminal() {
			out = append(out, v)
		}
	}
	return leastRecentFirst(out, limit), nil
}

func (m *Memory) Stalled(_ context.Context, before time.Time, limit int) ([]View, error) {
	var out []View
	for v := range m.Views.All() {
		if !v.Terminal() && v.UpdatedAt.Before(before) {
			out = append(out, v)
		}
	}
	return leastRecentFirst(out, limit), nil
}

func (m *Memory) ByUser(_ context.Context, q UserQuery) ([]View, error) {
	var out []View
	for v := range m.Views.All() {
		if q.matches(v) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.After(out[j].CreatedAt) || out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID > out[j].ID
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (m *Memory) UsageByKey(_ context.Context, keyID string) (Usage, error) {
	return m.usage.of(keyID), nil
}

func (m *Memory) DueWebhooks(_ context.Context, now time.Time, stale time.Duration, limit int) ([]View, error) {
	var out []View
	for v := range m.Views.All() {
		if v.WebhookDue(now, stale) {
			out = append(out, v)
		}
	}
	return leastRecentFirst(out, limit), nil
}

// leastRecentFirst is the order of Unfinished and DueWebhooks: least
// recently updated first, then by id. It keeps at most limit views (all if
// limit <= 0).
func leastRecentFirst(out []View, limit int) []View {
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.Before(out[j].UpdatedAt)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Postgres keeps the read model in the conversations table.
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	// The key usage sums move in the same transaction, by what the saved
	// views counted for before the batch and count for after it.
	var before map[string]counted
	load := func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]View, error) {
		views, err := p.LockMany(ctx, tx, ids)
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
	return p.ApplyWith(ctx, batch, load, save)
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
			switch {
			case v.WebhookStartDue():
				// The latest turn ended and its delivery has not begun.
				pending := "pending"
				whStatus[i], whNext[i], whClaimed[i] = &pending, nil, nil
			case !v.webhookStarted() && (w.Delivery == 0 || w.Status != "pending"):
				// Nothing to do until the latest turn ends. (An earlier
				// turn's delivery still retrying keeps its columns.)
				whStatus[i] = nil
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

// scanView reads the JSON view.
func scanView(row pgx.Row, extra ...any) (View, error) {
	var doc []byte
	var v View
	if err := row.Scan(append([]any{&doc}, extra...)...); err != nil {
		return v, err
	}
	return v, fastjson.Unmarshal(doc, &v)
}

func (p *Postgres) Get(ctx context.Context, id string) (View, bool, error) {
	if !projections.IsUUID(id) {
		return View{}, false, nil
	}
	return p.One(ctx, `id = $1`, id)
}

// unfinished picks the conversations that are open or processing.
const unfinished = `status IN ('open', 'processing')`

// sweep reads the first limit rows w picks, least recently updated first.
func (p *Postgres) sweep(ctx context.Context, w *projections.Where, limit int) ([]View, error) {
	if limit <= 0 {
		limit = 1000
	}
	return p.List(ctx, w, `updated_at, id`, limit)
}

func (p *Postgres) Unfinished(ctx context.Context, limit int) ([]View, error) {
	return p.sweep(ctx, new(projections.Where).Add(unfinished), limit)
}

func (p *Postgres) Stalled(ctx context.Context, before time.Time, limit int) ([]View, error) {
	return p.sweep(ctx, new(projections.Where).Add(unfinished).Add(`updated_at < %s`, before), limit)
}

func (p *Postgres) ByUser(ctx context.Context, q UserQuery) ([]View, error) {
	if !projections.IsUUID(q.WorkspaceID) || !projections.IsUUID(q.UserID) {
		return nil, nil
	}
	w := new(projections.Where).Add(`user_id = %s::text::uuid`, q.UserID).Add(`workspace_id = %s::text::uuid`, q.WorkspaceID).
		As(q.WorkspaceID)
	if q.Status != "" {
		w.Add(`status = %s`, q.Status)
	}
	if !q.Since.IsZero() {
		w.Add(`created_at >= %s`, q.Since)
	}
	if q.Before != nil {
		w.Add(`(created_at, id) < (%s, %s::text::uuid)`, q.Before.CreatedAt, q.Before.ID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	return p.List(ctx, w, `created_at DESC, id DESC`, limit)
}

func (p *Postgres) UsageByKey(ctx context.Context, keyID string) (Usage, error) {
	u := NewUsage()
	rows, err := projections.Query(ctx, p.Pool, "", `
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
	return p.sweep(ctx, new(projections.Where).Add(`webhook_status = 'pending' AND
  ((webhook_claimed_at IS NULL AND (webhook_next_at IS NULL OR webhook_next_at <= %[1]s)) OR webhook_claimed_at <= %[2]s)`,
		now, now.Add(-stale)), limit)
}
