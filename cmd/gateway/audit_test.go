package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gatewaycli "github.com/sois-ai/chat-agent-gateway/handlers/cli"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v3"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/esdb/esdbtest"
	pgstore "github.com/sois-ai/chat-agent-gateway/infra/eventstore/postgres"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
	"github.com/sois-ai/chat-agent-gateway/infra/rebuild"
)

// End-to-end tests of the audit trail: the event history API, `gateway
// audit replay` and `audit verify`, and `gateway projections status` and
// `rebuild`, on both backends where they apply.

// apiEvent is one event of GET /api/agent/{id}/events.
type apiEvent struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Stream         string          `json:"stream"`
	StreamVersion  int64           `json:"stream_version"`
	Position       string          `json:"position"`
	GlobalPosition uint64          `json:"global_position"`
	RecordedAt     string          `json:"recorded_at"`
	Data           json.RawMessage `json:"data"`
	Metadata       struct {
		CorrelationID string  `json:"correlation_id"`
		CausationID   *string `json:"causation_id"`
		Actor         struct {
			Kind string  `json:"kind"`
			ID   *string `json:"id"`
		} `json:"actor"`
		Schema     int    `json:"schema"`
		OccurredAt string `json:"occurred_at"`
		Hash       string `json:"hash"`
	} `json:"metadata"`
}

// recorded turns an API event back into what the store returned, so the
// client can check the hash chain itself.
func (e apiEvent) recorded(t *testing.T) es.Recorded {
	t.Helper()
	pos, err := es.ParsePosition(e.Position)
	if err != nil {
		t.Fatalf("event %s: %v", e.ID, err)
	}
	at, err := time.Parse(time.RFC3339Nano, e.Metadata.OccurredAt)
	if err != nil {
		t.Fatalf("event %s: occurred_at: %v", e.ID, err)
	}
	md := es.Metadata{CorrelationID: e.Metadata.CorrelationID, Actor: es.Actor{Kind: e.Metadata.Actor.Kind},
		Schema: e.Metadata.Schema, OccurredAt: at, Hash: e.Metadata.Hash}
	if e.Metadata.CausationID != nil {
		md.CausationID = *e.Metadata.CausationID
	}
	if e.Metadata.Actor.ID != nil {
		md.Actor.ID = *e.Metadata.Actor.ID
	}
	return es.Recorded{ID: e.ID, Stream: e.Stream, StreamVersion: e.StreamVersion, Position: pos, Type: e.Type, Data: e.Data, Metadata: md}
}

type eventsPageBody struct {
	ConversationUUID string     `json:"conversation_uuid"`
	Events           []apiEvent `json:"events"`
	HasMore          bool       `json:"has_more"`
	NextCursor       *string    `json:"next_cursor"`
}

// getEvents reads one page of a conversation's history with the given
// credentials (an empty key sends the token alone).
func (h *harness) getEvents(c creds, id, query string) response {
	h.t.Helper()
	path := "/api/agent/" + id + "/events"
	if query != "" {
		path += "?" + query
	}
	return h.do(req{Method: "GET", Path: path, Auth: bearerOf(c.Token), APIKey: c.Key})
}

func decodePage(t *testing.T, r response) eventsPageBody {
	t.Helper()
	expectStatus(t, r, http.StatusOK)
	var p eventsPageBody
	if err := json.Unmarshal(r.Raw, &p); err != nil {
		t.Fatalf("decode events page: %v\n%s", err, r.Raw)
	}
	return p
}

// allEventsOf follows the cursor through every page of limit events.
func (h *harness) allEventsOf(c creds, id string, limit int) []apiEvent {
	h.t.Helper()
	var out []apiEvent
	query := fmt.Sprintf("limit=%d", limit)
	for range 1000 {
		p := decodePage(h.t, h.getEvents(c, id, query))
		if len(p.Events) > limit {
			h.t.Fatalf("page of %d events for limit %d", len(p.Events), limit)
		}
		out = append(out, p.Events...)
		if !p.HasMore {
			return out
		}
		if p.NextCursor == nil {
			h.t.Fatalf("a page with has_more has no next_cursor")
		}
		query = fmt.Sprintf("limit=%d&cursor=%s", limit, *p.NextCursor)
	}
	h.t.Fatalf("more than 1000 pages")
	return nil
}

// ndjsonEvents reads the streamed history.
func (h *harness) ndjsonEvents(c creds, id string) ([]apiEvent, http.Header) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, "GET", h.URL+"/api/agent/"+id+"/events", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	r.Header.Set("Authorization", bearerOf(c.Token))
	if c.Key != "" {
		r.Header.Set("X-Api-Key", c.Key)
	}
	r.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("ndjson: status %d: %s", resp.StatusCode, b)
	}
	var out []apiEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 8<<20)
	for sc.Scan() {
		var e apiEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			h.t.Fatalf("ndjson line %d is not one JSON object: %v\n%s", len(out)+1, err, sc.Bytes())
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		h.t.Fatalf("ndjson: %v", err)
	}
	return out, resp.Header
}

// ---- CLI ----

// cliResult is one run of a gateway subcommand.
type cliResult struct {
	Out, Err string
	Code     int
	Error    error
}

// runGatewayCLI runs `gateway <args...>` with the audit and projections
// commands configured by cfg (as LoadConfig(nil) would be), capturing
// output and exit code without exiting the test binary.
func runGatewayCLI(t *testing.T, cfg Config, args ...string) cliResult {
	t.Helper()
	load := func() (Config, error) { return cfg, nil }
	var out, errOut bytes.Buffer
	root := &cli.Command{
		Name:           "gateway",
		Commands:       []*cli.Command{gatewaycli.Audit(storesFrom(load)), gatewaycli.Projections(storesFrom(load))},
		Writer:         &out,
		ErrWriter:      &errOut,
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := root.Run(ctx, append([]string{"gateway"}, args...))
	res := cliResult{Out: out.String(), Err: errOut.String(), Error: err}
	var ec cli.ExitCoder
	switch {
	case err == nil:
	case errors.As(err, &ec):
		res.Code = ec.ExitCode()
	default:
		res.Code = 1
	}
	return res
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d, err %v\nstdout:\n%s\nstderr:\n%s", r.Code, r.Error, r.Out, r.Err)
}

// The commands main registers read the environment, like serve. Not
// parallel: it sets the environment.
func TestAuditCommandsReadTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{"GATEWAY_DATA_DIR": dir, "DATABASE_URL": "", "EVENTSTORE_URL": "", "NATS_URL": ""} {
		t.Setenv(k, v)
	}
	run := func(args ...string) cliResult {
		var out, errOut bytes.Buffer
		root := &cli.Command{Name: "gateway", Commands: []*cli.Command{gatewaycli.Audit(storesFrom(envConfig)), gatewaycli.Projections(storesFrom(envConfig))},
			Writer: &out, ErrWriter: &errOut, ExitErrHandler: func(context.Context, *cli.Command, error) {}}
		err := root.Run(context.Background(), append([]string{"gateway"}, args...))
		r := cliResult{Out: out.String(), Err: errOut.String(), Error: err}
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			r.Code = ec.ExitCode()
		} else if err != nil {
			r.Code = 1
		}
		return r
	}
	if r := run("projections", "rebuild"); r.Code != 0 || !strings.Contains(r.Out, "rebuilt from the event log at every start") {
		t.Errorf("projections rebuild on the embedded store: %s", r)
	}
	// A check never creates the store it was asked to read.
	if r := run("audit", "verify", "--all"); r.Code != gatewaycli.ExitTrouble || !strings.Contains(r.Error.Error(), "no embedded event store at "+dir) {
		t.Errorf("audit verify without a store: %s", r)
	}
	if _, err := os.Stat(dir + "/events.db"); !os.IsNotExist(err) {
		t.Errorf("audit verify created %s/events.db (%v)", dir, err)
	}
	t.Setenv("GATEWAY_LOG_FORMAT", "yaml")
	if r := run("audit", "replay", uuid.NewString()); r.Code != gatewaycli.ExitTrouble || !strings.Contains(r.Error.Error(), "GATEWAY_LOG_FORMAT") {
		t.Errorf("audit replay with a bad configuration: %s", r)
	}
}

// ---- the scenario ----

// auditFixture is one finished conversation with two model steps, a tool
// call and a webhook delivered on the second attempt, and the people who
// may or may not read it.
type auditFixture struct {
	owner, alice, bob, auditor, stranger member
	alice2                               creds // alice's token and key
	recv                                 *receiver
	id                                   string
}

func newAuditFixture(h *harness) *auditFixture {
	h.t.Helper()
	f := &auditFixture{}
	f.owner = h.createWorkspace("Audit Co", "owner@audit.test")
	f.alice = h.addUser(f.owner, "alice@audit.test", "member")
	f.bob = h.addUser(f.owner, "bob@audit.test", "member")
	f.auditor = h.addUser(f.owner, "auditor@audit.test", "auditor")
	f.stranger = h.createWorkspace("Other Co", "owner@other.test")
	f.recv = newReceiver(h.t, h.Clock, http.StatusInternalServerError, http.StatusOK)
	f.alice2, _ = h.hookCreds(f.alice, f.recv.URL)
	f.id, _ = h.ask(f.alice2, "List my tasks")
	wh := h.awaitWebhook(f.alice2, f.id, "delivered")
	if wh["attempts"] != float64(2) {
		h.t.Fatalf("webhook = %v, want delivered on attempt 2", wh)
	}
	return f
}

// conversationTypes are the conversation stream of "List my tasks" on the
// offline model: two model steps and one tool call. The offline model
// answers in process, so its steps are not claimed (no ModelStepStarted;
// see commands.Instant).
var conversationTypes = []string{
	"ConversationOpened",
	"ModelStepCompleted", "ToolCallRequested", "ToolCallCompleted",
	"ModelStepCompleted", "ConversationResolved",
}

var webhookTypes = []string{
	"WebhookDeliveryStarted", "WebhookAttemptStarted", "WebhookAttemptCompleted",
	"WebhookAttemptStarted", "WebhookAttemptCompleted", "WebhookDelivered",
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestAuditEventHistory(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend, withEnv(map[string]string{
			"GATEWAY_WEBHOOK_ALLOW_PRIVATE":  "true",
			"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "200ms,400ms,800ms",
		}))
		f := newAuditFixture(h)
		h.settle()

		all := h.allEventsOf(f.alice2, f.id, 1000)
		t.Run("every correlated event in log order, with hashes", func(t *testing.T) {
			byStream := map[string][]apiEvent{}
			var last es.Position
			for i, e := range all {
				pos, err := es.ParsePosition(e.Position)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if i > 0 && !last.Less(pos) {
					t.Errorf("event %d at %s does not follow %s", i, pos, last)
				}
				last = pos
				if e.GlobalPosition != pos.Seq {
					t.Errorf("event %d: global_position %d, position %s", i, e.GlobalPosition, e.Position)
				}
				if e.Metadata.CorrelationID != f.id {
					t.Errorf("event %d (%s) has correlation id %q", i, e.Type, e.Metadata.CorrelationID)
				}
				if !hashRE.MatchString(e.Metadata.Hash) {
					t.Errorf("event %d (%s) has hash %q", i, e.Type, e.Metadata.Hash)
				}
				if _, err := uuid.Parse(e.ID); err != nil {
					t.Errorf("event %d: id %q", i, e.ID)
				}
				for name, v := range map[string]string{"recorded_at": e.RecordedAt, "occurred_at": e.Metadata.OccurredAt} {
					if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
						t.Errorf("event %d: %s %q: %v", i, name, v, err)
					}
				}
				if e.Metadata.Actor.Kind == "" || e.Metadata.Schema < 1 || len(e.Data) == 0 || e.Data[0] != '{' {
					t.Errorf("event %d: incomplete: %+v", i, e)
				}
				byStream[e.Stream] = append(byStream[e.Stream], e)
			}
			check := func(stream string, want []string) {
				t.Helper()
				got := byStream[stream]
				var types []string
				for i, e := range got {
					types = append(types, e.Type)
					if e.StreamVersion != int64(i+1) {
						t.Errorf("%s: event %d (%s) has stream_version %d", stream, i, e.Type, e.StreamVersion)
					}
				}
				if !slices.Equal(types, want) {
					t.Errorf("%s: types\n got  %v\n want %v", stream, types, want)
				}
				// The client can check the hash chain from what it was given.
				var recs []es.Recorded
				for _, e := range got {
					recs = append(recs, e.recorded(t))
				}
				if v, err := es.VerifyChain(recs); err != nil {
					t.Errorf("%s: the chain served does not verify at version %d: %v", stream, v, err)
				}
			}
			check(conversation.Stream(f.id), conversationTypes)
			check("webhook-"+f.id, webhookTypes)
			var budget int
			for s, evs := range byStream {
				if strings.HasPrefix(s, "budget-") {
					for _, e := range evs {
						if e.Type == "ChargeRecorded" {
							budget++
						}
					}
				}
			}
			if budget != 3 { // two model steps and one tool call
				t.Errorf("ChargeRecorded events correlated: %d, want 3 (streams %v)", budget, keysOf(byStream))
			}
			// The webhook attempts say what the receiver answered.
			var codes []int
			for _, e := range byStream["webhook-"+f.id] {
				if e.Type == "WebhookAttemptCompleted" {
					var d struct {
						StatusCode int `json:"status_code"`
					}
					_ = json.Unmarshal(e.Data, &d)
					codes = append(codes, d.StatusCode)
				}
			}
			if !slices.Equal(codes, []int{500, 200}) {
				t.Errorf("webhook attempts answered %v, want [500 200]", codes)
			}
		})

		t.Run("pages follow the cursor", func(t *testing.T) {
			h := h.on(t)
			paged := h.allEventsOf(f.alice2, f.id, 4)
			if !sameEvents(paged, all) {
				t.Errorf("pages of 4 give %d events, one page %d", len(paged), len(all))
			}
			p := decodePage(t, h.getEvents(f.alice2, f.id, ""))
			if len(p.Events) != min(len(all), 100) || p.HasMore != (len(all) > 100) {
				t.Errorf("default page: %d events, has_more %v", len(p.Events), p.HasMore)
			}
			if p.ConversationUUID != f.id {
				t.Errorf("conversation_uuid = %q", p.ConversationUUID)
			}
			end := decodePage(t, h.getEvents(f.alice2, f.id, "after="+all[len(all)-1].Position))
			if len(end.Events) != 0 || end.HasMore || end.NextCursor == nil {
				t.Errorf("after the last event: %+v", end)
			}
			// A history's cursor is sealed and bound to it: another
			// conversation's, or an altered one, is refused.
			if again := decodePage(t, h.getEvents(f.alice2, f.id, "cursor="+*end.NextCursor)); len(again.Events) != 0 || again.HasMore {
				t.Errorf("cursor after the last event: %+v", again)
			}
			other := h.send(f.alice2, "List my open tasks")
			h.await(f.alice2, other)
			expectError(t, h.getEvents(f.alice2, other, "cursor="+*end.NextCursor), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
			expectError(t, h.getEvents(f.alice2, f.id, "cursor="+all[len(all)-1].Position), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		})

		t.Run("bad limit or cursor is 422", func(t *testing.T) {
			h := h.on(t)
			for _, q := range []string{"limit=0", "limit=1001", "limit=-5", "limit=ten", "limit=", "after=42", "after=x:y", "after=", "limit=10&after=1:2:3"} {
				expectError(t, h.getEvents(f.alice2, f.id, q), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
			}
			decodePage(t, h.getEvents(f.alice2, f.id, "limit=1000"))
		})

		t.Run("NDJSON streams every event", func(t *testing.T) {
			h := h.on(t)
			lines, hdr := h.ndjsonEvents(f.alice2, f.id)
			if ct := hdr.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !sameEvents(lines, all) {
				t.Errorf("NDJSON gave %d events, the pages %d", len(lines), len(all))
			}
			lines, _ = h.ndjsonEvents(creds{Token: f.auditor.Token}, f.id)
			if !sameEvents(lines, all) {
				t.Errorf("NDJSON for the auditor gave %d events, want %d", len(lines), len(all))
			}
		})

		t.Run("who may read", func(t *testing.T) {
			h := h.on(t)
			for name, c := range map[string]creds{
				"creator with key": f.alice2,
				"creator, token":   {Token: f.alice.Token},
				"auditor, token":   {Token: f.auditor.Token},
				"owner, token":     {Token: f.owner.Token},
			} {
				if got := decodePage(t, h.getEvents(c, f.id, "limit=1000")).Events; !sameEvents(got, all) {
					t.Errorf("%s: %d events, want %d", name, len(got), len(all))
				}
			}
			expectError(t, h.getEvents(creds{Token: f.bob.Token}, f.id, ""), http.StatusNotFound, "NOT_FOUND")
			expectError(t, h.getEvents(creds{Token: f.stranger.Token}, f.id, ""), http.StatusNotFound, "NOT_FOUND")
			expectError(t, h.getEvents(creds{Token: f.stranger.Token}, f.id, "limit=0"), http.StatusNotFound, "NOT_FOUND")
			expectError(t, h.getEvents(f.alice2, uuid.NewString(), ""), http.StatusNotFound, "NOT_FOUND")
			expectError(t, h.getEvents(f.alice2, "not-a-uuid", ""), http.StatusNotFound, "NOT_FOUND")
			expectError(t, h.getEvents(creds{Token: "tok_nobody"}, f.id, ""), http.StatusUnauthorized, "UNAUTHENTICATED")
			expectError(t, h.getEvents(creds{Token: f.alice.Token, Key: "sois_not_a_key"}, f.id, ""), http.StatusUnauthorized, "INVALID_API_KEY")
			// The auditor reads, but does not send.
			expectError(t, h.post(creds{Token: f.auditor.Token}, map[string]any{"message": "List my tasks"}), http.StatusForbidden, "FORBIDDEN")
		})

		t.Run("after the poll expiry the history still reads", func(t *testing.T) {
			h := h.on(t)
			h.Clock.Advance(conversation.Lifetime + time.Hour)
			expectError(t, h.get(f.alice2, f.id), http.StatusNotFound, "NOT_FOUND")
			for _, c := range []creds{f.alice2, {Token: f.auditor.Token}, {Token: f.owner.Token}} {
				if got := decodePage(t, h.getEvents(c, f.id, "limit=1000")).Events; !sameEvents(got, all) {
					t.Errorf("after expiry: %d events, want %d", len(got), len(all))
				}
			}
		})

		t.Run("audit replay matches the read model", func(t *testing.T) {
			h := h.on(t)
			if backend == "embedded" {
				h.stop() // the embedded store is one process's file
				defer h.start()
			}
			r := runGatewayCLI(t, h.cfg, "audit", "replay", f.id)
			if r.Code != 0 {
				t.Fatalf("audit replay: %s", r)
			}
			t.Logf("audit replay %s:\n%s", f.id, r.Out)
			for _, want := range []string{
				"model step 1 (offline", "model step 2 (offline", "tool call 1.1 list_tasks → ", "charge $",
				"webhook attempt 1 → 500", "webhook attempt 2 → 200", "webhook delivered", "resolved: ",
				"matches the domain fold", "intact",
			} {
				if !strings.Contains(r.Out, want) {
					t.Errorf("timeline lacks %q:\n%s", want, r.Out)
				}
			}
			j := runGatewayCLI(t, h.cfg, "audit", "replay", "--json", f.id)
			var rep gatewaycli.ReplayReport
			if err := json.Unmarshal([]byte(j.Out), &rep); err != nil || j.Code != 0 {
				t.Fatalf("replay --json: %v\n%s", err, j)
			}
			if !rep.Equal || rep.Domain.Status != "resolved" || rep.Domain.Steps != 2 || rep.Domain.ToolCalls != 1 ||
				rep.Domain.Webhook == nil || rep.Domain.Webhook.Status != "delivered" || rep.Domain.Webhook.Attempts != 2 ||
				len(rep.Timeline) != len(all) {
				t.Errorf("report: %+v", rep)
			}
			v := runGatewayCLI(t, h.cfg, "audit", "verify", "--all")
			if v.Code != 0 || !strings.Contains(v.Out, "every hash chain is intact") {
				t.Errorf("audit verify --all: %s", v)
			}
			v = runGatewayCLI(t, h.cfg, "audit", "verify", "--stream", conversation.Stream(f.id))
			if v.Code != 0 || !strings.Contains(v.Out, fmt.Sprintf("1 stream(s), %d event(s)", len(conversationTypes))) {
				t.Errorf("audit verify --stream: %s", v)
			}
			for _, args := range [][]string{{"audit", "verify"}, {"audit", "verify", "--all", "--stream", "x"},
				{"audit", "replay"}, {"audit", "replay", "nope"}, {"audit", "replay", uuid.NewString()}} {
				if r := runGatewayCLI(t, h.cfg, args...); r.Code != gatewaycli.ExitTrouble {
					t.Errorf("%v: %s", args, r)
				}
			}
		})

		t.Run("projections status and rebuild", func(t *testing.T) {
			h := h.on(t)
			if backend != "embedded" {
				s := runGatewayCLI(t, h.cfg, "projections", "status")
				if s.Code != 0 || !strings.Contains(s.Out, "conversations") || !strings.Contains(s.Out, "LAG") {
					t.Errorf("projections status: %s", s)
				}
				return // rebuilding is TestProjectionsRebuildWhileServing
			}
			for _, args := range [][]string{{"projections", "status"}, {"projections", "rebuild"}} {
				r := runGatewayCLI(t, h.cfg, args...)
				if r.Code != 0 || !strings.Contains(r.Out, "rebuilt from the event log at every start") {
					t.Errorf("%v: %s", args, r)
				}
			}
		})
	})
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sameEvents(a, b []apiEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Position != b[i].Position || a[i].Metadata.Hash != b[i].Metadata.Hash {
			return false
		}
	}
	return true
}

// settle waits until the gateway's read models hold every event appended
// so far. With the events in Postgres it asks for the last appended
// position directly: the store's head hides appends behind any long
// transaction on the server, such as another test's.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.quiesce()
	var pos es.Position
	var err error
	if h.App.pool != nil && h.cfg.EventStoreURL == "" {
		err = h.App.pool.QueryRow(ctx, `SELECT transaction_id, global_position FROM events
			ORDER BY transaction_id DESC, global_position DESC LIMIT 1`).Scan(&pos.Tx, &pos.Seq)
	} else {
		pos, err = h.App.Store.Head(ctx)
	}
	if err != nil {
		h.t.Fatalf("settle: %v", err)
	}
	if err := h.App.Runner.WaitFor(ctx, pos); err != nil {
		h.t.Fatalf("settle: the read models did not reach %s: %v", pos, err)
	}
}

// readModelTables snapshots every read-model table: each row as JSON, in
// a stable order.
func readModelTables(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]string{}
	for _, m := range rebuild.ReadModels() {
		for _, table := range m.Tables {
			var doc string
			err := pool.QueryRow(ctx, `SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text)::text, '[]') FROM `+table+` t`).Scan(&doc)
			if err != nil {
				t.Fatalf("snapshot %s: %v", table, err)
			}
			out[table] = doc
		}
	}
	return out
}

// pollLoop reads the conversation and its history as the auditor, again
// and again until stop is closed, and counts the answers by status.
func pollLoop(url string, c creds, id string, stop <-chan struct{}) (func() map[int]int, *sync.WaitGroup) {
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	for _, path := range []string{"/api/agent/" + id, "/api/agent/" + id + "/events"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				r, _ := http.NewRequestWithContext(ctx, "GET", url+path, nil)
				r.Header.Set("Authorization", bearerOf(c.Token))
				status := -1
				if resp, err := http.DefaultClient.Do(r); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				cancel()
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}
		}()
	}
	return func() map[int]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(counts)
	}, &wg
}

func TestProjectionsRebuildWhileServing(t *testing.T) {
	h := newHarness(t, "postgres", withEnv(map[string]string{
		"GATEWAY_WEBHOOK_ALLOW_PRIVATE":  "true",
		"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "200ms,400ms,800ms",
	}))
	f := newAuditFixture(h)
	// More to rebuild: a second conversation, of the owner, with a failure
	// of the webhook it never had (no response_url).
	oc := h.principal(f.owner)
	second, _ := h.ask(oc, "List my tasks")
	h.settle()
	pool := h.App.pool
	before := readModelTables(t, pool)
	if !strings.Contains(before["conversations"], f.id) || !strings.Contains(before["conversations"], second) {
		t.Fatalf("the conversations table lacks the conversations: %.300s", before["conversations"])
	}

	t.Run("rebuild while the gateway serves", func(t *testing.T) {
		stop := make(chan struct{})
		counts, wg := pollLoop(h.URL, creds{Token: f.auditor.Token}, f.id, stop)
		time.Sleep(100 * time.Millisecond)
		var progress bytes.Buffer
		res, err := gatewaycli.RebuildPostgres(context.Background(), h.cfg.Stores(pg.Options{}), nil, rebuild.Options{
			Batch: 7, Progress: rebuild.NewProgress(&progress, "rebuild", time.Millisecond)})
		time.Sleep(100 * time.Millisecond)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("rebuild: %v\n%s", err, progress.String())
		}
		got := counts()
		t.Logf("reads during the rebuild: %v", got)
		if len(got) != 1 || got[http.StatusOK] < 4 {
			t.Errorf("reads during the rebuild answered %v, want only 200s", got)
		}
		if res.Events == 0 || res.Backup == "" || res.Scratch == "" || len(res.ReadModels) != len(rebuild.ReadModels()) {
			t.Errorf("result: %+v", res)
		}
		if !strings.Contains(progress.String(), "events/s") {
			t.Errorf("progress: %q", progress.String())
		}
		t.Logf("rebuilt %d events in %s (%.0f events/s), switch %s\n%s", res.Events, res.Replay, res.EventsPerSecond(), res.Switch, progress.String())

		h.on(t).settle()
		after := readModelTables(t, pool)
		for table, doc := range before {
			if after[table] != doc {
				t.Errorf("table %s differs after the rebuild:\n before %.500s\n after  %.500s", table, doc, after[table])
			}
		}
		// The old tables are kept aside, the scratch schema is gone.
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+res.Backup+`.conversations`).Scan(&n); err != nil || n != 2 {
			t.Errorf("backup conversations: %d rows, %v", n, err)
		}
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, res.Scratch).Scan(&n); err != nil || n != 0 {
			t.Errorf("scratch schema %s: %d, %v", res.Scratch, n, err)
		}
		st := runGatewayCLI(t, h.cfg, "projections", "status")
		if st.Code != 0 || !strings.Contains(st.Out, res.Backup) {
			t.Errorf("status after rebuild: %s", st)
		}
	})

	t.Run("the gateway goes on with the new tables", func(t *testing.T) {
		h := h.on(t)
		id, p := h.ask(oc, "List my tasks")
		if p.Status != "resolved" {
			t.Fatalf("after the rebuild: %s", p.Raw)
		}
		if r := runGatewayCLI(t, h.cfg, "audit", "replay", id); r.Code != 0 {
			t.Errorf("replay of a conversation after the rebuild: %s", r)
		}
	})

	t.Run("a read model changed by hand is found, and a rebuild repairs it", func(t *testing.T) {
		h := h.on(t)
		if _, err := pool.Exec(context.Background(),
			`UPDATE conversations SET view = jsonb_set(view, '{status}', '"failed"') WHERE id = $1`, f.id); err != nil {
			t.Fatal(err)
		}
		r := runGatewayCLI(t, h.cfg, "audit", "replay", f.id)
		if r.Code != gatewaycli.ExitDifferent {
			t.Fatalf("replay of a changed row: %s", r)
		}
		if !strings.Contains(r.Out, `status: domain fold "resolved", read model "failed"`) ||
			!strings.Contains(r.Error.Error(), "status") {
			t.Errorf("the difference is not named:\n%s", r)
		}
		res, err := gatewaycli.RebuildPostgres(context.Background(), h.cfg.Stores(pg.Options{}), []string{"conversations"}, rebuild.Options{DropOld: true})
		if err != nil || res.Backup != "" || !slices.Equal(res.ReadModels, []string{"conversations"}) {
			t.Fatalf("rebuild conversations: %+v, %v", res, err)
		}
		if r := runGatewayCLI(t, h.cfg, "audit", "replay", f.id); r.Code != 0 {
			t.Errorf("replay after the rebuild: %s", r)
		}
		if r := runGatewayCLI(t, h.cfg, "projections", "rebuild", "nonsense"); r.Code != gatewaycli.ExitTrouble || !strings.Contains(r.Error.Error(), "unknown read model") {
			t.Errorf("rebuild of an unknown read model: %s", r)
		}
	})

	t.Run("an event changed by hand breaks its chain", func(t *testing.T) {
		h := h.on(t)
		stream := conversation.Stream(f.id)
		if _, err := pool.Exec(context.Background(),
			`UPDATE events SET data = jsonb_set(data, '{model}', '"gpt-5-turbo"') WHERE stream_id = $1 AND stream_version = 4`, stream); err != nil {
			t.Fatal(err)
		}
		v := runGatewayCLI(t, h.cfg, "audit", "verify", "--all")
		if v.Code != gatewaycli.ExitDifferent {
			t.Fatalf("verify --all after tampering: %s", v)
		}
		want := fmt.Sprintf("stream %s at version 4", stream)
		if !strings.Contains(v.Out, want) || !strings.Contains(v.Error.Error(), want) {
			t.Errorf("verify does not name %q:\n%s", want, v)
		}
		if strings.Count(v.Out, "BROKEN") != 1 {
			t.Errorf("only one stream was changed:\n%s", v.Out)
		}
		r := runGatewayCLI(t, h.cfg, "audit", "replay", f.id)
		if r.Code != gatewaycli.ExitDifferent || !strings.Contains(r.Out, "BROKEN at version 4") {
			t.Errorf("replay of a tampered stream: %s", r)
		}
		// A removed last event is caught by the stream's recorded head.
		if _, err := pool.Exec(context.Background(), `DELETE FROM events WHERE stream_id = $1 AND stream_version = 6`, "webhook-"+f.id); err != nil {
			t.Fatal(err)
		}
		v = runGatewayCLI(t, h.cfg, "audit", "verify", "--stream", "webhook-"+f.id)
		if v.Code != gatewaycli.ExitDifferent || !strings.Contains(v.Out, "at version 6") {
			t.Errorf("verify of a truncated stream: %s", v)
		}
	})
}

// With EVENTSTORE_URL the events are in EventStoreDB (here the
// in-process stand-in) and the read models in Postgres: the history, the
// audit commands and a rebuild read the events from there.
func TestAuditOnEventStoreDB(t *testing.T) {
	t.Parallel()
	srv := esdbtest.New(t)
	h := newHarness(t, "postgres", withEnv(map[string]string{
		"EVENTSTORE_URL":                 srv.URL(),
		"GATEWAY_WEBHOOK_ALLOW_PRIVATE":  "true",
		"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "200ms,400ms,800ms",
	}))
	f := newAuditFixture(h)
	h.settle()
	all := h.allEventsOf(f.alice2, f.id, 5)
	var types []string
	for _, e := range all {
		if e.Stream == conversation.Stream(f.id) {
			types = append(types, e.Type)
		}
	}
	if !slices.Equal(types, conversationTypes) {
		t.Errorf("conversation events: %v", types)
	}
	lines, _ := h.ndjsonEvents(creds{Token: f.auditor.Token}, f.id)
	if !sameEvents(lines, all) {
		t.Errorf("NDJSON gave %d events, the pages %d", len(lines), len(all))
	}
	r := runGatewayCLI(t, h.cfg, "audit", "replay", f.id)
	if r.Code != 0 || !strings.Contains(r.Out, "eventstoredb store") || !strings.Contains(r.Out, "conversations table") {
		t.Errorf("audit replay: %s", r)
	}
	if v := runGatewayCLI(t, h.cfg, "audit", "verify", "--all"); v.Code != 0 {
		t.Errorf("audit verify --all: %s", v)
	}
	if v := runGatewayCLI(t, h.cfg, "audit", "verify", "--stream", "webhook-"+f.id); v.Code != 0 || !strings.Contains(v.Out, "6 event(s)") {
		t.Errorf("audit verify --stream: %s", v)
	}
	if s := runGatewayCLI(t, h.cfg, "projections", "status"); s.Code != 0 || !strings.Contains(s.Out, "the log's head is") {
		t.Errorf("projections status: %s", s)
	}
	before := readModelTables(t, h.App.pool)
	stop := make(chan struct{})
	counts, wg := pollLoop(h.URL, creds{Token: f.auditor.Token}, f.id, stop)
	res := runGatewayCLI(t, h.cfg, "projections", "rebuild", "--drop-old")
	close(stop)
	wg.Wait()
	if res.Code != 0 || !strings.Contains(res.Out, "The old tables were dropped") {
		t.Fatalf("projections rebuild: %s", res)
	}
	if got := counts(); len(got) != 1 || got[http.StatusOK] == 0 {
		t.Errorf("reads during the rebuild answered %v", got)
	}
	h.settle()
	after := readModelTables(t, h.App.pool)
	for table, doc := range before {
		if after[table] != doc {
			t.Errorf("table %s differs after the rebuild:\n before %.300s\n after  %.300s", table, doc, after[table])
		}
	}
}

// ---- benchmark ----

// benchEvents is about how many events BenchmarkRebuild puts in the log
// (AUDIT_BENCH_EVENTS overrides the 100,000).
func benchEvents(b *testing.B) int {
	n := 100_000
	if v := os.Getenv("AUDIT_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("AUDIT_BENCH_EVENTS=%q", v)
		}
	}
	return n
}

// syntheticConversation is one finished conversation: 21 events on its
// stream (opened, four model steps that each call a tool, a last step,
// the reply) and 4 on its webhook stream (delivered on the first attempt).
func syntheticConversation(workspaceID, userID, keyID string, at time.Time) (id string, conv, hooks []es.Event, err error) {
	id = uuid.NewString()
	facts := []es.Fact{&conversation.Opened{ConversationID: id, WorkspaceID: workspaceID, UserID: userID, APIKeyID: keyID,
		Message: "List my tasks", ResponseURL: "https://hooks.example.com/x", OpenedAt: at, ExpiresAt: at.Add(conversation.Lifetime)},
		&conversation.ProcessingStarted{StartedAt: at}}
	for step := 1; step <= 4; step++ {
		key := fmt.Sprintf("%d.1", step)
		facts = append(facts,
			&conversation.ModelStepStarted{Step: step, StartedAt: at},
			&conversation.ModelStepCompleted{Step: step, Model: "offline", Usage: agent.Usage{InputTokens: 800, OutputTokens: 60}, LatencyMS: 12, CompletedAt: at},
			&conversation.ToolCallRequested{Key: key, Step: step, CallID: "call_" + key, Name: "list_tasks", Arguments: json.RawMessage(`{}`)},
			&conversation.ToolCallCompleted{Key: key, Name: "list_tasks", Result: `{"count":0,"tasks":[]}`, DurationMS: 3, CompletedAt: at})
	}
	facts = append(facts,
		&conversation.ModelStepStarted{Step: 5, StartedAt: at},
		&conversation.ModelStepCompleted{Step: 5, Model: "offline", Content: "You have no tasks.", Usage: agent.Usage{InputTokens: 900, OutputTokens: 20}, CompletedAt: at},
		&conversation.Resolved{Reply: "You have no tasks.", ResolvedAt: at})
	hookFacts := []es.Fact{
		&webhook.Started{Delivery: 1, ConversationID: id, APIKeyID: keyID, URL: "https://hooks.example.com/x", WebhookID: webhook.ID(id, 1),
			Body: `{"status":"resolved"}`, Reason: "resolved", StartedAt: at},
		&webhook.AttemptStarted{Delivery: 1, Attempt: 1, StartedAt: at},
		&webhook.AttemptCompleted{Delivery: 1, Attempt: 1, URL: "https://hooks.example.com/x", Outcome: webhook.OutcomeDelivered, StatusCode: 200, DurationMS: 5, CompletedAt: at},
		&webhook.Delivered{Delivery: 1, Attempt: 1, DeliveredAt: at},
	}
	md := es.Metadata{CorrelationID: id, Actor: es.Actor{Kind: "agent"}, OccurredAt: at}
	encode := func(facts []es.Fact) ([]es.Event, error) {
		var out []es.Event
		for _, f := range facts {
			ev, err := es.NewEvent(uuid.NewString(), f, md)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	}
	if conv, err = encode(facts); err != nil {
		return "", nil, nil, err
	}
	hooks, err = encode(hookFacts)
	return id, conv, hooks, err
}

// fillLog appends about n events of synthetic conversations to the store,
// a whole stream per append, from several writers at once.
func fillLog(b *testing.B, store eventstore.Store, n int) int {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const perConversation = 25
	conversations := (n + perConversation - 1) / perConversation
	ws, user, key := uuid.NewString(), uuid.NewString(), uuid.NewString()
	at := time.Now().UTC().Truncate(time.Microsecond)
	var (
		next    atomic.Int64
		written atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		failed  error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(conversations) {
				id, conv, hooks, err := syntheticConversation(ws, user, key, at)
				if err == nil {
					_, err = store.Append(ctx, conversation.Stream(id), es.NoStream, conv...)
				}
				if err == nil {
					_, err = store.Append(ctx, webhook.Stream(id), es.NoStream, hooks...)
				}
				if err != nil {
					errOnce.Do(func() { failed = err })
					return
				}
				written.Add(int64(len(conv) + len(hooks)))
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		b.Fatalf("fill the log: %v", failed)
	}
	return int(written.Load())
}

// BenchmarkRebuild measures a rebuild of every Postgres read model from a
// log of about 100,000 events against a plain sequential read of the same
// log in the same run: raw_events/s, rebuild_events/s and their ratio.
//
//	go test -run '^$' -bench BenchmarkRebuild -benchtime 1x ./cmd/gateway/
func BenchmarkRebuild(b *testing.B) {
	url := pgtest.NewDatabase(b)
	ctx := context.Background()
	pool, err := pg.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := pgstore.New(pool)
	began := time.Now()
	events := fillLog(b, store, benchEvents(b))
	b.Logf("appended %d events in %s", events, time.Since(began).Round(time.Millisecond))
	var raw, rebuilt time.Duration
	var rawN, rebuiltN int64
	b.ResetTimer()
	for b.Loop() {
		n, took, err := rebuild.ReadThrough(ctx, store, rebuild.DefaultBatch)
		if err != nil {
			b.Fatal(err)
		}
		raw, rawN = raw+took, rawN+n
		res, err := rebuild.Postgres(ctx, pool, nil, rebuild.Options{DropOld: true})
		if err != nil {
			b.Fatal(err)
		}
		rebuilt, rebuiltN = rebuilt+res.Replay, rebuiltN+res.Events
	}
	rawRate, rebuildRate := float64(rawN)/raw.Seconds(), float64(rebuiltN)/rebuilt.Seconds()
	b.ReportMetric(rawRate, "raw_events/s")
	b.ReportMetric(rebuildRate, "rebuild_events/s")
	b.ReportMetric(rebuildRate/rawRate, "rebuild/raw")
	b.Logf("%d events: raw read %.0f events/s, rebuild %.0f events/s (%.2f of raw)", events, rawRate, rebuildRate, rebuildRate/rawRate)
}
