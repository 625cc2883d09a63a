package projections_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// fakeLog is an in-memory global log: positions count from 1, Changed is
// closed by appends that notify (local appends) and left alone by the
// others (appends by another process, which only polling finds).
type fakeLog struct {
	mu      sync.Mutex
	events  []es.Recorded
	signal  chan struct{}
	headErr error
	known   es.Position // what a local append announced
}

func (l *fakeLog) Known() es.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.known
}

func (l *fakeLog) append(notify bool, streams ...string) es.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range streams {
		l.events = append(l.events, es.Recorded{ID: fmt.Sprint(len(l.events) + 1), Stream: s, StreamVersion: 1,
			Position: es.Position{Seq: uint64(len(l.events) + 1)}, Type: "Happened", Data: []byte(`{}`)})
	}
	if notify {
		l.known = l.events[len(l.events)-1].Position
	}
	if notify && l.signal != nil {
		close(l.signal)
		l.signal = nil
	}
	return l.events[len(l.events)-1].Position
}

// add appends n events on streams "s-1", "s-2", ...
func (l *fakeLog) add(notify bool, n int) es.Position {
	var streams []string
	for i := range n {
		streams = append(streams, fmt.Sprintf("s-%d", i+1))
	}
	return l.append(notify, streams...)
}

func (l *fakeLog) ReadAll(_ context.Context, after es.Position, limit int) ([]es.Recorded, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []es.Recorded
	for _, e := range l.events {
		if after.Less(e.Position) && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *fakeLog) Head(context.Context) (es.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.headErr != nil {
		return es.Start, l.headErr
	}
	if len(l.events) == 0 {
		return es.Start, nil
	}
	return l.events[len(l.events)-1].Position, nil
}

func (l *fakeLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.signal == nil {
		l.signal = make(chan struct{})
	}
	return l.signal
}

// fakeProjection records what it applied. With relevant set it behaves like
// the Postgres stores: a batch with nothing relevant leaves the stored
// checkpoint where it was.
type fakeProjection struct {
	name     string
	relevant func(es.Recorded) bool

	mu              sync.Mutex
	stored          es.Position
	applied         []uint64
	batches         []int
	attempts        int
	checkpointCalls int
	failWith        error
	gate            chan struct{}
}

func newProjection(name string) *fakeProjection { return &fakeProjection{name: name} }

func (p *fakeProjection) Name() string { return p.name }

func (p *fakeProjection) Checkpoint(context.Context) (es.Position, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checkpointCalls++
	return p.stored, nil
}

func (p *fakeProjection) Apply(ctx context.Context, batch []es.Recorded) error {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts++
	if p.failWith != nil {
		return p.failWith
	}
	p.batches = append(p.batches, len(batch))
	any := false
	for _, e := range batch {
		if p.stored.Less(e.Position) && (p.relevant == nil || p.relevant(e)) {
			p.applied = append(p.applied, e.Position.Seq)
			any = true
		}
	}
	if any || p.relevant == nil {
		if last := batch[len(batch)-1].Position; p.stored.Less(last) {
			p.stored = last
		}
	}
	return nil
}

func (p *fakeProjection) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failWith = err
}

func (p *fakeProjection) snapshot() (applied []uint64, batches []int, attempts, checkpointCalls int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint64(nil), p.applied...), append([]int(nil), p.batches...), p.attempts, p.checkpointCalls
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func status(t *testing.T, r *projections.Runner, name string) projections.Status {
	t.Helper()
	for _, s := range r.Statuses() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s in %+v", name, r.Statuses())
	return projections.Status{}
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts the runner and stops it when the test ends.
func run(t *testing.T, r *projections.Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func waitFor(t *testing.T, r *projections.Runner, pos es.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, pos); err != nil {
		t.Fatalf("WaitFor(%v): %v (statuses %+v)", pos, err, r.Statuses())
	}
}

func TestCatchUpAppliesEverything(t *testing.T) {
	log := &fakeLog{}
	head := log.add(false, 7)
	fresh, behind := newProjection("fresh"), newProjection("behind")
	behind.stored = es.Position{Seq: 5}
	r := projections.NewRunner(log, projections.Options{Batch: 3, Logger: quiet}, fresh, behind)

	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	applied, batches, _, _ := fresh.snapshot()
	if !reflect.DeepEqual(applied, seqs(1, 7)) || !reflect.DeepEqual(batches, []int{3, 3, 1}) {
		t.Fatalf("fresh applied %v in batches %v", applied, batches)
	}
	applied, batches, _, _ = behind.snapshot()
	if !reflect.DeepEqual(applied, seqs(6, 7)) || !reflect.DeepEqual(batches, []int{2}) {
		t.Fatalf("behind applied %v in batches %v", applied, batches)
	}
	want := []projections.Status{{Name: "fresh", Position: head}, {Name: "behind", Position: head}}
	if got := r.Statuses(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Statuses = %+v, want %+v", got, want)
	}
	if lag, err := r.Lagging(context.Background()); err != nil || len(lag) != 0 {
		t.Fatalf("Lagging = %v, %v", lag, err)
	}

	// Nothing new: a second catch-up applies nothing.
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if applied, _, _, _ := fresh.snapshot(); len(applied) != 7 {
		t.Fatalf("second CatchUp applied again: %v", applied)
	}
	// Already there: WaitFor returns at once, even with a finished context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.WaitFor(ctx, head); err != nil {
		t.Fatalf("WaitFor(head) after CatchUp: %v", err)
	}
}

func TestCatchUpOnAnEmptyLog(t *testing.T) {
	log := &fakeLog{}
	p := newProjection("p")
	r := projections.NewRunner(log, projections.Options{Logger: quiet}, p)
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, batches, _, _ := p.snapshot(); len(batches) != 0 {
		t.Fatalf("Apply called on an empty log: %v", batches)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := r.WaitForHead(ctx); err != nil {
		t.Fatalf("WaitForHead on an empty log: %v", err)
	}
}

func TestCatchUpReportsTheFailingProjection(t *testing.T) {
	log := &fakeLog{}
	log.add(false, 3)
	good, bad := newProjection("good"), newProjection("bad")
	boom := errors.New("boom")
	bad.fail(boom)
	r := projections.NewRunner(log, projections.Options{Logger: quiet}, good, bad)
	err := r.CatchUp(context.Background())
	if !errors.Is(err, boom) || err.Error() != "projection bad: boom" {
		t.Fatalf("CatchUp = %v", err)
	}
	if applied, _, _, _ := good.snapshot(); !reflect.DeepEqual(applied, seqs(1, 3)) {
		t.Fatalf("good applied %v", applied)
	}
	if lag, _ := r.Lagging(context.Background()); !reflect.DeepEqual(lag, []string{"bad"}) {
		t.Fatalf("Lagging = %v", lag)
	}
}

// A store may skip writing its checkpoint for a batch with nothing for it;
// the runner must not read such a batch again and again.
func TestBatchesAStoreDidNotRecordAreNotReplayed(t *testing.T) {
	log := &fakeLog{}
	log.add(false, 4)
	p := newProjection("lazy")
	p.relevant = func(e es.Recorded) bool { return strings.HasPrefix(e.Stream, "mine-") }
	r := projections.NewRunner(log, projections.Options{Logger: quiet}, p)
	for range 3 {
		if err := r.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	applied, batches, _, _ := p.snapshot()
	if len(applied) != 0 || !reflect.DeepEqual(batches, []int{4}) {
		t.Fatalf("applied %v in batches %v; want one batch of 4 and nothing applied", applied, batches)
	}
	if st := status(t, r, "lazy"); st.Position != (es.Position{Seq: 4}) {
		t.Fatalf("position = %v, want 0:4", st.Position)
	}
	pos := log.append(false, "other-1", "mine-1")
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	applied, batches, _, _ = p.snapshot()
	if !reflect.DeepEqual(applied, []uint64{6}) || !reflect.DeepEqual(batches, []int{4, 2}) {
		t.Fatalf("applied %v in batches %v", applied, batches)
	}
	if st := status(t, r, "lazy"); st.Position != pos {
		t.Fatalf("position = %v, want %v", st.Position, pos)
	}
}

func TestRunIsWokenByLocalAppends(t *testing.T) {
	log := &fakeLog{}
	p := newProjection("p")
	// An hour-long poll: only Changed can wake the runner in time.
	r := projections.NewRunner(log, projections.Options{Poll: time.Hour, Logger: quiet}, p)
	run(t, r)
	waitFor(t, r, es.Start) // the first (empty) read is done

	for round := range 3 {
		pos := log.add(true, 2)
		waitFor(t, r, pos)
		if applied, _, _, _ := p.snapshot(); !reflect.DeepEqual(applied, seqs(1, uint64(2*(round+1)))) {
			t.Fatalf("round %d: applied %v", round, applied)
		}
	}
}

func TestRunPollsForAppendsByOthers(t *testing.T) {
	log := &fakeLog{}
	p := newProjection("p")
	r := projections.NewRunner(log, projections.Options{Poll: 20 * time.Millisecond, Logger: quiet}, p)
	run(t, r)
	waitFor(t, r, es.Start)

	pos := log.add(false, 3) // Changed is never closed
	waitFor(t, r, pos)
	if applied, _, _, _ := p.snapshot(); !reflect.DeepEqual(applied, seqs(1, 3)) {
		t.Fatalf("applied %v", applied)
	}
}

func TestRunDrainsFullBatchesWithoutWaiting(t *testing.T) {
	log := &fakeLog{}
	pos := log.add(false, 5)
	p := newProjection("p")
	r := projections.NewRunner(log, projections.Options{Poll: time.Hour, Batch: 2, Logger: quiet}, p)
	run(t, r)
	waitFor(t, r, pos)
	if applied, batches, _, _ := p.snapshot(); !reflect.DeepEqual(applied, seqs(1, 5)) || !reflect.DeepEqual(batches, []int{2, 2, 1}) {
		t.Fatalf("applied %v in batches %v", applied, batches)
	}
}

func TestWaitForWaitsForEveryProjection(t *testing.T) {
	log := &fakeLog{}
	fast, slow := newProjection("fast"), newProjection("slow")
	r := projections.NewRunner(log, projections.Options{Poll: time.Hour, Logger: quiet}, fast, slow)
	run(t, r)
	waitFor(t, r, es.Start)

	gate := make(chan struct{})
	slow.mu.Lock()
	slow.gate = gate
	slow.mu.Unlock()
	pos := log.add(true, 2)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- r.WaitFor(ctx, pos)
	}()
	eventually(t, "the fast projection", func() bool { return status(t, r, "fast").Position == pos })
	select {
	case err := <-done:
		t.Fatalf("WaitFor returned (%v) before the slow projection applied %v", err, pos)
	case <-time.After(50 * time.Millisecond):
	}
	if lag, _ := r.Lagging(context.Background()); !reflect.DeepEqual(lag, []string{"slow"}) {
		t.Fatalf("Lagging = %v", lag)
	}
	close(gate)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitFor = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return once every projection applied the position")
	}
	if st := status(t, r, "slow"); st.Position != pos {
		t.Fatalf("slow at %v", st.Position)
	}
}

func TestWaitForGivesUpAtTheContextsEnd(t *testing.T) {
	log := &fakeLog{}
	log.add(false, 1)
	r := projections.NewRunner(log, projections.Options{Poll: time.Hour, Logger: quiet}, newProjection("p"))
	run(t, r)
	waitFor(t, r, es.Position{Seq: 1})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.WaitFor(ctx, es.Position{Seq: 2}) // never appended
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor = %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took < 45*time.Millisecond || took > 5*time.Second {
		t.Fatalf("WaitFor gave up after %v", took)
	}

	// A later transaction id is later, whatever the sequence says.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := r.WaitFor(ctx2, es.Position{Tx: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor(1:0) = %v", err)
	}
}

func TestWaitForHead(t *testing.T) {
	log := &fakeLog{}
	a, b := newProjection("a"), newProjection("b")
	r := projections.NewRunner(log, projections.Options{Poll: 10 * time.Millisecond, Logger: quiet}, a, b)
	head := log.add(false, 4)
	run(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitForHead(ctx); err != nil {
		t.Fatalf("WaitForHead: %v", err)
	}
	for _, p := range []string{"a", "b"} {
		if st := status(t, r, p); st.Position != head {
			t.Fatalf("%s at %v after WaitForHead, head %v", p, st.Position, head)
		}
	}

	broken := errors.New("log unavailable")
	log.mu.Lock()
	log.headErr = broken
	log.mu.Unlock()
	if err := r.WaitForHead(ctx); !errors.Is(err, broken) {
		t.Fatalf("WaitForHead with a failing log = %v", err)
	}
	if _, err := r.Lagging(ctx); !errors.Is(err, broken) {
		t.Fatalf("Lagging with a failing log = %v", err)
	}
}

func TestWaitForHeadBeforeAnyRead(t *testing.T) {
	// A runner that has not read yet knows nothing: waiting must end with
	// the context rather than claim the projections are there.
	log := &fakeLog{}
	log.add(false, 1)
	r := projections.NewRunner(log, projections.Options{Logger: quiet}, newProjection("p"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := r.WaitForHead(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForHead = %v", err)
	}
}

func TestAFailingProjectionIsRetriedReportedAndRecovers(t *testing.T) {
	log := &fakeLog{}
	ok, flaky := newProjection("ok"), newProjection("flaky")
	r := projections.NewRunner(log, projections.Options{Poll: 10 * time.Millisecond, Logger: quiet}, ok, flaky)
	run(t, r)
	waitFor(t, r, log.add(true, 2))
	_, _, attemptsBefore, cpCallsBefore := flaky.snapshot()

	boom := errors.New("database is down")
	flaky.fail(boom)
	pos := log.add(true, 1)

	eventually(t, "the error to be reported", func() bool { return status(t, r, "flaky").Error == "database is down" })
	eventually(t, "a retry", func() bool { _, _, n, _ := flaky.snapshot(); return n >= attemptsBefore+2 })
	// The other projection is not held back.
	eventually(t, "the healthy projection", func() bool { return status(t, r, "ok").Position == pos })
	if st := status(t, r, "ok"); st.Error != "" {
		t.Fatalf("healthy projection reports %q", st.Error)
	}
	if lag, _ := r.Lagging(context.Background()); !reflect.DeepEqual(lag, []string{"flaky"}) {
		t.Fatalf("Lagging = %v", lag)
	}

	flaky.fail(nil)
	waitFor(t, r, pos)
	eventually(t, "the error to clear", func() bool { return status(t, r, "flaky").Error == "" })
	applied, _, _, cpCalls := flaky.snapshot()
	if !reflect.DeepEqual(applied, seqs(1, 3)) {
		t.Fatalf("applied %v: each event exactly once", applied)
	}
	// After a failure the stored checkpoint is read again.
	if cpCalls <= cpCallsBefore {
		t.Fatalf("checkpoint read %d times, %d before the failure", cpCalls, cpCallsBefore)
	}
	if lag, _ := r.Lagging(context.Background()); len(lag) != 0 {
		t.Fatalf("Lagging = %v after recovery", lag)
	}
}

// While a projection fails, Statuses (served by the health endpoint) must
// keep saying how far it got; it must not jump back to the start.
func TestAFailingProjectionKeepsReportingItsPosition(t *testing.T) {
	log := &fakeLog{}
	flaky := newProjection("flaky")
	r := projections.NewRunner(log, projections.Options{Poll: 10 * time.Millisecond, Logger: quiet}, flaky)
	run(t, r)
	applied := log.add(true, 2)
	waitFor(t, r, applied)

	flaky.fail(errors.New("database is down"))
	log.add(true, 1)
	eventually(t, "the error to be reported", func() bool { return status(t, r, "flaky").Error != "" })
	_, _, n, _ := flaky.snapshot()
	eventually(t, "another retry", func() bool { _, _, m, _ := flaky.snapshot(); return m > n })

	// BUG: Runner.step calls forget() after a failed Apply, which deletes
	// the projection's position, so between retries Statuses reports
	// 0:0 for a projection that has applied everything up to 0:2 (and a
	// WaitFor on an already applied position blocks again).
	if st := status(t, r, "flaky"); st.Position != applied {
		t.Errorf("a failing projection reports position %v, want %v (what it has applied)", st.Position, applied)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, applied); err != nil {
		t.Errorf("WaitFor(%v), a position the projection applied before failing = %v", applied, err)
	}
}
