// Package relay carries the text of running model steps to the event
// streams that show it (commands.Relay), outside the event log: within a
// process by channels, and between the processes sharing a database by
// Postgres notifications. Nothing here is kept; a reader that misses text
// gets the reply from the log once the step is recorded.
package relay

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/commands"
)

// Local fans deltas out to the readers of this process.
type Local struct {
	mu      sync.Mutex
	readers map[string][]chan commands.Delta
}

// NewLocal returns a relay for one process.
func NewLocal() *Local { return &Local{readers: map[string][]chan commands.Delta{}} }

// Publish hands d to every reader of its conversation here. A reader that
// is behind misses it (its buffer is full) and fills in from the log.
func (l *Local) Publish(d commands.Delta) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ch := range l.readers[d.ConversationID] {
		select {
		case ch <- d:
		default:
		}
	}
}

// Subscribe reads conversation id's deltas until stop.
func (l *Local) Subscribe(id string) (<-chan commands.Delta, func()) {
	ch := make(chan commands.Delta, 64)
	l.mu.Lock()
	l.readers[id] = append(l.readers[id], ch)
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		rs := slices.DeleteFunc(l.readers[id], func(r chan commands.Delta) bool { return r == ch })
		if len(rs) == 0 {
			delete(l.readers, id)
		} else {
			l.readers[id] = rs
		}
	}
}

// Notifier is how deltas reach the other processes: Postgres notifications
// (pg.Wakeups), which keep only the latest of a topic in a burst. Each
// delta is a window on all the step's text so far, so the latest is enough.
type Notifier interface {
	Notify(topic, hint string)
	OnRemotePrefix(prefix string, fn func(topic, hint string))
}

const topicPrefix = "delta:"

// Shared is Local plus the other processes on the same database.
type Shared struct {
	*Local
	n Notifier
}

// NewShared relays through n as well as in process.
func NewShared(n Notifier) *Shared {
	s := &Shared{Local: NewLocal(), n: n}
	n.OnRemotePrefix(topicPrefix, func(topic, hint string) {
		var d commands.Delta
		if json.Unmarshal([]byte(hint), &d) == nil && d.ConversationID == strings.TrimPrefix(topic, topicPrefix) {
			s.Local.Publish(d)
		}
	})
	return s
}

// Publish hands d to the readers here and to the other processes.
func (s *Shared) Publish(d commands.Delta) {
	s.Local.Publish(d)
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" as itself, not six bytes: notifications are small
	if enc.Encode(d) == nil {
		s.n.Notify(topicPrefix+d.ConversationID, strings.TrimSpace(b.String()))
	}
}
