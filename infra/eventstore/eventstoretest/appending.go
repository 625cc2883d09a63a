package eventstoretest

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

func (s *suite) testAppendAndReadBack(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	first := NewEvents("ConversationOpened", 3)
	res := mustAppend(t, ctx, st, "conversation-1", es.NoStream, first...)
	if res.Version != 3 {
		t.Errorf("version after appending 3 events to a new stream = %d, want 3", res.Version)
	}
	if res.Position == es.Start {
		t.Errorf("append returned the start of the log as position")
	}

	recs := mustReadStream(t, ctx, st, "conversation-1", 0)
	if len(recs) != 3 {
		t.Fatalf("read stream returned %d events, want 3", len(recs))
	}
	for i, r := range recs {
		checkRecorded(t, r, first[i], "conversation-1", int64(i+1))
	}
	checkLogOrder(t, recs)
	if recs[2].Position != res.Position {
		t.Errorf("last event is at %s, append reported %s", recs[2].Position, res.Position)
	}

	more := NewEvent("MessageSent", 4)
	res2 := mustAppend(t, ctx, st, "conversation-1", 3, more)
	if res2.Version != 4 {
		t.Errorf("version after a fourth event = %d, want 4", res2.Version)
	}
	if !res.Position.Less(res2.Position) {
		t.Errorf("second append at %s does not come after the first at %s", res2.Position, res.Position)
	}
	recs = mustReadStream(t, ctx, st, "conversation-1", 0)
	if len(recs) != 4 {
		t.Fatalf("read stream returned %d events, want 4", len(recs))
	}
	checkRecorded(t, recs[3], more, "conversation-1", 4)
	if recs[3].Position != res2.Position {
		t.Errorf("fourth event is at %s, append reported %s", recs[3].Position, res2.Position)
	}
}

func (s *suite) testReadStreamAfterVersion(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	evs := NewEvents("MessageSent", 5)
	mustAppend(t, ctx, st, "conv", es.NoStream, evs...)
	// Names that share a prefix must not bleed into each other.
	mustAppend(t, ctx, st, "conv-1", es.NoStream, NewEvents("MessageSent", 2)...)
	mustAppend(t, ctx, st, "con", es.NoStream, NewEvents("MessageSent", 2)...)

	recs := mustReadStream(t, ctx, st, "conv", 2)
	if len(recs) != 3 {
		t.Fatalf("read after version 2 returned %d events, want 3", len(recs))
	}
	for i, r := range recs {
		checkRecorded(t, r, evs[i+2], "conv", int64(i+3))
	}
	for _, after := range []int64{5, 9} {
		if recs := mustReadStream(t, ctx, st, "conv", after); len(recs) != 0 {
			t.Errorf("read after version %d returned %d events, want none", after, len(recs))
		}
	}
	if recs := mustReadStream(t, ctx, st, "conv-1", 0); len(recs) != 2 {
		t.Errorf("stream conv-1 has %d events, want 2", len(recs))
	}
	recs, err := st.ReadStream(ctx, "no-such-stream", 0)
	if err != nil || len(recs) != 0 {
		t.Errorf("read missing stream = %d events, %v; want none and no error", len(recs), err)
	}
}

func (s *suite) testExpectedVersionConflicts(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	mustAppend(t, ctx, st, "s", es.NoStream, NewEvents("Happened", 2)...)

	_, err := st.Append(ctx, "s", es.NoStream, NewEvent("Happened", 3))
	wantConflict(t, err, "no-stream append to an existing stream", 2)
	for _, expected := range []int64{1, 3, 10} {
		_, err := st.Append(ctx, "s", expected, NewEvent("Happened", 3))
		wantConflict(t, err, "append at a wrong version", 2)
	}
	_, err = st.Append(ctx, "missing", 1, NewEvent("Happened", 1))
	wantConflict(t, err, "exact append to a missing stream", 0)

	// A failed multi-event append writes none of its events, not even their
	// IDs: appending them again afterwards must work.
	batch := NewEvents("Happened", 3)
	_, err = st.Append(ctx, "s", 1, batch...)
	wantConflict(t, err, "multi-event append at a wrong version", 2)
	if recs := mustReadStream(t, ctx, st, "s", 0); len(recs) != 2 {
		t.Fatalf("stream has %d events after a failed append, want 2", len(recs))
	}
	readAllEventually(t, ctx, st, 2)
	if res := mustAppend(t, ctx, st, "s", 2, batch...); res.Version != 5 {
		t.Errorf("version after retrying the batch = %d, want 5", res.Version)
	}

	if res := mustAppend(t, ctx, st, "s", es.AnyVersion, NewEvent("Happened", 6)); res.Version != 6 {
		t.Errorf("version after an any-version append = %d, want 6", res.Version)
	}
	if res := mustAppend(t, ctx, st, "fresh", es.AnyVersion, NewEvents("Happened", 2)...); res.Version != 2 {
		t.Errorf("version after an any-version append to a new stream = %d, want 2", res.Version)
	}
	recs := mustReadStream(t, ctx, st, "s", 0)
	if len(recs) != 6 {
		t.Fatalf("stream has %d events, want 6", len(recs))
	}
	for i, r := range recs {
		if r.StreamVersion != int64(i+1) {
			t.Errorf("event %d has version %d", i, r.StreamVersion)
		}
	}
	readAllEventually(t, ctx, st, 8)
}

// testConcurrentExactAppends lets several writers race for each version of
// one stream: exactly one may win each round.
func (s *suite) testConcurrentExactAppends(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	const writers, rounds = 8, 15
	for round := range rounds {
		var (
			wg             sync.WaitGroup
			mu             sync.Mutex
			wins, failures int
		)
		start := make(chan struct{})
		for range writers {
			wg.Go(func() {
				<-start
				_, err := st.Append(ctx, "contended", int64(round), NewEvent("Claimed", round))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, es.ErrConcurrency):
					failures++
				default:
					t.Errorf("round %d: unexpected error %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins != 1 || failures != writers-1 {
			t.Fatalf("round %d: %d writers won and %d lost, want 1 and %d", round, wins, failures, writers-1)
		}
	}
	recs := mustReadStream(t, ctx, st, "contended", 0)
	if len(recs) != rounds {
		t.Fatalf("stream has %d events, want %d", len(recs), rounds)
	}
	for i, r := range recs {
		if r.StreamVersion != int64(i+1) {
			t.Fatalf("event %d has version %d", i, r.StreamVersion)
		}
	}
	checkLogOrder(t, readAllEventually(t, ctx, st, rounds))
}

func (s *suite) testDuplicateEventID(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	ev := NewEvent("Paid", 1)
	mustAppend(t, ctx, st, "payment-1", es.NoStream, ev)

	wantDuplicate := func(err error, what string) {
		t.Helper()
		if !errors.Is(err, eventstore.ErrDuplicateEvent) {
			t.Fatalf("%s: err = %v, want eventstore.ErrDuplicateEvent", what, err)
		}
		if errors.Is(err, es.ErrConcurrency) {
			t.Fatalf("%s: a duplicate must not look like a concurrency conflict: %v", what, err)
		}
	}
	_, err := st.Append(ctx, "payment-1", 1, ev)
	wantDuplicate(err, "same id again in the same stream")
	_, err = st.Append(ctx, "payment-1", es.AnyVersion, NewEvent("Paid", 2), ev)
	wantDuplicate(err, "same id again as the second event of a batch")
	_, err = st.Append(ctx, "payment-2", es.NoStream, ev)
	wantDuplicate(err, "same id in another stream")
	twice := NewEvent("Paid", 3)
	_, err = st.Append(ctx, "payment-3", es.NoStream, twice, twice)
	wantDuplicate(err, "same id twice in one append")

	// Nothing of the rejected appends may remain: not the events, and not
	// the streams they would have created.
	if recs := mustReadStream(t, ctx, st, "payment-1", 0); len(recs) != 1 {
		t.Errorf("payment-1 has %d events, want 1", len(recs))
	}
	for _, stream := range []string{"payment-2", "payment-3"} {
		if recs := mustReadStream(t, ctx, st, stream, 0); len(recs) != 0 {
			t.Errorf("%s has %d events, want none", stream, len(recs))
		}
		if res := mustAppend(t, ctx, st, stream, es.NoStream, NewEvent("Paid", 4)); res.Version != 1 {
			t.Errorf("%s: version after creating it = %d, want 1", stream, res.Version)
		}
	}
	if res := mustAppend(t, ctx, st, "payment-1", 1, NewEvent("Refunded", 5)); res.Version != 2 {
		t.Errorf("payment-1: version after a good append = %d, want 2", res.Version)
	}
	readAllEventually(t, ctx, st, 4)
}

func (s *suite) testInvalidAppend(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	bad := func(mut func(*es.Event)) es.Event {
		ev := NewEvent("Happened", 1)
		mut(&ev)
		return ev
	}
	cases := []struct {
		name     string
		stream   string
		expected int64
		events   []es.Event
	}{
		{"no events", "s", es.NoStream, nil},
		{"empty stream name", "", es.NoStream, NewEvents("Happened", 1)},
		{"stream name with NUL", "s\x00", es.NoStream, NewEvents("Happened", 1)},
		{"stream name not UTF-8", "s\xff", es.NoStream, NewEvents("Happened", 1)},
		{"expected below AnyVersion", "s", -2, NewEvents("Happened", 1)},
		{"id not a uuid", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.ID = "evt-1" })}},
		{"empty type", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.Type = "" })}},
		{"data not json", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.Data = []byte("{nope") })}},
		{"no data", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.Data = nil })}},
		{"data with NUL escape", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.Data = []byte(`{"a":"\u0000"}`) })}},
		{"uppercase uuid", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.ID = strings.ToUpper(e.ID) })}},
		{"correlation id too long", "s", es.NoStream, []es.Event{bad(func(e *es.Event) {
			e.Metadata.CorrelationID = strings.Repeat("c", eventstore.MaxCorrelationIDLen+1)
		})}},
		{"correlation id not UTF-8", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.Metadata.CorrelationID = "conv-\xff" })}},
		{"correlation id with NUL", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.Metadata.CorrelationID = "conv-\x00" })}},
		{"number beyond any store", "s", es.NoStream, []es.Event{bad(func(e *es.Event) { e.Data = []byte(`{"n":1e99999999999999999999}`) })}},
	}
	for _, c := range cases {
		_, err := st.Append(ctx, c.stream, c.expected, c.events...)
		if !errors.Is(err, eventstore.ErrInvalidAppend) {
			t.Errorf("%s: err = %v, want eventstore.ErrInvalidAppend", c.name, err)
		}
	}
	if recs := mustReadStream(t, ctx, st, "s", 0); len(recs) != 0 {
		t.Errorf("invalid appends wrote %d events", len(recs))
	}
}
