package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/mcpcall"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// The event history API: GET /api/agent/{id}/events lists every event
// correlated with a conversation (its own stream and everything it caused
// in other streams: contacts, tasks, e-mails, documents, its webhook
// deliveries, its budget reservations and charges), in the order of the
// global log, as the store holds them, with each event's link in its
// stream's hash chain, so an auditor can replay it and check that nobody
// edited the record (es.VerifyChain).
//
// The history is read from the event store, not from a read model: who
// may read it is decided on the conversation's own first event.

// Page sizes of the event history.
const (
	DefaultEventsLimit = 100
	MaxEventsLimit     = 1000
	// ndjsonPage is how many events a streamed history reads at a time.
	ndjsonPage = 500
)

// AuditRetentionEnv names the setting that bounds how long a
// conversation's event history is served: a Go duration counted from the
// conversation's creation, never less than the poll lifetime (24h). Unset
// or empty means forever.
const AuditRetentionEnv = "GATEWAY_AUDIT_RETENTION"

// ParseAuditRetention reads a GATEWAY_AUDIT_RETENTION value: "" is 0
// (forever), anything else a positive Go duration such as 2160h.
func ParseAuditRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s must be a positive Go duration such as 2160h (90 days), or unset for forever; not %q", AuditRetentionEnv, v)
	}
	return d, nil
}

// auditRetention is the setting from the environment, parsed once per
// distinct value.
var auditRetention struct {
	sync.Mutex
	raw string
	d   time.Duration
	err error
	ok  bool
}

func currentAuditRetention() (time.Duration, error) {
	raw := os.Getenv(AuditRetentionEnv)
	auditRetention.Lock()
	defer auditRetention.Unlock()
	if !auditRetention.ok || auditRetention.raw != raw {
		auditRetention.raw, auditRetention.ok = raw, true
		auditRetention.d, auditRetention.err = ParseAuditRetention(raw)
	}
	return auditRetention.d, auditRetention.err
}

// eventLog is what the history reads. The commands' store is the
// gateway's event store, which offers it.
type eventLog interface {
	ReadStream(ctx context.Context, stream string, afterVersion int64) ([]es.Recorded, error)
	ReadCorrelated(ctx context.Context, correlationID string, after es.Position, limit int) ([]es.Recorded, error)
}

// recordedAtReader is offered by stores that keep when each event was
// written (Postgres's recorded_at); others show the event's occurred_at.
type recordedAtReader interface {
	RecordedAt(ctx context.Context, eventIDs []string) (map[string]time.Time, error)
}

type actorBody struct {
	Kind string  `json:"kind"`
	ID   *string `json:"id"`
}

type eventMetadataBody struct {
	CorrelationID string    `json:"correlation_id"`
	CausationID   *string   `json:"causation_id"`
	Actor         actorBody `json:"actor"`
	Schema        int       `json:"schema"`
	OccurredAt    string    `json:"occurred_at"`
	Hash          string    `json:"hash"`
}

type eventBody struct {
	ID             string            `json:"id"`
	Type           string            `json:"type"`
	Stream         string            `json:"stream"`
	StreamVersion  int64             `json:"stream_version"`
	Position       string            `json:"position"`
	GlobalPosition uint64            `json:"global_position"`
	RecordedAt     string            `json:"recorded_at"`
	Data           json.RawMessage   `json:"data"`
	Metadata       eventMetadataBody `json:"metadata"`
}

type eventsPage struct {
	ConversationUUID string      `json:"conversation_uuid"`
	Events           []eventBody `json:"events"`
	HasMore          bool        `json:"has_more"`
	NextCursor       *string     `json:"next_cursor"`
}

// auditTime renders event times at full precision, in UTC.
func auditTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func eventFromRecorded(r es.Recorded, recordedAt map[string]time.Time) eventBody {
	at, ok := recordedAt[r.ID]
	if !ok {
		at = r.Metadata.OccurredAt
	}
	data := r.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	md := r.Metadata
	return eventBody{ID: r.ID, Type: r.Type, Stream: r.Stream, StreamVersion: r.StreamVersion, Position: r.Position.String(),
		GlobalPosition: r.Position.Seq, RecordedAt: auditTime(at), Data: data,
		Metadata: eventMetadataBody{CorrelationID: md.CorrelationID, CausationID: optional(md.CausationID),
			Actor: actorBody{Kind: md.Actor.Kind, ID: optional(md.Actor.ID)}, Schema: md.Schema,
			OccurredAt: auditTime(md.OccurredAt), Hash: md.Hash}}
}

// eventsList binds a history's cursors to it.
func eventsList(id string) string { return "events/" + id }

// eventsQuery is the parsed query string.
type eventsQuery struct {
	limit int
	after es.Position
}

// parseEventsQuery reads limit and where to start: cursor (the sealed
// next_cursor of a page, bound to this history) or after (an event's
// plain position, for auditors who note where they stopped).
func (s *Server) parseEventsQuery(r *http.Request, id string) (eventsQuery, *apiError) {
	q := eventsQuery{limit: DefaultEventsLimit}
	vals := r.URL.Query()
	var e *apiError
	if q.limit, e = pageLimit(r); e != nil {
		return q, e
	}
	if vals.Has("cursor") && vals.Has("after") {
		return q, validation("Send cursor or after, not both.")
	}
	if vals.Has("cursor") {
		k, ok := s.openCursor(vals.Get("cursor"))
		p, err := es.ParsePosition(k.ID)
		if !ok || k.List != eventsList(id) || err != nil {
			return q, validation("cursor is not one this history gave (it may belong to another conversation, or have been changed); start again without it.")
		}
		q.after = p
		return q, nil
	}
	if raw, present := vals["after"]; present {
		v := strings.TrimSpace(raw[len(raw)-1])
		p, err := es.ParsePosition(v)
		if err != nil {
			return q, validation("after must be the position of an event of this history (its \"position\", like \"0:42\"), as next_cursor gives it; not %q.", v)
		}
		q.after = p
	}
	return q, nil
}

// pageLimit reads a list's limit (1 to MaxEventsLimit, DefaultEventsLimit
// when absent).
func pageLimit(r *http.Request) (int, *apiError) {
	raw, present := r.URL.Query()["limit"]
	if !present {
		return DefaultEventsLimit, nil
	}
	v := strings.TrimSpace(raw[len(raw)-1])
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxEventsLimit {
		return 0, validation("limit must be a whole number from 1 to %d, not %q.", MaxEventsLimit, v)
	}
	return n, nil
}

// wantsNDJSON reports whether the client asked for the streamed form.
func wantsNDJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		switch mt {
		case "application/x-ndjson", "application/ndjson", "application/jsonl":
			return true
		}
	}
	return false
}

func (s *Server) eventLog(r *http.Request) (eventLog, *apiError) {
	if s.d.Commands != nil {
		if l, ok := s.d.Commands.Store.(eventLog); ok {
			return l, nil
		}
	}
	return nil, s.internal(r, errors.New("the event store cannot read events by correlation id"))
}

// historyReader authenticates a reader of a conversation's event history
// and returns the conversation's id. The creator reads it (with their
// token, and their key if they send one, as when polling), and so do the
// auditors and owners of its workspace with their token alone; also after
// the poll expiry, until the audit retention has passed. Anyone else, in
// this workspace or another, is told there is no such conversation.
func (s *Server) historyReader(r *http.Request, log eventLog) (string, *apiError) {
	c, e := s.authenticate(r)
	if e != nil {
		return "", e
	}
	if r.Header.Get("X-Api-Key") != "" {
		if _, e := s.authenticateKey(r, c); e != nil {
			return "", e
		}
	}
	id, e := conversationID(r)
	if e != nil {
		return "", e
	}
	notFound := errorf(http.StatusNotFound, CodeNotFound, "No conversation %s was found.", id)
	// Ownership first, from the read model's index: another workspace's
	// conversation is turned away as fast as an id that does not exist,
	// without reading its history.
	if s.d.Conversations != nil {
		// Read across tenants: row-level security would hide another
		// workspace's conversation and send this to its history.
		v, found, err := s.d.Conversations.Get(projections.Unscoped(r.Context()), id)
		if err != nil {
			return "", s.internal(r, err)
		}
		if found && (v.WorkspaceID != c.WorkspaceID ||
			(v.UserID != c.UserID && !c.is(string(workspace.RoleOwner), string(workspace.RoleAuditor)))) {
			return "", notFound
		}
		if found {
			return s.withinRetention(r, id, v.CreatedAt)
		}
	}
	recs, err := log.ReadStream(r.Context(), conversation.Stream(id), 0)
	if err != nil {
		return "", s.internal(r, err)
	}
	if len(recs) == 0 {
		return s.mcpCallReader(r, log, c, id, notFound)
	}
	f, err := conversation.Events.Decode(recs[0])
	if err != nil {
		return "", s.internal(r, err)
	}
	opened, ok := f.(*conversation.Opened)
	if !ok {
		return "", s.internal(r, fmt.Errorf("stream %s starts with %s, not ConversationOpened", recs[0].Stream, recs[0].Type))
	}
	if opened.WorkspaceID != c.WorkspaceID ||
		(opened.UserID != c.UserID && !c.is(string(workspace.RoleOwner), string(workspace.RoleAuditor))) {
		return "", notFound
	}
	return s.withinRetention(r, id, opened.OpenedAt)
}

// withinRetention serves a conversation's history while the audit
// retention (counted from its creation) lasts.
func (s *Server) withinRetention(r *http.Request, id string, openedAt time.Time) (string, *apiError) {
	retention, err := currentAuditRetention()
	if err != nil {
		return "", s.internal(r, err)
	}
	if retention > 0 {
		until := openedAt.Add(max(retention, conversation.Lifetime))
		if !s.d.Clock.Now().Before(until) {
			return "", errorf(http.StatusNotFound, CodeNotFound,
				"The event history of conversation %s was kept until %s (%s=%s after creation) and is no longer served.",
				id, until.UTC().Format(time.RFC3339), AuditRetentionEnv, retention)
		}
	}
	return id, nil
}

// mcpCallReader is historyReader for an MCP tool call's id (the call_id of
// its result): its record and everything it caused are correlated with it
// as a conversation's are. Its caller reads it, and so do the owners and
// auditors of its workspace.
func (s *Server) mcpCallReader(r *http.Request, log eventLog, c caller, id string, notFound *apiError) (string, *apiError) {
	recs, err := log.ReadStream(r.Context(), mcpcall.Stream(id), 0)
	if err != nil {
		return "", s.internal(r, err)
	}
	if len(recs) == 0 {
		return "", notFound
	}
	f, err := mcpcall.Events.Decode(recs[0])
	if err != nil {
		return "", s.internal(r, err)
	}
	req, ok := f.(*mcpcall.Requested)
	if !ok || req.WorkspaceID != c.WorkspaceID ||
		(req.UserID != c.UserID && !c.is(string(workspace.RoleOwner), string(workspace.RoleAuditor))) {
		return "", notFound
	}
	retention, err := currentAuditRetention()
	if err != nil {
		return "", s.internal(r, err)
	}
	if until := req.RequestedAt.Add(max(retention, conversation.Lifetime)); retention > 0 && !s.d.Clock.Now().Before(until) {
		return "", errorf(http.StatusNotFound, CodeNotFound,
			"The event history of MCP call %s was kept until %s (%s=%s after the call) and is no longer served.",
			id, until.UTC().Format(time.RFC3339), AuditRetentionEnv, retention)
	}
	return id, nil
}

func (s *Server) conversationEvents(w http.ResponseWriter, r *http.Request) {
	log, e := s.eventLog(r)
	if e != nil {
		writeError(w, e)
		return
	}
	id, e := s.historyReader(r, log)
	if e != nil {
		writeError(w, e)
		return
	}
	q, e := s.parseEventsQuery(r, id)
	if e != nil {
		writeError(w, e)
		return
	}
	if wantsNDJSON(r) {
		s.streamEvents(w, r, log, id, q.after)
		return
	}
	recs, err := log.ReadCorrelated(r.Context(), id, q.after, q.limit+1)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	page := eventsPage{ConversationUUID: id, Events: []eventBody{}, HasMore: len(recs) > q.limit}
	if page.HasMore {
		recs = recs[:q.limit]
	}
	at, err := s.recordedAt(r.Context(), log, recs)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	for _, rec := range recs {
		page.Events = append(page.Events, eventFromRecorded(rec, at))
	}
	// The cursor is the last event's position: with has_more false it
	// still lets a client ask later for what happened since.
	switch {
	case len(recs) > 0:
		page.NextCursor = s.sealCursor(pageKey{List: eventsList(id), ID: recs[len(recs)-1].Position.String()})
	case r.URL.Query().Has("after") || r.URL.Query().Has("cursor"):
		page.NextCursor = s.sealCursor(pageKey{List: eventsList(id), ID: q.after.String()})
	}
	writeJSON(w, http.StatusOK, page)
}

// streamEvents writes the whole history (after the cursor, if given) as
// one JSON object per line, flushing after every page read. A failure
// after the first byte aborts the response, so a client never takes a
// cut stream for a complete one.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, log eventLog, id string, after es.Position) {
	rc := http.NewResponseController(w)
	started := false
	fail := func(err error) {
		if !started {
			writeError(w, s.internal(r, err))
			return
		}
		s.d.Logger.ErrorContext(r.Context(), "event history stream failed", "conversation", id, "err", err)
		panic(http.ErrAbortHandler)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		recs, err := log.ReadCorrelated(r.Context(), id, after, ndjsonPage)
		if err != nil {
			fail(err)
			return
		}
		at, err := s.recordedAt(r.Context(), log, recs)
		if err != nil {
			fail(err)
			return
		}
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		for _, rec := range recs {
			if err := enc.Encode(eventFromRecorded(rec, at)); err != nil {
				return // the client went away
			}
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
		if len(recs) < ndjsonPage {
			return
		}
		after = recs[len(recs)-1].Position
	}
}

func (s *Server) recordedAt(ctx context.Context, log eventLog, recs []es.Recorded) (map[string]time.Time, error) {
	ra, ok := log.(recordedAtReader)
	if !ok || len(recs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	return ra.RecordedAt(ctx, ids)
}
