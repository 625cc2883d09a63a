package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Streaming: POST /api/agent with "stream": true, and GET
// /api/agent/{id}/stream to attach again, send a conversation as
// server-sent events read from its events in the log. Every event's id is
// taken from the stream version of the fact it shows ("12", or "12.3" for
// the fourth event one fact yields), so a client that reconnects with
// Last-Event-ID gets exactly what came after, from any instance: the log
// is the same everywhere. The reply comes as {"chunk": …} events whose
// concatenation is the agent's turn, then the turn itself, its status, and
// "[DONE]" once the turn has ended.

// sseEvent is one server-sent event.
type sseEvent struct {
	event string // empty: the default "message" (the reply's chunks)
	data  any
}

// eventID orders the events of a conversation: the stream version of the
// fact, then the event's place among those the fact yields.
type eventID struct {
	version int64
	k       int
}

func (e eventID) String() string {
	if e.k == 0 {
		return strconv.FormatInt(e.version, 10)
	}
	return fmt.Sprintf("%d.%d", e.version, e.k)
}

func (e eventID) after(o eventID) bool {
	return e.version > o.version || (e.version == o.version && e.k > o.k)
}

// parseEventID reads a Last-Event-ID this gateway sent.
func parseEventID(s string) (eventID, bool) {
	v, k, dotted := strings.Cut(strings.TrimSpace(s), ".")
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil || version < 0 {
		return eventID{}, false
	}
	id := eventID{version: version}
	if dotted {
		if id.k, err = strconv.Atoi(k); err != nil || id.k < 0 {
			return eventID{}, false
		}
	}
	return id, true
}

// streamState is what rendering needs to remember between facts.
type streamState struct {
	status conversation.Status
	turn   int
}

func (st *streamState) ended() bool { return st.status.Terminal() }

func (st *streamState) statusEvent(s conversation.Status, extra map[string]any) sseEvent {
	st.status = s
	data := map[string]any{"status": string(s), "turn": st.turn}
	for k, v := range extra {
		data[k] = v
	}
	return sseEvent{event: "status", data: data}
}

// render turns one recorded fact into the events a client sees.
func (st *streamState) render(rec es.Recorded) ([]sseEvent, error) {
	f, err := conversation.Events.Decode(rec)
	if err != nil {
		return nil, err
	}
	userTurn := func(msg string, hints *conversation.Context, at time.Time) sseEvent {
		payload := map[string]any{"message": msg}
		if hints != nil {
			payload["context"] = hints
		}
		return sseEvent{event: "turn", data: turnBody{Role: "user", Payload: payload, Timestamp: ts(at)}}
	}
	switch e := f.(type) {
	case *conversation.Opened:
		st.turn = 1
		return []sseEvent{userTurn(e.Message, e.Context, e.OpenedAt), st.statusEvent(conversation.StatusOpen, nil)}, nil
	case *conversation.FollowUpReceived:
		st.turn = e.Turn
		return []sseEvent{userTurn(e.Message, e.Context, e.ReceivedAt), st.statusEvent(conversation.StatusOpen, nil)}, nil
	case *conversation.ProcessingStarted, *conversation.ModelStepStarted, *conversation.ModelStepCompleted:
		if st.status == conversation.StatusOpen {
			return []sseEvent{st.statusEvent(conversation.StatusProcessing, nil)}, nil
		}
	case *conversation.ToolCallRequested:
		return []sseEvent{{event: "tool_call", data: map[string]any{"key": e.Key, "name": e.Name, "arguments": e.Arguments}}}, nil
	case *conversation.ToolCallCompleted:
		return []sseEvent{{event: "tool_result", data: map[string]any{"key": e.Key, "name": e.Name, "result": e.Result,
			"is_error": e.IsError, "truncated": e.Truncated}}}, nil
	case *conversation.Resolved:
		var out []sseEvent
		for _, c := range wordChunks(e.Reply) {
			out = append(out, sseEvent{data: map[string]string{"chunk": c}})
		}
		out = append(out, sseEvent{event: "turn", data: turnBody{Role: "agent",
			Payload: map[string]any{"content": e.Reply}, Timestamp: ts(e.ResolvedAt)}})
		return append(out, st.statusEvent(conversation.StatusResolved, nil)), nil
	case *conversation.Failed:
		return []sseEvent{st.statusEvent(conversation.StatusFailed,
			map[string]any{"error": map[string]string{"code": e.Code, "message": e.Reason}})}, nil
	}
	return nil, nil
}

// wordChunks cuts a reply into words, each with the spaces before it, so
// that the chunks put together are the reply, byte for byte.
func wordChunks(s string) []string {
	var out []string
	start := 0
	inWord := false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if inWord && space {
			// A word ended: the next chunk starts at the spaces after it.
			out = append(out, s[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// streamConversation attaches to a conversation's event stream: from the
// start, or after the Last-Event-ID the client sends; an ended
// conversation is replayed and closed with [DONE].
func (s *Server) streamConversation(w http.ResponseWriter, r *http.Request) {
	v, e := s.readableConversation(r)
	if e != nil {
		writeError(w, e)
		return
	}
	from := eventID{}
	if last := r.Header.Get("Last-Event-ID"); strings.TrimSpace(last) != "" {
		id, ok := parseEventID(last)
		if !ok {
			writeError(w, validation("Last-Event-ID %q is not an event id of this stream; send the id of the last event you received, or none to start over.", last))
			return
		}
		from = id
	}
	s.pipe(w, r, v.ID, from)
}

// pipe sends conversation id's events after from until its latest turn has
// ended, waking on its new events in the log (appended on any instance)
// and keeping a quiet connection alive. A client that goes away stops the
// stream only: the conversation goes on.
func (s *Server) pipe(w http.ResponseWriter, r *http.Request, id string, from eventID) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Conversation-UUID", id)
	w.WriteHeader(http.StatusOK)

	var wake <-chan struct{}
	if s.d.Endings != nil {
		var stop func()
		wake, stop = s.d.Endings.Follow(id)
		defer stop()
	}
	keepAlive := time.NewTicker(s.d.KeepAlive)
	defer keepAlive.Stop()
	write := func(text string) bool {
		// Each write gets its own deadline: the server's write timeout is
		// for ordinary replies, and a stream may last as long as its turn.
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	var st streamState
	var read int64
	var last es.Position
	for {
		recs, err := s.d.Commands.Store.ReadStream(ctx, conversation.Stream(id), read)
		if err != nil {
			if ctx.Err() == nil {
				s.d.Logger.Error("event stream read failed", "conversation", id, "err", err)
				write(sseText("", "error", map[string]string{"code": CodeInternal,
					"message": "The stream broke off on our side; reconnect with Last-Event-ID to go on."}))
			}
			return
		}
		var out strings.Builder
		for _, rec := range recs {
			evs, err := st.render(rec)
			if err != nil {
				s.d.Logger.Error("event stream could not render a fact", "conversation", id, "type", rec.Type, "err", err)
				return
			}
			for k, ev := range evs {
				if eid := (eventID{rec.StreamVersion, k}); eid.after(from) {
					out.WriteString(sseText(eid.String(), ev.event, ev.data))
				}
			}
			read, last = rec.StreamVersion, rec.Position
		}
		if st.ended() {
			// A poll after [DONE] shows the ending too: the read models
			// hold it before the stream says it is over.
			wctx, cancel := context.WithTimeout(ctx, s.d.WriteWait)
			_ = s.d.Projections.WaitFor(wctx, last)
			cancel()
			out.WriteString("data: [DONE]\n\n")
		}
		if out.Len() > 0 && !write(out.String()) {
			return
		}
		if st.ended() {
			return
		}
		select {
		case <-wake:
		case <-keepAlive.C:
			if !write(": keep-alive\n\n") {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// sseText renders one event; data is JSON on one line.
func sseText(id, event string, data any) string {
	j, _ := json.Marshal(data)
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	b.WriteString("data: ")
	b.Write(j)
	b.WriteString("\n\n")
	return b.String()
}

// streamAfter is where a stream of a turn just accepted starts: after
// everything before the fact that accepted it (version).
func streamAfter(version int64) eventID {
	if version <= 1 {
		return eventID{}
	}
	return eventID{version: version - 1, k: 1 << 30}
}
