// Package projections keeps the read models: each projection follows the
// global event log from its own checkpoint and applies every event exactly
// once. Subpackages hold one read model each; this package holds what they
// share: the catch-up runner, read-your-writes waiting, the Postgres batch
// transaction that moves a checkpoint together with the rows, and its
// in-memory twin, MemoryTable.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Log is the part of the event store a projection reads.
type Log interface {
	ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
	Head(ctx context.Context) (es.Position, error)
	Changed() <-chan struct{}
	// Known is the furthest position known to be in the log (see
	// eventstore.Tail): a reader behind it keeps reading.
	Known() es.Position
}

// Projection is one read model fed from the log.
type Projection interface {
	// Name is stable: it keys the checkpoint.
	Name() string
	// Checkpoint is the position of the last event applied.
	Checkpoint(ctx context.Context) (es.Position, error)
	// Apply applies the events (in log order) and moves the checkpoint to
	// the last one, atomically: either all of it happens or none.
	Apply(ctx context.Context, batch []es.Recorded) error
}

// ErrGap means a stream's events arrived out of order: a projection refuses
// to skip ahead, so it stops and retries rather than build a wrong view.
var ErrGap = errors.New("stream version gap")

// GapError tells which stream jumped.
func GapError(stream string, have, got int64) error {
	return fmt.Errorf("%w: stream %s at version %d received version %d", ErrGap, stream, have, got)
}

// Runner drives a set of projections and tells waiters when they have
// caught up with a position.
type Runner struct {
	log         Log
	projections []Projection
	poll        time.Duration
	batch       int
	logger      *slog.Logger
	applying    chan struct{} // bounds the batches applied at once

	mu        sync.Mutex
	positions map[string]es.Position
	reload    map[string]bool
	moved     chan struct{}
	errs      map[string]error
}

// Options tune a Runner.
type Options struct {
	// Poll is how often the log is read when nothing local woke the runner;
	// it bounds how late appends by other processes are seen.
	Poll  time.Duration
	Batch int
	// Parallel bounds how many projections apply a batch at once (default
	// 3): each holds a database connection while it does, and a pool of a
	// few connections serves the whole process.
	Parallel int
	Logger   *slog.Logger
}

// NewRunner prepares a runner; Run starts it.
func NewRunner(log Log, opts Options, ps ...Projection) *Runner {
	if opts.Poll <= 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 3
	}
	return &Runner{log: log, projections: ps, poll: opts.Poll, batch: opts.Batch, logger: opts.Logger,
		applying:  make(chan struct{}, opts.Parallel),
		positions: map[string]es.Position{}, reload: map[string]bool{}, moved: make(chan struct{}), errs: map[string]error{}}
}

// Run follows the log until ctx ends. Each projection runs on its own
// goroutine so a slow one does not hold back the others.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range r.projections {
		wg.Add(1)
		go func(p Projection) {
			defer wg.Done()
			r.follow(ctx, p)
		}(p)
	}
	wg.Wait()
}

// CatchUp applies everything currently in the log, synchronously. Start-up
// uses it so the gateway serves no stale reads.
func (r *Runner) CatchUp(ctx context.Context) error {
	for _, p := range r.projections {
		for {
			n, err := r.step(ctx, p)
			if err != nil {
				return fmt.Errorf("projection %s: %w", p.Name(), err)
			}
			if n == 0 {
				break
			}
		}
	}
	return nil
}

func (r *Runner) follow(ctx context.Context, p Projection) {
	failures := 0
	var behind time.Duration
	for ctx.Err() == nil {
		wake := r.log.Changed()
		n, err := r.step(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			r.setErr(p.Name(), err)
			delay := time.Duration(min(failures, 50)) * 100 * time.Millisecond
			r.logger.Error("projection failed; retrying", "projection", p.Name(), "err", err, "retry_in", delay)
			sleep(ctx, delay)
			continue
		}
		if failures > 0 {
			failures = 0
			r.setErr(p.Name(), nil)
		}
		if n == r.batch {
			continue // more is waiting
		}
		if r.behind(p.Name()) {
			// Appended, not readable yet (an older transaction is still
			// open on Postgres): look again in a moment.
			behind = min(max(2*behind, time.Millisecond), maxBehindWait)
			sleep(ctx, behind)
			continue
		}
		behind = 0
		select {
		case <-ctx.Done():
		case <-wake:
		case <-r.tick():
		}
	}
}

// tick is closed at the next poll: the shared log's pulse when there is
// one, so that every reader polls (and reads) together.
func (r *Runner) tick() <-chan struct{} {
	if p, ok := r.log.(Pulser); ok {
		return p.Pulse()
	}
	ch := make(chan struct{})
	time.AfterFunc(r.poll, func() { close(ch) })
	return ch
}

// maxBehindWait bounds the pause of a reader that knows of events it
// cannot read yet.
const maxBehindWait = 50 * time.Millisecond

// behind reports whether the log is known to hold events past what the
// projection applied.
func (r *Runner) behind(name string) bool {
	known := r.log.Known()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.positions[name].Less(known)
}

// step applies the next batch. The position lives in memory once loaded:
// a store may skip writing its checkpoint for a batch it had nothing to
// do with, and reading it back each time would replay that batch forever.
// After a failure the stored checkpoint is read again.
func (r *Runner) step(ctx context.Context, p Projection) (int, error) {
	r.mu.Lock()
	from, known := r.positions[p.Name()]
	if r.reload[p.Name()] {
		known = false
	}
	r.mu.Unlock()
	if !known {
		cp, err := p.Checkpoint(ctx)
		if err != nil {
			return 0, err
		}
		r.mu.Lock()
		delete(r.reload, p.Name())
		r.mu.Unlock()
		r.advance(p.Name(), cp) // never moves a reported position backwards
		from = cp
	}
	batch, err := r.log.ReadAll(ctx, from, r.batch)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	select {
	case r.applying <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	err = p.Apply(ctx, batch)
	<-r.applying
	if err != nil {
		r.forget(p.Name())
		return 0, err
	}
	r.advance(p.Name(), batch[len(batch)-1].Position)
	return len(batch), nil
}

// forget makes the next step read the stored checkpoint again. The
// reported position stays: what was applied stays applied, and replaying
// from an older checkpoint is harmless.
func (r *Runner) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reload[name] = true
}

func (r *Runner) advance(name string, pos es.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.positions[name]; ok && !old.Less(pos) {
		return
	}
	r.positions[name] = pos
	close(r.moved)
	r.moved = make(chan struct{})
}

func (r *Runner) setErr(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.errs, name)
	} else {
		r.errs[name] = err
	}
}

// reached reports whether every projection has applied pos, and returns a
// channel that is closed the next time any of them moves.
func (r *Runner) reached(pos es.Position) (bool, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.projections {
		at, ok := r.positions[p.Name()]
		if !ok || at.Less(pos) {
			return false, r.moved
		}
	}
	return true, r.moved
}

// WaitFor blocks until every projection has applied the event at pos, so a
// client that just wrote can read its own write. It gives up at ctx's end.
func (r *Runner) WaitFor(ctx context.Context, pos es.Position) error {
	for {
		ok, moved := r.reached(pos)
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-moved:
		}
	}
}

// Status describes one projection for health checks and operators.
type Status struct {
	Name     string      `json:"name"`
	Position es.Position `json:"position"`
	Error    string      `json:"error,omitempty"`
}

// Statuses reports where each projection is.
func (r *Runner) Statuses() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.projections))
	for _, p := range r.projections {
		s := Status{Name: p.Name(), Position: r.positions[p.Name()]}
		if err := r.errs[p.Name()]; err != nil {
			s.Error = err.Error()
		}
		out = append(out, s)
	}
	return out
}

// Lagging returns the projections that have not applied the log's head.
func (r *Runner) Lagging(ctx context.Context) ([]string, error) {
	head, err := r.log.Head(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.projections {
		if at := r.positions[p.Name()]; at.Less(head) {
			out = append(out, p.Name())
		}
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// WaitForReadable waits until every projection has applied everything the
// log lets readers see now (its head), and no more: the readiness check's
// question is whether the read models keep up, not whether a transaction
// elsewhere holds appends back.
func (r *Runner) WaitForReadable(ctx context.Context) error {
	head, err := r.log.Head(ctx)
	if err != nil {
		return err
	}
	return r.WaitFor(ctx, head)
}

// WaitForHead waits until every projection has applied everything in the
// log right now. Queries that must see the caller's latest writes (the
// agent searching right after creating) call it first.
func (r *Runner) WaitForHead(ctx context.Context) error {
	head, err := r.log.Head(ctx)
	if err != nil {
		return err
	}
	// The head is only what is readable now; appends this process made
	// (or heard of) may not be yet, and the caller may have just made one.
	if known := r.log.Known(); head.Less(known) {
		head = known
	}
	return r.WaitFor(ctx, head)
}
