package projectiontest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Contract describes a read model of one view per stream to the suite
// every such read model passes, over each of its stores: what makes it a
// projection (the checkpoint, replays, gaps, foreign events, batches all
// or nothing), as opposed to what its rows hold, which its own suite
// tests.
type Contract[V any] struct {
	// Name is the projection's name, which keys its checkpoint.
	Name string
	// Open records, on l, the event at version that opens stream id in
	// workspace ws (its Created); Change records the event at version that
	// changes the view. Each call with other values must make a view that
	// reads back different.
	Open   func(l *Log, t testing.TB, id, ws string, version int64) es.Recorded
	Change func(l *Log, t testing.TB, id string, version int64) es.Recorded
	// Read reads the view of id in workspace ws back.
	Read func(t testing.TB, s projections.Projection, ws, id string) (V, bool)
	// Strict read models refuse an event out of place: a stream that does
	// not start with its Open event, or a second Open.
	Strict bool
}

// Run runs the contract over the store newStore makes (a fresh one each
// case).
func (c Contract[V]) Run(t *testing.T, newStore func(t *testing.T) projections.Projection) {
	ws := uuid.NewString()
	t.Run("contract: name, and an empty store starts at the beginning", func(t *testing.T) {
		s := newStore(t)
		if got := s.Name(); got != c.Name {
			t.Fatalf("Name() = %q, want %q", got, c.Name)
		}
		if cp := Checkpoint(t, s); cp != es.Start {
			t.Fatalf("checkpoint = %v, want start", cp)
		}
		Apply(t, s) // an empty batch is no error
		if _, ok := c.Read(t, s, ws, uuid.NewString()); ok {
			t.Fatal("an empty store returned a view")
		}
	})

	t.Run("contract: the checkpoint is the batch's last event", func(t *testing.T) {
		s := newStore(t)
		var l Log
		a, b := uuid.NewString(), uuid.NewString()
		batch := []es.Recorded{c.Open(&l, t, a, ws, 1), c.Open(&l, t, b, ws, 1), c.Change(&l, t, a, 2)}
		// Positions as the Postgres event store hands them out: Tx counts.
		for i := range batch {
			batch[i].Position = es.Position{Tx: 7, Seq: uint64(10 + i)}
		}
		Apply(t, s, batch...)
		if cp := Checkpoint(t, s); cp != (es.Position{Tx: 7, Seq: 12}) {
			t.Fatalf("checkpoint = %v, want 7:12", cp)
		}
		for _, id := range []string{a, b} {
			if _, ok := c.Read(t, s, ws, id); !ok {
				t.Fatalf("view %s missing after its batch", id)
			}
		}
	})

	t.Run("contract: replays change nothing", func(t *testing.T) {
		s := newStore(t)
		var l Log
		a, b := uuid.NewString(), uuid.NewString()
		batch := []es.Recorded{c.Open(&l, t, a, ws, 1), c.Open(&l, t, b, ws, 1), c.Change(&l, t, a, 2), c.Change(&l, t, b, 2)}
		Apply(t, s, batch...)
		before := c.read(t, s, ws, a, b)
		cp := Checkpoint(t, s)
		Apply(t, s, batch...)
		Apply(t, s, batch[1:3]...)
		if after := c.read(t, s, ws, a, b); !reflect.DeepEqual(before, after) {
			t.Fatalf("a replay changed the views:\n%+v\n%+v", before, after)
		}
		if got := Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved back: %v -> %v", cp, got)
		}
		// A version the view holds, delivered again at a new position, is
		// skipped, and the checkpoint still moves past it.
		stale := []es.Recorded{c.Open(&l, t, a, ws, 1), c.Change(&l, t, a, 2)}
		Apply(t, s, stale...)
		if after := c.read(t, s, ws, a, b); !reflect.DeepEqual(before, after) {
			t.Fatalf("stale events were applied:\n%+v\n%+v", before, after)
		}
		if got := Checkpoint(t, s); got != stale[1].Position {
			t.Fatalf("checkpoint = %v, want %v", got, stale[1].Position)
		}
	})

	t.Run("contract: a version gap refuses the whole batch", func(t *testing.T) {
		s := newStore(t)
		var l Log
		a, b := uuid.NewString(), uuid.NewString()
		Apply(t, s, c.Open(&l, t, a, ws, 1))
		cp := Checkpoint(t, s)
		before := c.read(t, s, ws, a)
		batch := []es.Recorded{c.Open(&l, t, b, ws, 1), c.Change(&l, t, a, 2), c.Change(&l, t, a, 4)}
		if err := s.Apply(context.Background(), batch); !errors.Is(err, projections.ErrGap) {
			t.Fatalf("apply with a gap: err = %v, want ErrGap", err)
		}
		// Nothing of the refused batch may stick: the runner retries it
		// from the unchanged checkpoint.
		if got := Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved to %v on a refused batch, want %v", got, cp)
		}
		if after := c.read(t, s, ws, a); !reflect.DeepEqual(before, after) {
			t.Fatalf("a refused batch changed a view:\n%+v\n%+v", before, after)
		}
		if v, ok := c.Read(t, s, ws, b); ok {
			t.Fatalf("a refused batch made a view: %+v", v)
		}
		// A stream whose first event is missing is a gap too.
		orphan := uuid.NewString()
		if err := s.Apply(context.Background(), []es.Recorded{c.Change(&l, t, orphan, 2)}); !errors.Is(err, projections.ErrGap) {
			t.Fatalf("a change without its opening: err = %v, want ErrGap", err)
		}
		// Once the missing event arrives in order, the stream goes on.
		Apply(t, s, batch[0], batch[1])
		if after := c.read(t, s, ws, a); reflect.DeepEqual(before, after) {
			t.Fatal("the in-order retry did not apply")
		}
	})

	if c.Strict {
		t.Run("contract: events out of place are refused", func(t *testing.T) {
			s := newStore(t)
			var l Log
			id := uuid.NewString()
			if err := s.Apply(context.Background(), []es.Recorded{c.Change(&l, t, id, 1)}); err == nil {
				t.Fatal("a stream that does not start with its opening event was accepted")
			}
			Apply(t, s, c.Open(&l, t, id, ws, 1))
			before := c.read(t, s, ws, id)
			if err := s.Apply(context.Background(), []es.Recorded{c.Open(&l, t, id, uuid.NewString(), 2)}); err == nil {
				t.Fatal("a second opening event was accepted")
			}
			if after := c.read(t, s, ws, id); !reflect.DeepEqual(before, after) {
				t.Fatalf("a refused event changed the view:\n%+v\n%+v", before, after)
			}
		})
	}

	t.Run("contract: other streams are ignored and never move the checkpoint elsewhere", func(t *testing.T) {
		s := newStore(t)
		var l Log
		id := uuid.NewString()
		// This read model's own event, on a stream of another kind.
		foreign := c.Open(&l, t, id, ws, 1)
		foreign.Stream = "elsewhere-" + id
		Apply(t, s, foreign)
		// A batch with nothing for this read model may leave the stored
		// checkpoint where it was (the runner keeps its place in memory);
		// it must never point anywhere else.
		if cp := Checkpoint(t, s); cp != foreign.Position && cp != es.Start {
			t.Fatalf("checkpoint = %v, want %v or the start", cp, foreign.Position)
		}
		if v, ok := c.Read(t, s, ws, id); ok {
			t.Fatalf("a foreign stream made a view: %+v", v)
		}
		Apply(t, s, c.Open(&l, t, id, ws, 1))
		if _, ok := c.Read(t, s, ws, id); !ok {
			t.Fatal("the view is missing after foreign events")
		}
	})
}

// read reads the views of ids, found or not, for comparing states.
func (c Contract[V]) read(t testing.TB, s projections.Projection, ws string, ids ...string) []any {
	t.Helper()
	var out []any
	for _, id := range ids {
		v, ok := c.Read(t, s, ws, id)
		out = append(out, v, ok)
	}
	return out
}
