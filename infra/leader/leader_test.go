package leader

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two instances campaign for one role: exactly one runs it; when the
// leader's session dies, the other takes over.
func TestOneLeaderAndFailover(t *testing.T) {
	url := pgtest.NewDatabase(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var running atomic.Int32
	var maxRunning atomic.Int32
	var runs atomic.Int32
	role := "saga.test"
	start := func(name string) (*pgxpool.Pool, *Roles, context.CancelFunc) {
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		roles := &Roles{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(ctx, pool, roles, role, 50*time.Millisecond, logger, func(ctx context.Context) {
				runs.Add(1)
				n := running.Add(1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				<-ctx.Done()
				running.Add(-1)
			})
		}()
		t.Cleanup(func() { cancel(); <-done; pool.Close() })
		return pool, roles, cancel
	}
	poolA, rolesA, stopA := start("A")
	eventually(t, "A to lead", func() bool { return len(rolesA.Held()) == 1 })
	_, rolesB, _ := start("B")
	time.Sleep(300 * time.Millisecond) // B campaigns several times meanwhile
	if len(rolesB.Held()) != 0 || running.Load() != 1 {
		t.Fatalf("B holds %v while A leads; %d running", rolesB.Held(), running.Load())
	}
	if w := rolesB.Waiting(); len(w) != 1 || w[0] != role {
		t.Fatalf("B waits for %v, want [%s]", w, role)
	}
	// A's database session dies (as when its process is killed). Only
	// lock holders in this test's own database: other packages' tests
	// (goose's migration lock, other leaders) share the server.
	if _, err := poolA.Exec(context.Background(), `
SELECT pg_terminate_backend(pid) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to take over", func() bool { return len(rolesB.Held()) == 1 })
	stopA()
	eventually(t, "one runner", func() bool { return running.Load() == 1 })
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d instances ran the role at once", m)
	}
	if runs.Load() < 2 {
		t.Fatalf("the role ran %d times; want A then B", runs.Load())
	}
}
