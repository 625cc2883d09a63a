// Package projectiontest is what every read model's store suite stands on:
// recorded events in log order, applying a batch, reading the checkpoint,
// and a fresh migrated database for each Postgres case. Each read model's
// suite keeps only its own events and queries.
package projectiontest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// T0 has nanoseconds on purpose: every store must cut them the same way.
var T0 = time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)

// US is t as a read model keeps it: UTC, to the microsecond.
func US(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Log hands out global positions in order, like the event store does.
type Log struct{ seq uint64 }

// Rec records f as the event at version of stream, by the system, at T0.
func (l *Log) Rec(t testing.TB, stream string, version int64, f es.Fact) es.Recorded {
	t.Helper()
	return l.RecBy(t, "system", stream, version, f)
}

// RecBy records f as Rec does, by an actor of the given kind.
func (l *Log) RecBy(t testing.TB, actor, stream string, version int64, f es.Fact) es.Recorded {
	t.Helper()
	ev, err := es.NewEvent(uuid.NewString(), f, es.Metadata{Actor: es.Actor{Kind: actor}, OccurredAt: T0})
	if err != nil {
		t.Fatal(err)
	}
	l.seq++
	return es.Recorded{ID: ev.ID, Stream: stream, StreamVersion: version, Position: es.Position{Seq: l.seq},
		Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata}
}

// Store is what every read model's store does with the log.
type Store interface {
	Apply(ctx context.Context, batch []es.Recorded) error
	Checkpoint(ctx context.Context) (es.Position, error)
}

// Apply applies a batch or fails the test.
func Apply(t testing.TB, s Store, batch ...es.Recorded) {
	t.Helper()
	if err := s.Apply(context.Background(), batch); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// Checkpoint reads the store's checkpoint or fails the test.
func Checkpoint(t testing.TB, s Store) es.Position {
	t.Helper()
	cp, err := s.Checkpoint(context.Background())
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

// Connect gives each case its own migrated database, so no state leaks
// between cases.
func Connect(t testing.TB) *pgxpool.Pool {
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

// OverStores runs a read model's suite over each of its stores, as the
// subtests "memory" and "postgres": one suite for the port, every adapter
// held to it. Each Postgres case gets a database of its own.
func OverStores[S any](t *testing.T, memory func() S, postgres func(*pgxpool.Pool) S,
	suite func(t *testing.T, newStore func(t *testing.T) S)) {
	t.Run("memory", func(t *testing.T) { suite(t, func(*testing.T) S { return memory() }) })
	t.Run("postgres", func(t *testing.T) { suite(t, func(t *testing.T) S { return postgres(Connect(t)) }) })
}
