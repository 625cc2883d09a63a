package projections

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// SharedLog lets the readers of one process that follow the log side by
// side (nine projections, three sagas) share their reads: they ask for the
// same batch at about the same time, and one query answers all of them.
// Concurrent reads from the same position are one read; a reader asking
// from a position inside a batch read moments ago gets the rest of that
// batch without a query. This is safe because the log after a position
// only ever grows at its end: a batch once read is a correct prefix of
// what follows its start, forever.
type SharedLog struct {
	log interface {
		ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
		Head(ctx context.Context) (es.Position, error)
		Changed() <-chan struct{}
		Known() es.Position
	}

	mu       sync.Mutex
	recent   []sharedBatch // newest last
	held     int           // events in recent
	inflight map[sharedKey]*sharedCall
	// nothing remembers, for a moment, that a read found nothing after a
	// position, so readers woken together by one pulse share that answer.
	nothing   es.Position
	nothingAt time.Time

	pulse eventstore.Signal
}

// nothingFor is how long "nothing after this position" is believed.
const nothingFor = 5 * time.Millisecond

// Pulser is a log whose readers poll together: Pulse is closed at the next
// poll of the process, so every reader that waits for it reads at the same
// moment (and, through SharedLog, with one query).
type Pulser interface {
	Pulse() <-chan struct{}
}

// Pulse returns a channel closed at the next tick of RunPulse.
func (s *SharedLog) Pulse() <-chan struct{} { return s.pulse.Wait() }

// RunPulse ticks every interval until ctx ends.
func (s *SharedLog) RunPulse(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.pulse.Notify()
		}
	}
}

type sharedBatch struct {
	after es.Position
	recs  []es.Recorded
}

type sharedKey struct {
	after es.Position
	limit int
}

type sharedCall struct {
	done chan struct{}
	recs []es.Recorded
	err  error
}

// Recent batches are kept up to sharedBatches of them and sharedEvents
// events in all: readers of one process drift apart by hundreds of events
// when some apply their batches slower than others (a read model with big
// rows behind a saga), and every reader that falls out of the recent
// batches reads the log again by itself.
const (
	sharedBatches = 1024
	sharedEvents  = 20000
)

// Share wraps a log for shared reading.
func Share(log interface {
	ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
	Head(ctx context.Context) (es.Position, error)
	Changed() <-chan struct{}
	Known() es.Position
}) *SharedLog {
	return &SharedLog{log: log, inflight: map[sharedKey]*sharedCall{}}
}

func (s *SharedLog) Head(ctx context.Context) (es.Position, error) { return s.log.Head(ctx) }
func (s *SharedLog) Changed() <-chan struct{}                      { return s.log.Changed() }
func (s *SharedLog) Known() es.Position                            { return s.log.Known() }

// ReadAll returns up to limit events after the position, from a recent
// batch when one covers it, else from one read shared with every reader
// asking the same.
func (s *SharedLog) ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error) {
	s.mu.Lock()
	if recs := s.cached(after, limit); recs != nil {
		s.mu.Unlock()
		return recs, nil
	}
	if after == s.nothing && time.Since(s.nothingAt) < nothingFor && !after.Less(s.log.Known()) {
		s.mu.Unlock()
		return nil, nil
	}
	k := sharedKey{after, limit}
	c := s.inflight[k]
	if c == nil {
		c = &sharedCall{done: make(chan struct{})}
		s.inflight[k] = c
		s.mu.Unlock()
		c.recs, c.err = s.log.ReadAll(context.WithoutCancel(ctx), after, limit)
		s.mu.Lock()
		delete(s.inflight, k)
		if c.err == nil && len(c.recs) == 0 {
			s.nothing, s.nothingAt = after, time.Now()
		}
		if c.err == nil && len(c.recs) > 0 {
			s.recent = append(s.recent, sharedBatch{after: after, recs: c.recs})
			s.held += len(c.recs)
			drop := 0
			for len(s.recent)-drop > sharedBatches || (s.held > sharedEvents && len(s.recent)-drop > 1) {
				s.held -= len(s.recent[drop].recs)
				drop++
			}
			if drop > 0 {
				s.recent = slices.Delete(s.recent, 0, drop)
			}
		}
		s.mu.Unlock()
		close(c.done)
	} else {
		s.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.recs, c.err
}

// cached finds the events after the position in the recent batches: it
// starts in a batch that starts at the position or holds an event at it,
// and goes on through the batches that follow, up to limit, so that a
// reader catching up from the cache gets batches as big as a read would.
func (s *SharedLog) cached(after es.Position, limit int) []es.Recorded {
	var out []es.Recorded
	for len(out) < limit {
		rest := s.cachedFrom(after)
		if len(rest) == 0 {
			break
		}
		if out == nil && len(rest) >= limit {
			return rest[:limit]
		}
		rest = rest[:min(len(rest), limit-len(out))]
		out = append(out, rest...)
		after = rest[len(rest)-1].Position
	}
	return out
}

// cachedFrom is the rest of one recent batch after the position.
func (s *SharedLog) cachedFrom(after es.Position) []es.Recorded {
	for i := len(s.recent) - 1; i >= 0; i-- {
		b := s.recent[i]
		var from int
		if b.after == after {
			from = 0
		} else {
			j := sort.Search(len(b.recs), func(j int) bool { return !b.recs[j].Position.Less(after) })
			if j == len(b.recs) || b.recs[j].Position != after {
				continue
			}
			from = j + 1
		}
		if from < len(b.recs) {
			return b.recs[from:]
		}
	}
	return nil
}
