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

	"github.com/sois-ai/chat-agent-gateway/commands"
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

// liveBase marks the ids of text sent ahead of the log: "12.1048596" is
// the text of the step after version 12, 20 bytes of it.
const liveBase = 1 << 20

// keyed is an event with its place among those of one fact (or, for live
// text, its place after the fact it follows).
type keyed struct {
	k  int
	ev sseEvent
}

// liveText is the text of a running model step sent ahead of the log.
type liveText struct {
	writer  string // the worker writing it, and its attempt: another one is other text
	attempt int
	// raw is the step's text from byte base on, as the relay brought it
	// (leading spaces already dropped by the writer).
	base int
	raw  []byte
	// sent is how much of the text the client holds: sent by this stream,
	// or held from before a reconnect (then text is not known).
	sent   int
	text   string
	known  bool
	broken bool // text was missed (a gap, another writer): the rest comes from the log
}

// streamState is what rendering needs to remember between facts.
type streamState struct {
	status conversation.Status
	turn   int
	// lastStep is the latest model step recorded; pending is the step
	// whose answer the next facts are.
	lastStep, pending int
	// claimed is the step whose claim (ModelStepStarted) was read last and
	// has no answer yet: the only one whose text is shown live.
	claimed int
	live    map[int]*liveText
	// resumed is how much of the next step's text a client that
	// reconnected after a live chunk holds (from its Last-Event-ID): the
	// step after version resumeAfter. Facts up to that version, read to
	// rebuild the state, do not settle it.
	resumed     int
	resumeAfter int64
	cur         int64
}

// resumable reports whether the fact being rendered may settle resumed.
func (st *streamState) resumable() bool { return st.resumed > 0 && st.cur > st.resumeAfter }

func (st *streamState) ended() bool { return st.status.Terminal() }

func (st *streamState) statusEvent(s conversation.Status, extra map[string]any) sseEvent {
	st.status = s
	data := map[string]any{"status": string(s), "turn": st.turn}
	for k, v := range extra {
		data[k] = v
	}
	return sseEvent{event: "status", data: data}
}

// unshown takes back the text sent ahead of the log for step (all steps
// when step is 0) that the reply does not hold: a retract event says how
// much to drop from what the chunks put together.
func (st *streamState) unshown(step int) []keyed {
	n, text, known := 0, "", true
	for s, lv := range st.live {
		if step == 0 || s == step {
			n += lv.sent
			text += lv.text
			known = known && lv.known
			delete(st.live, s)
		}
	}
	if st.resumable() {
		n, known = n+st.resumed, false
		st.resumed = 0
	}
	if n == 0 {
		return nil
	}
	data := map[string]any{"length": n}
	if known {
		data["text"] = text
	}
	return []keyed{{0, sseEvent{event: "retract", data: data}}}
}

// render turns one recorded fact into the events a client sees, keyed by
// their place among the fact's events.
func (st *streamState) render(rec es.Recorded) ([]keyed, error) {
	f, err := conversation.Events.Decode(rec)
	if err != nil {
		return nil, err
	}
	st.cur = rec.StreamVersion
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
		return []keyed{{0, userTurn(e.Message, e.Context, e.OpenedAt)}, {1, st.statusEvent(conversation.StatusOpen, nil)}}, nil
	case *conversation.FollowUpReceived:
		st.turn, st.lastStep = e.Turn, max(st.lastStep, e.FirstStep-1)
		return []keyed{{0, userTurn(e.Message, e.Context, e.ReceivedAt)}, {1, st.statusEvent(conversation.StatusOpen, nil)}}, nil
	case *conversation.ModelStepCompleted:
		st.lastStep, st.pending = max(st.lastStep, e.Step), e.Step
		if st.claimed == e.Step {
			st.claimed = 0
		}
		if st.status == conversation.StatusOpen {
			return []keyed{{0, st.statusEvent(conversation.StatusProcessing, nil)}}, nil
		}
	case *conversation.ModelStepDiscarded:
		st.lastStep = max(st.lastStep, e.Step)
	case *conversation.ModelStepStarted:
		st.claimed = e.Step
		if st.status == conversation.StatusOpen {
			return []keyed{{0, st.statusEvent(conversation.StatusProcessing, nil)}}, nil
		}
	case *conversation.ProcessingStarted:
		if st.status == conversation.StatusOpen {
			return []keyed{{0, st.statusEvent(conversation.StatusProcessing, nil)}}, nil
		}
	case *conversation.ToolCallRequested:
		// The step's text, if any was sent, was not a reply.
		return append(st.unshown(e.Step), keyed{1, sseEvent{event: "tool_call",
			data: map[string]any{"key": e.Key, "name": e.Name, "arguments": e.Arguments}}}), nil
	case *conversation.ToolCallCompleted:
		return []keyed{{0, sseEvent{event: "tool_result", data: map[string]any{"key": e.Key, "name": e.Name, "result": e.Result,
			"is_error": e.IsError, "truncated": e.Truncated}}}}, nil
	case *conversation.Resolved:
		return st.reply(e), nil
	case *conversation.Failed:
		st.claimed = 0
		return append(st.unshown(0), keyed{1, st.statusEvent(conversation.StatusFailed,
			map[string]any{"error": map[string]string{"code": e.Code, "message": e.Reason}})}), nil
	}
	return nil, nil
}

// reply renders the agent's reply: the chunks the client does not hold
// yet (each keyed by where it ends in the reply, so a client that resumes
// mid-reply gets exactly the rest), the turn and the status.
func (st *streamState) reply(e *conversation.Resolved) []keyed {
	reply := e.Reply
	var out []keyed
	start := 0
	// What the client holds of the reply already: the text sent ahead
	// of the log when it is the start of the reply (as far as known).
	if lv := st.live[st.pending]; lv != nil && lv.sent <= len(reply) && (!lv.known || strings.HasPrefix(reply, lv.text)) {
		start = lv.sent
		delete(st.live, st.pending)
	} else if lv == nil && st.resumable() && st.resumed <= len(reply) {
		start, st.resumed = st.resumed, 0
	}
	out = append(out, st.unshown(0)...)
	for _, c := range wordChunks(reply[start:]) {
		start += len(c)
		out = append(out, keyed{start, sseEvent{data: map[string]string{"chunk": c}}})
	}
	out = append(out, keyed{len(reply) + 1, sseEvent{event: "turn", data: turnBody{Role: "agent",
		Payload: map[string]any{"content": reply}, Timestamp: ts(e.ResolvedAt)}}})
	var extra map[string]any
	if e.Outcome != "" {
		// How it ended, as the poll body and the webhook say it.
		extra = map[string]any{"outcome": e.Outcome}
		if len(e.Candidates) > 0 {
			extra["candidates"] = e.Candidates
		}
	}
	return append(out, keyed{len(reply) + 2, st.statusEvent(conversation.StatusResolved, extra)})
}

// onDelta takes text a running step wrote and returns what to send of it
// now (the text after what the client holds, trailing spaces held back),
// with how much of the step's text the client holds after it. Only the
// step whose claim the stream has read is shown, one writer's text at a
// time; anything odd (a gap, another writer) stops the live text, and the
// log brings the rest. unknown says the delta is for a step the stream
// has not read the claim of yet: the log is worth reading.
func (st *streamState) onDelta(d commands.Delta) (chunk string, sent int, unknown bool) {
	if st.ended() || d.Step <= st.lastStep {
		return "", 0, false
	}
	if d.Step != st.claimed {
		return "", 0, d.Step > st.claimed
	}
	lv := st.live[d.Step]
	if lv == nil {
		lv = &liveText{writer: d.Writer, attempt: d.Attempt, base: d.Offset, known: true}
		if st.resumed > 0 {
			// The client that reconnected holds the start of this text
			// (had a later fact settled it, resumed would be 0).
			lv.sent, lv.known, st.resumed = st.resumed, false, 0
		}
		if d.Offset > lv.sent {
			lv.broken = true // the start of the text never came
		}
		st.live[d.Step] = lv
	}
	if lv.broken {
		return "", lv.sent, false
	}
	if d.Writer != lv.writer || d.Attempt != lv.attempt || d.Offset > lv.base+len(lv.raw) {
		lv.broken = true
		return "", lv.sent, false
	}
	if end := d.Offset + len(d.Text); end > lv.base+len(lv.raw) {
		lv.raw = append(lv.raw, d.Text[lv.base+len(lv.raw)-d.Offset:]...)
	}
	visible := lv.base + len(strings.TrimRightFunc(string(lv.raw), unicode.IsSpace))
	if visible <= lv.sent {
		return "", lv.sent, false
	}
	chunk = string(lv.raw[lv.sent-lv.base : visible-lv.base])
	lv.sent = visible
	if lv.known {
		lv.text += chunk
	}
	return chunk, lv.sent, false
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
	s.pipe(w, r, v.ID, from, 0)
}

// pipe sends conversation id's events after from (and from turn fromTurn
// on) until its latest turn has ended, waking on its new events in the log (appended on any instance)
// and keeping a quiet connection alive. A client that goes away stops the
// stream only: the conversation goes on.
func (s *Server) pipe(w http.ResponseWriter, r *http.Request, id string, from eventID, fromTurn int) {
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
	var deltas <-chan commands.Delta
	if s.d.Relay != nil {
		var stop func()
		deltas, stop = s.d.Relay.Subscribe(id)
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
	st := &streamState{live: map[int]*liveText{}}
	if from.k >= liveBase {
		st.resumed, st.resumeAfter = from.k-liveBase, from.version
	}
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
			if st.turn < fromTurn {
				evs = nil // a resent follow-up streams its own turn on
			}
			for _, ev := range evs {
				if eid := (eventID{rec.StreamVersion, ev.k}); eid.after(from) {
					out.WriteString(sseText(eid.String(), ev.ev.event, ev.ev.data))
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
		// Text of a running step comes between facts: it is sent without
		// reading the log, until the log has something new.
		for waiting := true; waiting; {
			select {
			case <-wake:
				waiting = false
			case d := <-deltas:
				chunk, sent, unknown := st.onDelta(d)
				if chunk != "" {
					eid := eventID{read, liveBase + sent}
					if !write(sseText(eid.String(), "", map[string]string{"chunk": chunk})) {
						return
					}
				}
				// Text of a step whose claim is not read yet: read the log
				// (the writer sends its text again, whole, a moment later).
				waiting = !unknown
			case <-keepAlive.C:
				if !write(": keep-alive\n\n") {
					return
				}
			case <-ctx.Done():
				return
			}
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
	return eventID{version: version - 1, k: liveBase - 1}
}
