package conversations

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Endings tells in-process waiters when a conversation ends: the sync
// replies of POST /api/agent wait on it instead of polling. It follows the
// log as a projection that keeps nothing but its waiters, from the head of
// the log at start (history has no waiters), and sees every instance's
// appends, so a reply waiting here learns of an ending that a model step
// on another instance recorded.
type Endings struct {
	mu      sync.Mutex
	cp      es.Position
	waiters map[string][]chan es.Position
	// followers hear of every new event of a conversation (streams).
	followers map[string][]chan struct{}
	// OnEnd, when set, hears of every ending (the command handlers drop
	// their copy of the conversation). It must not call back into Endings.
	OnEnd func(id string)
}

var resolvedType, failedType = conversation.Resolved{}.EventType(), conversation.Failed{}.EventType()

// EndingsName keys the projection in the runner's statuses.
const EndingsName = "conversation_endings"

// NewEndings starts following at from (the log's head).
func NewEndings(from es.Position) *Endings {
	return &Endings{cp: from, waiters: map[string][]chan es.Position{}, followers: map[string][]chan struct{}{}}
}

func (e *Endings) Name() string { return EndingsName }

func (e *Endings) Checkpoint(context.Context) (es.Position, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cp, nil
}

// Apply hands the position of each conversation ending in the batch to
// whoever waits for it.
func (e *Endings) Apply(_ context.Context, batch []es.Recorded) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rec := range batch {
		if !e.cp.Less(rec.Position) {
			continue
		}
		e.cp = rec.Position
		id, ok := strings.CutPrefix(rec.Stream, conversationPrefix)
		if !ok {
			continue
		}
		for _, ch := range e.followers[id] {
			select {
			case ch <- struct{}{}:
			default: // a wake is already pending; the follower reads all that is new
			}
		}
		if rec.Type != resolvedType && rec.Type != failedType {
			continue
		}
		if e.OnEnd != nil {
			e.OnEnd(id)
		}
		for _, ch := range e.waiters[id] {
			ch <- rec.Position // buffered: one ending per watch
		}
		delete(e.waiters, id)
	}
	return nil
}

// Watch waits for conversation id to end after now: the channel gets the
// position of its ending. An ending already in the log before the watch is
// not sent: the caller reads the view once the read models have caught up
// with the log (Runner.WaitForHead) to see those. stop forgets the watch.
func (e *Endings) Watch(id string) (ended <-chan es.Position, stop func()) {
	return listen(&e.mu, e.waiters, id)
}

// Follow wakes a reader of conversation id's events whenever the log holds
// a new one, appended on any instance. A wake says only "look again": the
// reader reads the stream after what it has, so wakes that come together
// are one. stop forgets the follower.
func (e *Endings) Follow(id string) (wake <-chan struct{}, stop func()) {
	return listen(&e.mu, e.followers, id)
}

// listen adds a channel (buffered: one value) to id's listeners in m,
// guarded by mu; stop takes it out again.
func listen[T any](mu *sync.Mutex, m map[string][]chan T, id string) (<-chan T, func()) {
	ch := make(chan T, 1)
	mu.Lock()
	m[id] = append(m[id], ch)
	mu.Unlock()
	return ch, func() {
		mu.Lock()
		defer mu.Unlock()
		ls := slices.DeleteFunc(m[id], func(l chan T) bool { return l == ch })
		if len(ls) == 0 {
			delete(m, id)
		} else {
			m[id] = ls
		}
	}
}
