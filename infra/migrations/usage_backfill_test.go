package migrations

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// A database upgraded to per-key usage sums starts with the sums of the
// conversations it already holds.
func TestUsageSumsStartFromTheConversationsThere(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	provider, closeDB, err := newProvider(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	if _, err := provider.UpTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	key, other := uuid.NewString(), uuid.NewString()
	for _, c := range []struct {
		key, status, view string
	}{
		{key, "resolved", `{"steps": 2, "tool_calls": 1, "input_tokens": 100, "output_tokens": 20, "webhook": {"status": "delivered"}}`},
		{key, "resolved", `{"steps": 1, "tool_calls": 0, "input_tokens": 50, "output_tokens": 5}`},
		{key, "failed", `{"steps": 1, "input_tokens": 10, "error": {"code": "BUDGET_EXCEEDED"}, "webhook": {"status": "failed"}}`},
		{other, "open", `{}`},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO conversations (id, workspace_id, user_id, api_key_id, status, created_at, expires_at, updated_at, version, view)
			VALUES ($1, $2, $2, $3, $4, now(), now(), now(), 1, $5)`, uuid.NewString(), uuid.NewString(), c.key, c.status, c.view); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := provider.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	type row struct{ convs, steps, tools, in, out, budget, pending, delivered, failed int64 }
	got := map[string]row{}
	rows, err := pool.Query(ctx, `SELECT api_key_id::text || '/' || status, conversations, model_steps, tool_calls, input_tokens, output_tokens,
		failed_for_budget, webhooks_pending, webhooks_delivered, webhooks_failed FROM conversation_usage`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var r row
		if err := rows.Scan(&k, &r.convs, &r.steps, &r.tools, &r.in, &r.out, &r.budget, &r.pending, &r.delivered, &r.failed); err != nil {
			t.Fatal(err)
		}
		got[k] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]row{
		key + "/resolved": {convs: 2, steps: 3, tools: 1, in: 150, out: 25, delivered: 1},
		key + "/failed":   {convs: 1, steps: 1, in: 10, budget: 1, failed: 1},
		other + "/open":   {convs: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("sums %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %+v, want %+v", k, got[k], w)
		}
	}
}

// Upgrading to costed views empties the conversations read model and its
// checkpoint, so the gateway folds every view again from the log: a view
// folded before would report no cost.
func TestCostedViewsAreFoldedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	provider, closeDB, err := newProvider(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	if _, err := provider.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	key := uuid.NewString()
	if _, err := pool.Exec(ctx, `INSERT INTO conversations (id, workspace_id, user_id, api_key_id, status, created_at, expires_at, updated_at, version, view)
		VALUES ($1, $2, $2, $3, 'resolved', now(), now(), now(), 3, '{"steps": 1}')`, uuid.NewString(), uuid.NewString(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO conversation_usage VALUES ($1, 'resolved', 1, 1, 0, 0, 0, 0, 0, 0, 0)`, key); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, tx, seq) VALUES ('conversations', 5, 9), ('contacts', 5, 9)`); err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatal(err)
	}
	var convs, sums, checkpoints int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM conversation_usage),
		(SELECT count(*) FROM projection_checkpoints WHERE name = 'conversations')`).Scan(&convs, &sums, &checkpoints); err != nil {
		t.Fatal(err)
	}
	if convs != 0 || sums != 0 || checkpoints != 0 {
		t.Fatalf("after the upgrade: %d views, %d usage rows, %d checkpoints of conversations; want none", convs, sums, checkpoints)
	}
	var others int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM projection_checkpoints WHERE name = 'contacts'`).Scan(&others); err != nil || others != 1 {
		t.Fatalf("other read models' checkpoints: %d (%v), want them kept", others, err)
	}
}
