package emails

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

func TestPostgresStore(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) Store { return NewPostgres(connect(t)) })
}

// connect gives each subtest its own migrated database, so no state leaks
// between cases.
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
