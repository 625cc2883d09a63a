package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Budget streams are where a key's many conversations meet: every model
// step and tool call of every conversation of the key reserves on the
// period's stream before it runs, and is charged there afterwards. With
// one optimistic append per reservation, concurrent conversations collide
// on that one stream, retry, collide again, and the key serialises on its
// retries (94 % of appends failing under load was measured).
//
// So each process keeps one writer per budget stream, a budgetLine, and
// group-commits: reservations, charges and releases queue on the line, and
// the line decides whatever has queued on its fold of the stream and
// appends all of it in one append with the version it decided on. Within
// an instance there is nothing to collide with; across instances the lines
// of one key are the only writers that can race, and a lost race costs one
// read of the events appended since and one new decision for the whole
// batch. The no-overspend invariant still rests on the expected version:
// two instances can never both take the last dollars.
//
// The fold holds sums and the reservations still open, so deciding and
// folding cost the same on a key's ten-thousandth conversation as on its
// first. It lives as long as the process and reads only what other
// instances appended since its version.
//
// A reservation that does not fit while committed spend alone leaves room
// for it waits, in arrival order, for running work to give back what it
// set aside, up to its conversation's time limit; it fails with
// BUDGET_EXCEEDED only when committed spend leaves no room.

// budgetPoll is how often a line with waiting reservations looks for
// budget given back by other instances.
const budgetPoll = 50 * time.Millisecond

// budgetFresh is how old a line's fold may be when a new message is
// checked against it without appending (the check at acceptance).
const budgetFresh = time.Second

// budgetBook holds this process's lines, one per budget stream in use.
type budgetBook struct {
	mu    sync.Mutex
	lines map[string]*budgetLine
}

// budgetLine is the single writer of one budget stream in this process.
type budgetLine struct {
	h      *Handler
	keyID  string
	stream string
	period billing.Period

	mu      sync.Mutex
	b       billing.Budget
	v       int64
	loaded  bool
	readAt  time.Time
	queue   []*budgetOp
	running bool
	wake    chan struct{}
	// limit and kind are the key's budget as the last decision saw it.
	limit *int64
	kind  string
}

// errPeriodChanged tells a reservation that its key's budget period kind
// changed since it picked this line: it must reserve on the new period's.
var errPeriodChanged = errors.New("the key's budget period changed")

// budgetOp is one piece of work for a line: a reservation to decide, or
// charges and releases to record.
type budgetOp struct {
	reserve  *billing.Reserved
	deadline time.Time // a waiting reservation fails after this
	queued   time.Time
	charges  []billing.Charged
	// releaseOf names a conversation whose open reservations (those not
	// charged by this op) are given back.
	releaseOf     string
	releaseReason string
	// releaseTurns, when set, gives back only reservations of turns up to
	// it: a follow-up's turn may have begun since the ending being settled.
	releaseTurns int
	md           es.Metadata

	inFlight bool
	waited   bool
	done     chan error
}

func (h *Handler) budgetLine(p billing.Period, keyID string) *budgetLine {
	stream := billing.Stream(keyID, p)
	h.budgets.mu.Lock()
	defer h.budgets.mu.Unlock()
	if h.budgets.lines == nil {
		h.budgets.lines = map[string]*budgetLine{}
	}
	l := h.budgets.lines[stream]
	if l == nil {
		l = &budgetLine{h: h, keyID: keyID, stream: stream, period: p, wake: make(chan struct{}, 1)}
		h.budgets.lines[stream] = l
	}
	return l
}

// submit queues op and waits for its outcome. A caller that stops waiting
// withdraws its op unless the line is deciding it already, in which case
// it waits for that decision (one append) so that nothing is left
// half-known.
func (l *budgetLine) submit(ctx context.Context, op *budgetOp) error {
	op.done = make(chan error, 1)
	op.queued = l.h.now()
	l.mu.Lock()
	l.queue = append(l.queue, op)
	if !l.running {
		l.running = true
		go l.run()
	} else {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
	}
	l.mu.Lock()
	if !op.inFlight {
		l.remove(op)
		l.mu.Unlock()
		return ctx.Err()
	}
	l.mu.Unlock()
	return <-op.done
}

func (l *budgetLine) remove(op *budgetOp) {
	for i, o := range l.queue {
		if o == op {
			l.queue = append(l.queue[:i:i], l.queue[i+1:]...)
			return
		}
	}
}

// run decides and appends until the queue is empty. When only waiting
// reservations are left it sleeps until new work arrives, a waiter's time
// is up, or it is time to look for budget other instances gave back.
func (l *budgetLine) run() {
	ctx := context.Background()
	for {
		l.mu.Lock()
		ops := append([]*budgetOp(nil), l.queue...)
		if len(ops) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		for _, op := range ops {
			op.inFlight = true
		}
		l.mu.Unlock()

		progressed, err := l.flush(ctx, ops)

		l.mu.Lock()
		for _, op := range ops {
			op.inFlight = false
		}
		arrived := len(l.queue) > 0 && l.queue[len(l.queue)-1] != ops[len(ops)-1]
		l.mu.Unlock()
		if err != nil {
			l.h.logger().Warn("budget line could not record; retrying", "stream", l.stream, "err", err)
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		if progressed || arrived {
			continue
		}
		// Only waiters are left: wait for a reason to decide again.
		wait := budgetPoll
		if d := l.nextDeadline(); d > 0 && d < wait {
			wait = d
		}
		select {
		case <-l.wake:
		case <-time.After(wait):
			l.refresh(ctx)
		}
	}
}

func (l *budgetLine) nextDeadline() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.h.now()
	var next time.Duration
	for _, op := range l.queue {
		if op.reserve == nil || op.deadline.IsZero() {
			continue
		}
		if d := op.deadline.Sub(now); next == 0 || d < next {
			next = max(d, time.Millisecond)
		}
	}
	return next
}

// load folds the stream on first use, and afterwards what was appended
// since the fold's version.
func (l *budgetLine) load(ctx context.Context) error {
	l.mu.Lock()
	v, loaded := l.v, l.loaded
	l.mu.Unlock()
	recs, err := l.h.Store.ReadStream(ctx, l.stream, v)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.v != v || l.loaded != loaded {
		return nil // the line moved on meanwhile; its fold is newer
	}
	for _, r := range recs {
		f, err := billing.Events.Decode(r)
		if err != nil {
			return err
		}
		l.b.Apply(f)
		l.v = r.StreamVersion
	}
	l.loaded, l.readAt = true, time.Now()
	return nil
}

// refresh reads what other instances appended; errors wait for the next try.
func (l *budgetLine) refresh(ctx context.Context) {
	if err := l.load(ctx); err != nil {
		l.h.logger().Warn("budget line could not read its stream", "stream", l.stream, "err", err)
	}
}

// snapshot returns the fold as of at most maxAge ago.
func (l *budgetLine) snapshot(ctx context.Context, maxAge time.Duration) (billing.Budget, error) {
	l.mu.Lock()
	stale := !l.loaded || time.Since(l.readAt) > maxAge
	l.mu.Unlock()
	if stale {
		if err := l.load(ctx); err != nil {
			return billing.Budget{}, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return billing.Budget{Spent: l.b.Spent, Outstanding: l.b.Outstanding, Charges: l.b.Charges}, nil
}

// flush decides the ops on the fold and appends the facts, again on a fresh
// fold whenever another instance appended first. It answers every op it
// settles (done, refused or failed) and removes it from the queue; waiting
// reservations stay. progressed reports whether anything was settled.
func (l *budgetLine) flush(ctx context.Context, ops []*budgetOp) (progressed bool, err error) {
	l.mu.Lock()
	loaded := l.loaded
	l.mu.Unlock()
	if !loaded {
		if err := l.load(ctx); err != nil {
			return false, err
		}
	}
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		scratch, v := l.b.Clone(), l.v
		l.mu.Unlock()
		now := l.h.now()
		answers := map[*budgetOp]error{}
		var (
			events   []es.Event
			recorded []es.Fact   // the facts of events, for the Observer
			owners   []*budgetOp // ops whose facts are in events
		)
		add := func(op *budgetOp, facts []es.Fact) error {
			md := op.md
			md.OccurredAt = now
			for _, f := range facts {
				ev, err := es.NewEvent(NewID(), f, md)
				if err != nil {
					return err
				}
				scratch.Apply(f)
				events = append(events, ev)
				recorded = append(recorded, f)
			}
			owners = append(owners, op)
			return nil
		}
		// Charges and releases first: they only give room back.
		for _, op := range ops {
			if op.reserve != nil {
				continue
			}
			var err error
			charged := map[string]bool{}
			for _, c := range op.charges {
				charged[c.ReservationID] = true
				if fs, cerr := scratch.Charge(c); cerr == nil {
					err = errors.Join(err, add(op, fs))
				}
			}
			if op.releaseOf != "" {
				var ids []string
				for id, r := range scratch.Open {
					if r.ConversationID == op.releaseOf && !charged[id] &&
						(op.releaseTurns == 0 || max(r.Turn, 1) <= op.releaseTurns) {
						ids = append(ids, id)
					}
				}
				slices.Sort(ids)
				for _, id := range ids {
					if fs, rerr := scratch.Release(id, op.releaseReason, now); rerr == nil {
						err = errors.Join(err, add(op, fs))
					}
				}
			}
			answers[op] = err
		}
		// Reservations in arrival order; the first that must wait holds
		// back those behind it. Each is decided on the key's budget as it
		// is now, and the append is guarded with the key's version, so a
		// budget lowered a moment ago applies at once.
		var guards []es.Guard
		blocked := false
		for _, op := range ops {
			if op.reserve == nil || blocked {
				continue
			}
			if guards == nil {
				k, kv, err := l.h.key(ctx, l.keyID)
				if err != nil {
					return false, err
				}
				guards = []es.Guard{{Stream: apikey.Stream(l.keyID), Version: kv}}
				l.limit, l.kind = k.Settings.BudgetUSDCents, string(k.Settings.BudgetPeriod)
			}
			if l.kind != l.period.Kind {
				answers[op] = errPeriodChanged
				continue
			}
			op.reserve.BudgetCents = l.limit
			facts, err := scratch.Reserve(*op.reserve, l.period)
			switch {
			case err == nil:
				answers[op] = add(op, facts)
			case errors.Is(err, billing.ErrNothingToDo):
				answers[op] = nil // a repeated command: its reservation is open
			case errors.Is(err, billing.ErrMustWait):
				limit := billing.FromCents(*op.reserve.BudgetCents)
				if !op.deadline.IsZero() && !now.Before(op.deadline) {
					answers[op] = &billing.ExceededError{Spent: scratch.Spent, Budget: limit, Needed: op.reserve.Amount,
						Period: l.period, Waited: now.Sub(op.queued)}
					continue
				}
				if !op.waited {
					op.waited = true
					l.h.Stats.BudgetWaits.Add(1)
				}
				l.h.Stats.observeIdleBudget(limit-scratch.Spent-scratch.Outstanding, limit)
				blocked = true
			default:
				answers[op] = err
			}
		}
		if len(events) > 0 {
			l.h.Stats.Appends.Add(1)
			began := time.Now()
			res, err := l.h.Store.AppendGuarded(ctx, l.stream, v, guards, events...)
			if o := l.h.Observe; o != nil {
				o.Appended(len(events), time.Since(began), err)
				if err == nil {
					o.Recorded(l.stream, recorded)
				}
			}
			if errors.Is(err, es.ErrConcurrency) && attempt < 50 {
				l.h.Stats.Conflicts.Add(1)
				if keyMoved(err, l.keyID) {
					_, _, err = l.h.refreshKey(ctx, l.keyID)
				} else {
					err = l.load(ctx)
				}
				if err != nil {
					return false, err
				}
				continue
			}
			if err != nil {
				// The facts did not land; their ops are tried again.
				for _, op := range owners {
					delete(answers, op)
				}
				if len(answers) == 0 {
					return false, fmt.Errorf("append to %s: %w", l.stream, err)
				}
			} else {
				l.mu.Lock()
				swapped := l.v == v
				if swapped {
					l.b, l.v, l.readAt = scratch, res.Version, time.Now()
				}
				l.mu.Unlock()
				if !swapped {
					// A read folded newer events in meanwhile: read ours
					// (and anything after) on top of it.
					l.refresh(ctx)
				}
			}
		}
		l.mu.Lock()
		for op, err := range answers {
			l.remove(op)
			op.done <- err
		}
		l.mu.Unlock()
		return len(answers) > 0, err
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
