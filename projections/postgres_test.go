package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// A Postgres projection moves its stored checkpoint past batches it
// ignores, at most once a second (the last of a burst when the second is
// over) and never backwards, so that status shows it current.
func TestPgApplyMovesPastIgnoredEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pg.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	const name = "test_idle"
	at := func(seq uint64) es.Recorded {
		return es.Recorded{Stream: "other-1", StreamVersion: int64(seq), Position: es.Position{Tx: 7, Seq: seq}, Type: "Other"}
	}
	ignore := func(es.Recorded) bool { return false }
	var applied int
	apply := func(batch ...es.Recorded) {
		t.Helper()
		if err := projections.PgApply(ctx, pool, name, batch, ignore, func(context.Context, pgx.Tx, es.Recorded) error {
			applied++
			return nil
		}); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	checkpoint := func() es.Position {
		t.Helper()
		cp, err := projections.PgCheckpoint(ctx, pool, name)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}

	apply(at(1), at(2))
	if cp := checkpoint(); cp != at(2).Position {
		t.Fatalf("after an ignored batch the checkpoint is %v, want %v", cp, at(2).Position)
	}
	apply(at(3)) // within the second: written when the second is over
	if cp := checkpoint(); cp != at(2).Position {
		t.Fatalf("a second ignored batch within a second moved the checkpoint to %v at once", cp)
	}
	for deadline := time.Now().Add(5 * time.Second); checkpoint() != at(3).Position; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint stayed at %v; the ignored batch up to %v was never written", checkpoint(), at(3).Position)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	apply(at(1)) // older than the checkpoint: never backwards
	if cp := checkpoint(); cp != at(3).Position {
		t.Fatalf("an older ignored batch moved the checkpoint back to %v", cp)
	}
	time.Sleep(1100 * time.Millisecond)
	apply(at(4), at(5))
	if cp := checkpoint(); cp != at(5).Position {
		t.Fatalf("the checkpoint is %v, want %v", cp, at(5).Position)
	}
	if applied != 0 {
		t.Fatalf("apply ran %d times for events the projection ignores", applied)
	}
}
