package conversations

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// One migrated database for the whole suite; each subtest starts from empty
// tables, which is much cheaper than a database per subtest.
func TestPostgresStore(t *testing.T) {
	pool := connect(t)
	runStoreSuite(t, func(t *testing.T) Store {
		reset(t, pool)
		return NewPostgres(pool)
	}, true)
}

func connect(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pg.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func reset(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `TRUNCATE conversations, projection_checkpoints`); err != nil {
		t.Fatalf("reset: %v", err)
	}
}
