package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// testCatchUpRace is the test the rest of the contract exists for. Sagas and
// projections are catch-up subscribers: they read the log after their
// checkpoint, handle what they got, and save the last position. That is only
// correct if no event can ever turn up behind a position already handed out.
// Many appenders write to private streams (exact versions) and shared ones
// (AnyVersion) while a subscriber polls; if the adapter can, one append holds
// its transaction open after taking its place in the log while all the others
// commit after it. In the end the subscriber must have seen every event once,
// each stream in version order.
func (s *suite) testCatchUpRace(t *testing.T) {
	const (
		appenders   = 8
		appendsEach = 40
		subscriber  = "race-subscriber"
	)
	st := s.open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	// Background goroutines must be gone before the store is closed, also
	// when the test stops early.
	var bg sync.WaitGroup
	defer func() {
		cancel()
		bg.Wait()
	}()

	var (
		mu       sync.Mutex
		appended = map[string]string{} // event id -> stream
	)
	record := func(stream string, evs []es.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range evs {
			appended[e.ID] = stream
		}
	}

	release := make(chan struct{})
	var slowDone chan error
	if s.cfg.slowAppend != nil {
		slowDone = s.startSlowAppend(t, ctx, &bg, st, "race-slow", NewEvents("SlowlyCommitted", 2), release, record)
	}

	var polls atomic.Int64
	total := make(chan int, 1)
	type result struct {
		seen []es.Recorded
		err  error
	}
	subDone := make(chan result, 1)
	bg.Go(func() {
		seen, err := subscribe(ctx, st, subscriber, &polls, total)
		subDone <- result{seen, err}
	})

	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			versions := map[string]int64{}
			for i := range appendsEach {
				evs := NewEvents("Raced", 1+(a+i)%3)
				stream := fmt.Sprintf("race-%d-%d", a, i%3)
				expected := versions[stream]
				if i%4 == 3 {
					stream, expected = fmt.Sprintf("race-shared-%d", (i/4)%2), es.AnyVersion
				}
				if _, err := st.Append(ctx, stream, expected, evs...); err != nil {
					t.Errorf("appender %d: append %d to %s at %d: %v", a, i, stream, expected, err)
					return
				}
				versions[stream] += int64(len(evs))
				record(stream, evs)
			}
		})
	}
	wg.Wait()

	if slowDone != nil {
		// Let the subscriber read the log a few times while the slow append
		// is still open and everything after it has committed: that is the
		// moment a reader that trusts positions alone skips it.
		for p := polls.Load(); polls.Load() < p+3; {
			select {
			case res := <-subDone:
				t.Fatalf("subscriber stopped while the slow append was held: %v (saw %d events)", res.err, len(res.seen))
			case <-ctx.Done():
				t.Fatalf("subscriber stopped polling while the slow append was held")
			case <-time.After(time.Millisecond):
			}
		}
		close(release)
		if err := <-slowDone; err != nil {
			t.Fatalf("slow append: %v", err)
		}
	}
	if t.Failed() {
		return
	}

	mu.Lock()
	total <- len(appended)
	mu.Unlock()
	res := <-subDone
	if res.err != nil {
		t.Fatalf("subscriber: %v (saw %d of %d events)", res.err, len(res.seen), len(appended))
	}
	for _, r := range res.seen {
		stream, ok := appended[r.ID]
		if !ok {
			t.Fatalf("subscriber saw event %s that was never appended", r.ID)
		}
		if r.Stream != stream {
			t.Errorf("event %s was appended to %s, subscriber saw it in %s", r.ID, stream, r.Stream)
		}
		delete(appended, r.ID)
	}
	if len(appended) != 0 {
		t.Fatalf("subscriber missed %d events", len(appended))
	}
	// Racing appenders, shared streams and (Postgres) retried stale
	// transactions must all have linked every event to its predecessor.
	if at, err := es.VerifyChain(res.seen); err != nil {
		t.Fatalf("hash chains of the raced log are broken at version %d: %v", at, err)
	}
	t.Logf("subscriber saw %d events in order in %d reads", len(res.seen), polls.Load())
}

// startSlowAppend starts the held append and returns once it has taken its
// place in the log; the returned channel reports how it ended after release
// is closed.
func (s *suite) startSlowAppend(t *testing.T, ctx context.Context, bg *sync.WaitGroup, st eventstore.Store, stream string, evs []es.Event,
	release <-chan struct{}, record func(string, []es.Event)) chan error {
	t.Helper()
	placed := make(chan struct{})
	var once sync.Once
	hold := func(ctx context.Context) error {
		once.Do(func() { close(placed) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan error, 1)
	bg.Go(func() {
		_, err := s.cfg.slowAppend(ctx, st, stream, evs, hold)
		if err == nil && record != nil {
			record(stream, evs)
		}
		done <- err
	})
	select {
	case <-placed:
	case err := <-done:
		t.Fatalf("slow append finished without holding its transaction open: %v", err)
	case <-ctx.Done():
		t.Fatalf("slow append did not reach its hold point")
	}
	return done
}

// subscribe is a catch-up subscriber as sagas run it: the saved checkpoint is
// the only memory between reads. It checks every event on the way and stops
// once it has seen as many as total announces.
func subscribe(ctx context.Context, st eventstore.Store, name string, polls *atomic.Int64, total <-chan int) ([]es.Recorded, error) {
	const pageSize = 25
	var (
		seen     []es.Recorded
		ids      = map[string]bool{}
		versions = map[string]int64{}
		want     = -1
		saved    = es.Start
	)
	for want < 0 || len(seen) < want {
		changed := st.Changed()
		after, err := st.LoadCheckpoint(ctx, name)
		if err != nil {
			return seen, err
		}
		if after != saved {
			return seen, fmt.Errorf("checkpoint saved as %s loaded as %s", saved, after)
		}
		page, err := st.ReadAll(ctx, after, pageSize)
		polls.Add(1)
		if err != nil {
			return seen, err
		}
		if len(page) > pageSize {
			return seen, fmt.Errorf("read all with limit %d returned %d events", pageSize, len(page))
		}
		for _, r := range page {
			if !after.Less(r.Position) {
				return seen, fmt.Errorf("event %s at %s does not come after %s", r.ID, r.Position, after)
			}
			after = r.Position
			if ids[r.ID] {
				return seen, fmt.Errorf("event %s delivered twice", r.ID)
			}
			ids[r.ID] = true
			if r.StreamVersion != versions[r.Stream]+1 {
				return seen, fmt.Errorf("stream %s: version %d arrived after version %d", r.Stream, r.StreamVersion, versions[r.Stream])
			}
			versions[r.Stream] = r.StreamVersion
			seen = append(seen, r)
		}
		if len(page) > 0 {
			if err := st.SaveCheckpoint(ctx, name, after); err != nil {
				return seen, err
			}
			saved = after
			continue
		}
		// Changed wakes us early for local appends; the short poll covers
		// events that become readable without a local append (another
		// transaction finishing).
		select {
		case <-changed:
		case <-time.After(5 * time.Millisecond):
		case n := <-total:
			want, total = n, nil
		case <-ctx.Done():
			return seen, errors.New("gave up waiting for more events: " + ctx.Err().Error())
		}
	}
	return seen, nil
}
