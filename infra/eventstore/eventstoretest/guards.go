package eventstoretest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// testGuardedAppends: an append guarded by another stream's version lands
// only while that stream is still there; a guard that moved is a conflict
// naming the guarded stream, and nothing of the append remains.
func (s *suite) testGuardedAppends(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	mustAppend(t, ctx, st, "key-1", es.NoStream, NewEvent("KeyCreated", 1))
	if res, err := st.AppendGuarded(ctx, "conv-1", es.NoStream, []es.Guard{{Stream: "key-1", Version: 1}}, NewEvent("Opened", 1)); err != nil || res.Version != 1 {
		t.Fatalf("guard at the key's version: %+v, %v", res, err)
	}
	mustAppend(t, ctx, st, "key-1", 1, NewEvent("KeyRevoked", 2))
	_, err := st.AppendGuarded(ctx, "conv-2", es.NoStream, []es.Guard{{Stream: "key-1", Version: 1}}, NewEvent("Opened", 2))
	var ce *es.ConflictError
	if !errors.As(err, &ce) || ce.Stream != "key-1" || ce.Expected != 1 || ce.Actual != 2 {
		t.Fatalf("guard on a moved stream: err = %v, want a conflict on key-1 expecting 1, found 2", err)
	}
	if !errors.Is(err, es.ErrConcurrency) {
		t.Fatalf("a failed guard must be a concurrency conflict: %v", err)
	}
	if recs := mustReadStream(t, ctx, st, "conv-2", 0); len(recs) != 0 {
		t.Fatalf("the refused append left %d events", len(recs))
	}
	// A stream that does not exist is at version 0.
	if _, err := st.AppendGuarded(ctx, "conv-3", es.NoStream, []es.Guard{{Stream: "nothing-yet", Version: 0}}, NewEvent("Opened", 3)); err != nil {
		t.Fatalf("guard on an absent stream at 0: %v", err)
	}
	_, err = st.AppendGuarded(ctx, "conv-4", es.NoStream, []es.Guard{{Stream: "nothing-yet", Version: 1}}, NewEvent("Opened", 4))
	if !errors.As(err, &ce) || ce.Stream != "nothing-yet" || ce.Actual != 0 {
		t.Fatalf("guard at 1 on an absent stream: %v", err)
	}
	// The append's own expected version still counts.
	_, err = st.AppendGuarded(ctx, "conv-1", 5, []es.Guard{{Stream: "key-1", Version: 2}}, NewEvent("Replied", 5))
	if !errors.As(err, &ce) || ce.Stream != "conv-1" || ce.Actual != 1 {
		t.Fatalf("wrong expected version under a good guard: %v", err)
	}
	for name, guards := range map[string][]es.Guard{
		"itself":   {{Stream: "conv-5", Version: 0}},
		"twice":    {{Stream: "key-1", Version: 2}, {Stream: "key-1", Version: 2}},
		"negative": {{Stream: "key-1", Version: -1}},
		"unnamed":  {{Stream: "", Version: 0}},
	} {
		if _, err := st.AppendGuarded(ctx, "conv-5", es.NoStream, guards, NewEvent("Opened", 6)); !errors.Is(err, eventstore.ErrInvalidAppend) {
			t.Errorf("guard %s: err = %v, want ErrInvalidAppend", name, err)
		}
	}
	if recs := readAllEventually(t, ctx, st, 4); len(recs) != 4 {
		t.Fatalf("the log holds %d events, want 4: key-1's two, conv-1's and conv-3's", len(recs))
	}
}

// testManyWritersAtOnce: appends from many goroutines at once, to new
// streams, to one contended stream and with guards, some of them bound to
// fail; each gets its own outcome whatever else lands with it (stores that
// group appends into one transaction must not let one bad append fail, or
// pass, its neighbours).
func (s *suite) testManyWritersAtOnce(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	mustAppend(t, ctx, st, "guard", es.NoStream, NewEvent("Guard", 0))
	dup := NewEvent("Duplicate", 0)
	mustAppend(t, ctx, st, "dup-original", es.NoStream, dup)
	const writers = 48
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		wins     int
		outcomes = map[string]error{}
	)
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			stream := fmt.Sprintf("own-%d", i)
			var err error
			switch i % 4 {
			case 0: // a new stream of its own: must land
				_, err = st.Append(ctx, stream, es.NoStream, NewEvents("Own", 2)...)
			case 1: // guarded at the right version: must land
				_, err = st.AppendGuarded(ctx, stream, es.NoStream, []es.Guard{{Stream: "guard", Version: 1}}, NewEvent("Guarded", i))
			case 2: // guarded at a wrong version: must be refused
				_, err = st.AppendGuarded(ctx, stream, es.NoStream, []es.Guard{{Stream: "guard", Version: 7}}, NewEvent("Guarded", i))
			case 3: // all race for version 1 of one stream: one wins
				_, err = st.Append(ctx, "contended", es.NoStream, NewEvent("Claimed", i))
				mu.Lock()
				if err == nil {
					wins++
				}
				mu.Unlock()
				if errors.Is(err, es.ErrConcurrency) {
					err = nil
				}
			}
			if i == writers-1 {
				_, err = st.Append(ctx, "dup-again", es.NoStream, NewEvent("Fine", i), dup)
			}
			mu.Lock()
			outcomes[stream] = err
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	total := 2
	for i := range writers {
		stream := fmt.Sprintf("own-%d", i)
		err := outcomes[stream]
		switch {
		case i == writers-1:
			if !errors.Is(err, eventstore.ErrDuplicateEvent) {
				t.Errorf("the append with a duplicate id: %v, want ErrDuplicateEvent", err)
			}
		case i%4 == 2:
			if !errors.Is(err, es.ErrConcurrency) {
				t.Errorf("%s guarded at a wrong version: %v, want a conflict", stream, err)
			}
			if recs := mustReadStream(t, ctx, st, stream, 0); len(recs) != 0 {
				t.Errorf("%s: refused append left %d events", stream, len(recs))
			}
		case err != nil:
			t.Errorf("%s: %v", stream, err)
		case i%4 == 0:
			total += 2
			if recs := mustReadStream(t, ctx, st, stream, 0); len(recs) != 2 || recs[1].StreamVersion != 2 {
				t.Errorf("%s holds %d events", stream, len(recs))
			}
		case i%4 == 1:
			total++
		}
	}
	if wins != 1 {
		t.Errorf("%d appends won version 1 of the contended stream, want 1", wins)
	}
	total++ // the contended stream's winner
	if recs := mustReadStream(t, ctx, st, "dup-again", 0); len(recs) != 0 {
		t.Errorf("the refused duplicate append left %d events", len(recs))
	}
	recs := readAllEventually(t, ctx, st, total)
	checkLogOrder(t, recs)
	mustVerify(t, "all streams", recs)
}
