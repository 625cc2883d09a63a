package eventstore

import (
	"sync"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Signal is a broadcast that wakes every waiter at once: Wait returns a
// channel that Notify closes. Adapters use it for Changed.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel that is closed at the next Notify.
func (s *Signal) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes everyone waiting.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// Tail is how far a store value knows the log to reach (its own appends
// and, where it hears of them, other processes'), with a broadcast when
// that grows. Readers use Known to tell "nothing new" from "something new
// that is not readable yet": on Postgres an event is readable only once
// every older transaction has ended, and a reader that knows an event
// exists keeps looking for it, briefly, instead of waiting for its next
// poll.
type Tail struct {
	Signal
	mu    sync.Mutex
	known es.Position
}

// Advance records that the log reaches at least p, and wakes waiters.
func (t *Tail) Advance(p es.Position) {
	t.mu.Lock()
	if t.known.Less(p) {
		t.known = p
	}
	t.mu.Unlock()
	t.Notify()
}

// Known is the furthest position recorded by Advance.
func (t *Tail) Known() es.Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.known
}
