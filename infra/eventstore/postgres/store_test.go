package postgres

import (
	"context"
	neturl "net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/eventstoretest"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// connect opens a migrated pool on url through pg.Connect, as the gateway
// does. The pool is large enough for every appender of the race test to
// hold its own connection, so they really run at once.
func connect(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "16")
	u.RawQuery = q.Encode()
	pool, err := pg.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newStore(t testing.TB) (*Store, string) {
	url := pgtest.NewDatabase(t)
	return New(connect(t, url)), url
}

func TestContract(t *testing.T) {
	var (
		mu   sync.Mutex
		urls = map[eventstore.Store]string{}
	)
	open := func(t *testing.T) eventstore.Store {
		st, url := newStore(t)
		mu.Lock()
		defer mu.Unlock()
		urls[st] = url
		return st
	}
	// A restart is a new pool (new sessions, migrations run again) on the
	// same database.
	reopen := func(t *testing.T, old eventstore.Store) eventstore.Store {
		if err := old.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		st := New(connect(t, urls[old]))
		urls[st] = urls[old]
		return st
	}
	// The slow append holds its transaction open after inserting, so its
	// transaction id and positions are taken while everyone else commits.
	slow := func(ctx context.Context, s eventstore.Store, stream string, events []es.Event, hold func(context.Context) error) (es.AppendResult, error) {
		return s.(*Store).append(ctx, stream, es.NoStream, events, hooks{beforeCommit: hold})
	}
	// Tampering is a superuser's UPDATE on one row, behind the store.
	tamper := func(t *testing.T, s eventstore.Store, stream string, version int64) eventstore.Store {
		tag, err := s.(*Store).pool.Exec(t.Context(), `
			UPDATE events SET data = jsonb_set(data, '{tampered}', 'true')
			WHERE stream_id = $1 AND stream_version = $2`, stream, version)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("tamper with %s version %d: %d rows, %v", stream, version, tag.RowsAffected(), err)
		}
		return s
	}
	eventstoretest.Run(t, open,
		eventstoretest.WithReopen(reopen),
		eventstoretest.WithSlowAppend(slow),
		eventstoretest.WithTamper(tamper))
}

// BenchmarkAppend: parallel single-event appends to distinct streams.
func BenchmarkAppend(b *testing.B) {
	eventstoretest.BenchmarkAppend(b, func(b *testing.B) eventstore.Store {
		st, _ := newStore(b)
		return st
	})
}
