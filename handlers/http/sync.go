package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

// Sync replies: POST /api/agent with "Prefer: wait=N" (RFC 7240) or
// "wait": true answers 200 with the poll body when the conversation ends
// within the wait, and 202 as always when it does not.
const (
	// DefaultSyncWait is how long "wait": true waits.
	DefaultSyncWait = 30 * time.Second
	// MaxSyncWait caps Prefer: wait; a longer one waits this long.
	MaxSyncWait = 60 * time.Second
)

// syncWait is how long a reply may wait for its conversation to end: the
// Prefer header's wait when it has one the server can read (preferred),
// else DefaultSyncWait for "wait": true in the body, else none.
func syncWait(r *http.Request, bodyWait bool) (wait time.Duration, preferred bool) {
	if wait, preferred = preferredWait(r); !preferred && bodyWait {
		wait = DefaultSyncWait
	}
	return wait, preferred
}

// preferredWait reads "Prefer: wait=N" (seconds). A preference the server
// cannot read is ignored, as RFC 7240 asks; ok says one was read.
func preferredWait(r *http.Request) (wait time.Duration, ok bool) {
	for _, header := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(header, ",") {
			name, value, found := strings.Cut(strings.TrimSpace(pref), "=")
			if !found || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			// Parameters after ";" belong to the preference, not its value.
			value, _, _ = strings.Cut(value, ";")
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"`))
			if err != nil || n < 0 {
				continue
			}
			return min(time.Duration(n)*time.Second, MaxSyncWait), true
		}
	}
	return 0, false
}

// awaitEnd waits up to d for turn turn of conversation id to end, waking
// on endings in the log rather than polling, and returns the ended view.
func (s *Server) awaitEnd(ctx context.Context, id string, turn int, d time.Duration) (conversations.View, bool) {
	if s.d.Endings == nil {
		return conversations.View{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		// Watch first, then look: an ending already in the log before the
		// watch began is in the read models once they have caught up with
		// the log as it is now; a later one arrives on ended. A wake for an
		// earlier turn's ending (the endings follower lagged) looks again.
		ended, stop := s.d.Endings.Watch(id)
		if s.d.Projections.WaitForHead(ctx) == nil {
			if v, ok := s.endedView(ctx, id, turn); ok {
				stop()
				return v, true
			}
		}
		select {
		case <-ended:
			stop()
		case <-ctx.Done():
			stop()
			return conversations.View{}, false
		}
	}
}

func (s *Server) endedView(ctx context.Context, id string, turn int) (conversations.View, bool) {
	v, found, err := s.d.Conversations.Get(ctx, id)
	return v, err == nil && found && v.Terminal() && v.Turn >= turn
}
