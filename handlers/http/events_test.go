package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/bolt"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
)

// The event history handler on the embedded store, without the rest of
// the gateway: a workspace with its people, one conversation opened
// straight in the store and many events correlated with it.

type eventsClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *eventsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *eventsClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type eventsFixture struct {
	srv                             *httptest.Server
	clock                           *eventsClock
	store                           eventstore.Store
	id                              string
	owner, creator, member, auditor string // bearer tokens
	stranger                        string
	correlated                      int
}

// withRecordedAt is a store that also says when each event was recorded.
type withRecordedAt struct {
	eventstore.Store
	at time.Time
}

func (s withRecordedAt) RecordedAt(_ context.Context, ids []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for _, id := range ids {
		out[id] = s.at
	}
	return out, nil
}

func newEventsFixture(t *testing.T, extra int, wrap func(eventstore.Store) commands.EventStore) *eventsFixture {
	t.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := &eventsClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	cmds := &commands.Handler{Store: st, Clock: clock}
	if wrap != nil {
		cmds.Store = wrap(st)
	}
	f := &eventsFixture{clock: clock, store: st}
	ws, err := cmds.CreateWorkspace(ctx, commands.CreateWorkspace{Name: "Acme", OwnerEmail: "owner@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	f.owner = ws.Token
	add := func(email string, role workspace.Role) (string, string) {
		m, err := cmds.AddMember(ctx, commands.AddMember{WorkspaceID: ws.WorkspaceID, ActorID: ws.UserID, Email: email, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return m.UserID, m.Token
	}
	var creatorID string
	creatorID, f.creator = add("creator@acme.test", workspace.RoleMember)
	_, f.member = add("member@acme.test", workspace.RoleMember)
	_, f.auditor = add("auditor@acme.test", workspace.RoleAuditor)
	other, err := cmds.CreateWorkspace(ctx, commands.CreateWorkspace{Name: "Other", OwnerEmail: "owner@other.test"})
	if err != nil {
		t.Fatal(err)
	}
	f.stranger = other.Token

	f.id = uuid.NewString()
	md := es.Metadata{CorrelationID: f.id, Actor: es.Actor{Kind: "user", ID: creatorID}, OccurredAt: clock.Now()}
	facts, err := conversation.Open(conversation.OpenParams{ConversationID: f.id, WorkspaceID: ws.WorkspaceID, UserID: creatorID,
		APIKeyID: uuid.NewString(), Message: "List my tasks", Now: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	appendFacts(t, st, conversation.Stream(f.id), md, facts...)
	// Uncorrelated noise, and what the conversation caused elsewhere.
	appendRaw(t, st, "contact-"+uuid.NewString(), es.Metadata{CorrelationID: uuid.NewString(), Actor: es.Actor{Kind: "agent"}}, 3)
	appendRaw(t, st, "task-"+uuid.NewString(), es.Metadata{CorrelationID: f.id, Actor: es.Actor{Kind: "agent"}, CausationID: "tool:1.1"}, extra)
	f.correlated = 1 + extra

	ids := identity.NewMemory()
	if err := projections.NewRunner(st, projections.Options{Logger: slog.New(slog.DiscardHandler)}, ids).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	s := &Server{d: Deps{Commands: cmds, Identity: ids, Keys: apikeys.NewMemory(), Clock: clock, Logger: slog.New(slog.DiscardHandler)}}
	r := chi.NewRouter()
	r.Get("/api/agent/{id}/events", s.conversationEvents)
	f.srv = httptest.NewServer(r)
	t.Cleanup(f.srv.Close)
	return f
}

func appendFacts(t *testing.T, st eventstore.Store, stream string, md es.Metadata, facts ...es.Fact) {
	t.Helper()
	var evs []es.Event
	for _, fact := range facts {
		ev, err := es.NewEvent(uuid.NewString(), fact, md)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if _, err := st.Append(context.Background(), stream, es.AnyVersion, evs...); err != nil {
		t.Fatal(err)
	}
}

func appendRaw(t *testing.T, st eventstore.Store, stream string, md es.Metadata, n int) {
	t.Helper()
	for i := 0; i < n; i += 200 {
		var evs []es.Event
		for j := i; j < min(n, i+200); j++ {
			evs = append(evs, es.Event{ID: uuid.NewString(), Type: "TaskNoted", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, j)), Metadata: md})
		}
		if _, err := st.Append(context.Background(), stream, es.AnyVersion, evs...); err != nil {
			t.Fatal(err)
		}
	}
}

type gotResponse struct {
	status int
	header http.Header
	body   []byte
}

func (f *eventsFixture) get(t *testing.T, token, path, accept string) gotResponse {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return gotResponse{resp.StatusCode, resp.Header, b}
}

func (f *eventsFixture) path(query string) string {
	p := "/api/agent/" + f.id + "/events"
	if query != "" {
		p += "?" + query
	}
	return p
}

func wantError(t *testing.T, r gotResponse, status int, code string) {
	t.Helper()
	var b errorBody
	if r.status != status || json.Unmarshal(r.body, &b) != nil || b.Error.Code != code || b.Error.Message == "" {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
}

func decodeEventsPage(t *testing.T, r gotResponse) eventsPage {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var p eventsPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return p
}

func TestEventsPages(t *testing.T) {
	f := newEventsFixture(t, 230, nil)
	var all []eventBody
	query := ""
	pages := 0
	for {
		p := decodeEventsPage(t, f.get(t, f.creator, f.path(query), ""))
		pages++
		all = append(all, p.Events...)
		if !p.HasMore {
			if p.NextCursor == nil {
				t.Errorf("last page: no next_cursor")
			} else if later := decodeEventsPage(t, f.get(t, f.creator, f.path("cursor="+*p.NextCursor), "")); len(later.Events) != 0 || later.HasMore {
				t.Errorf("after the last page: %+v", later)
			}
			break
		}
		if len(p.Events) != DefaultEventsLimit {
			t.Fatalf("page %d has %d events", pages, len(p.Events))
		}
		query = "cursor=" + *p.NextCursor
	}
	if pages != 3 || len(all) != f.correlated {
		t.Fatalf("%d pages, %d events; want 3 pages of %d events", pages, len(all), f.correlated)
	}
	if all[0].Type != "ConversationOpened" || all[0].Stream != conversation.Stream(f.id) || all[0].StreamVersion != 1 {
		t.Errorf("first event: %+v", all[0])
	}
	for i, e := range all {
		if i > 0 && e.GlobalPosition <= all[i-1].GlobalPosition {
			t.Errorf("event %d out of order", i)
		}
		if e.Metadata.CorrelationID != f.id || len(e.Metadata.Hash) != 64 || e.Position != fmt.Sprintf("0:%d", e.GlobalPosition) {
			t.Errorf("event %d: %+v", i, e)
		}
		// Without a store that keeps it, recorded_at is occurred_at.
		if e.RecordedAt != e.Metadata.OccurredAt {
			t.Errorf("event %d: recorded_at %s, occurred_at %s", i, e.RecordedAt, e.Metadata.OccurredAt)
		}
	}
	if c := all[1].Metadata.CausationID; c == nil || *c != "tool:1.1" {
		t.Errorf("causation_id = %v", c)
	}
	if all[1].Metadata.Actor.ID != nil || all[1].Metadata.Actor.Kind != "agent" {
		t.Errorf("actor = %+v", all[1].Metadata.Actor)
	}
	p := decodeEventsPage(t, f.get(t, f.creator, f.path("limit=1000"), ""))
	if len(p.Events) != f.correlated || p.HasMore {
		t.Errorf("limit=1000: %d events, has_more %v", len(p.Events), p.HasMore)
	}
	p = decodeEventsPage(t, f.get(t, f.creator, f.path("limit=1&after=0:0"), ""))
	if len(p.Events) != 1 || !p.HasMore || p.Events[0].Type != "ConversationOpened" {
		t.Errorf("limit=1: %+v", p)
	}
	// A raw page is valid JSON with data as the objects stored.
	var raw struct {
		Events []struct {
			Data map[string]any `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(f.get(t, f.creator, f.path("limit=2"), "").body, &raw); err != nil || raw.Events[1].Data["n"] != float64(0) {
		t.Errorf("data: %+v %v", raw, err)
	}
}

func TestEventsValidation(t *testing.T) {
	f := newEventsFixture(t, 2, nil)
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "limit=1.5", "limit=", "after=abc", "after=1", "after=-1:2", "after=1:2:3", "limit=5&after=::",
		"cursor=0:5", "cursor=garbage", "after=0:1&cursor=x"} {
		wantError(t, f.get(t, f.creator, f.path(q), ""), http.StatusUnprocessableEntity, CodeValidation)
	}
	wantError(t, f.get(t, "", f.path(""), ""), http.StatusUnauthorized, CodeUnauthenticated)
	wantError(t, f.get(t, "tok_unknown", f.path(""), ""), http.StatusUnauthorized, CodeUnauthenticated)
	wantError(t, f.get(t, f.creator, "/api/agent/"+uuid.NewString()+"/events", ""), http.StatusNotFound, CodeNotFound)
	wantError(t, f.get(t, f.creator, "/api/agent/123/events", ""), http.StatusNotFound, CodeNotFound)
	// The id is case-insensitive, like every UUID.
	decodeEventsPage(t, f.get(t, f.creator, "/api/agent/"+strings.ToUpper(f.id)+"/events", ""))
}

func TestEventsReaders(t *testing.T) {
	f := newEventsFixture(t, 2, nil)
	for name, tok := range map[string]string{"creator": f.creator, "owner": f.owner, "auditor": f.auditor} {
		if p := decodeEventsPage(t, f.get(t, tok, f.path(""), "")); len(p.Events) != f.correlated {
			t.Errorf("%s reads %d events", name, len(p.Events))
		}
	}
	wantError(t, f.get(t, f.member, f.path(""), ""), http.StatusNotFound, CodeNotFound)
	wantError(t, f.get(t, f.stranger, f.path(""), ""), http.StatusNotFound, CodeNotFound)
	// Long after the poll expiry, with no retention set, it still reads.
	f.clock.advance(400 * 24 * time.Hour)
	decodeEventsPage(t, f.get(t, f.creator, f.path(""), ""))
	decodeEventsPage(t, f.get(t, f.auditor, f.path(""), ""))
}

// Not parallel: it sets the environment.
func TestEventsRetention(t *testing.T) {
	f := newEventsFixture(t, 2, nil)
	t.Setenv(AuditRetentionEnv, "72h")
	f.clock.advance(71 * time.Hour)
	decodeEventsPage(t, f.get(t, f.auditor, f.path(""), ""))
	f.clock.advance(time.Hour)
	wantError(t, f.get(t, f.auditor, f.path(""), ""), http.StatusNotFound, CodeNotFound)
	wantError(t, f.get(t, f.creator, f.path(""), ""), http.StatusNotFound, CodeNotFound)
	// A retention shorter than the poll lifetime still serves that long.
	t.Setenv(AuditRetentionEnv, "1h")
	g := newEventsFixture(t, 1, nil)
	g.clock.advance(23 * time.Hour)
	decodeEventsPage(t, g.get(t, g.auditor, g.path(""), ""))
	g.clock.advance(time.Hour)
	wantError(t, g.get(t, g.auditor, g.path(""), ""), http.StatusNotFound, CodeNotFound)
	t.Setenv(AuditRetentionEnv, "")
	decodeEventsPage(t, g.get(t, g.auditor, g.path(""), ""))
	t.Setenv(AuditRetentionEnv, "forever")
	wantError(t, g.get(t, g.auditor, g.path(""), ""), http.StatusInternalServerError, CodeInternal)
}

func TestParseAuditRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, " ": 0, "2160h": 2160 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseAuditRetention(in); err != nil || got != want {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "-1h", "90d", "forever"} {
		if _, err := ParseAuditRetention(in); err == nil || !strings.Contains(err.Error(), AuditRetentionEnv) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestEventsNDJSON(t *testing.T) {
	f := newEventsFixture(t, 2*ndjsonPage+7, nil)
	for _, accept := range []string{"application/x-ndjson", "application/json;q=0.5, application/x-ndjson", "application/ndjson"} {
		r := f.get(t, f.auditor, f.path("limit=3"), accept)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("%s: %d %s %.200s", accept, r.status, r.header.Get("Content-Type"), r.body)
		}
		sc := bufio.NewScanner(strings.NewReader(string(r.body)))
		var n int
		var last uint64
		for sc.Scan() {
			var e eventBody
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("line %d: %v", n+1, err)
			}
			if n > 0 && e.GlobalPosition <= last {
				t.Fatalf("line %d out of order", n+1)
			}
			last = e.GlobalPosition
			n++
		}
		if n != f.correlated {
			t.Errorf("%s: %d lines, want every event (%d), whatever the limit", accept, n, f.correlated)
		}
	}
	// After a cursor, the rest.
	r := f.get(t, f.auditor, f.path("after=0:0"), "application/x-ndjson")
	if n := strings.Count(string(r.body), "\n"); n != f.correlated {
		t.Errorf("after 0:0: %d lines", n)
	}
	// Not asked for (or refused with q=0): a JSON page.
	for _, accept := range []string{"", "application/json", "application/x-ndjson;q=0"} {
		r := f.get(t, f.auditor, f.path(""), accept)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("Accept %q: Content-Type %q", accept, r.header.Get("Content-Type"))
		}
	}
	// Errors keep the contract's shape.
	wantError(t, f.get(t, f.member, f.path(""), "application/x-ndjson"), http.StatusNotFound, CodeNotFound)
}

func TestEventsRecordedAt(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
	f := newEventsFixture(t, 1, func(s eventstore.Store) commands.EventStore { return withRecordedAt{s, at} })
	p := decodeEventsPage(t, f.get(t, f.creator, f.path(""), ""))
	for _, e := range p.Events {
		if e.RecordedAt != "2026-03-01T09:00:00.123456Z" {
			t.Errorf("recorded_at = %s", e.RecordedAt)
		}
	}
}

// onlyAppend is a commands store that cannot read by correlation id.
type onlyAppend struct{ commands.EventStore }

func TestEventsNeedsCorrelatedReads(t *testing.T) {
	f := newEventsFixture(t, 1, func(s eventstore.Store) commands.EventStore { return onlyAppend{s} })
	wantError(t, f.get(t, f.creator, f.path(""), ""), http.StatusInternalServerError, CodeInternal)
}
