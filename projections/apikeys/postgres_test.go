package apikeys

import (
	"context"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/jackc/pgx/v5/pgxpool"
)

// One migrated database for the whole suite; each subtest starts from empty
// tables, which is much cheaper than a database per subtest.
func TestPostgresStore(t *testing.T) {
	pool := projectiontest.Connect(t)
	runStoreSuite(t, func(t *testing.T) Store {
		reset(t, pool)
		return NewPostgres(pool)
	})
}

func reset(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `TRUNCATE api_keys, projection_checkpoints`); err != nil {
		t.Fatalf("reset: %v", err)
	}
}
