package migrations_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/migrations"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

func newPool(t *testing.T, ctx context.Context, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Two gateway processes starting at once against a new database must both
// come up, with every migration applied exactly once.
func TestUpFromTwoProcessesAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	url := pgtest.NewDatabase(t)
	pools := []*pgxpool.Pool{newPool(t, ctx, url), newPool(t, ctx, url)}

	var wg sync.WaitGroup
	errs := make([]error, len(pools))
	for i, p := range pools {
		wg.Go(func() { errs[i] = migrations.Up(ctx, p) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}

	var applied, distinct int
	err := pools[0].QueryRow(ctx,
		`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied`,
	).Scan(&applied, &distinct)
	if err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	if applied == 0 || applied != distinct {
		t.Errorf("goose recorded %d applications of %d migrations, want each once", applied, distinct)
	}
	for _, table := range []string{"streams", "events", "subscription_checkpoints"} {
		var exists bool
		if err := pools[0].QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s missing after migrations (err %v)", table, err)
		}
	}

	// Starting again later finds nothing to do.
	if err := migrations.Up(ctx, pools[1]); err != nil {
		t.Fatalf("second up: %v", err)
	}
}
