package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// The harness runs the whole gateway (stores, projections, bus, agent loop,
// reaper, HTTP API) behind an httptest server, on either backend.

const (
	testAdminToken = "adm_test_admin_token_0123456789"
	testSecretKey  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	// pollBudget bounds every wait for the agent; nothing waits forever. It
	// is generous because CI runs this package under -race next to other
	// packages on two cores, where a quick conversation can take seconds;
	// it only lengthens a failing run.
	pollBudget = 30 * time.Second
	pollSleep  = 20 * time.Millisecond
)

var backends = []string{"embedded", "postgres"}

// pgSlots bounds the Postgres-backed gateways running at once.
var pgSlots = make(chan struct{}, 4)

// forBackends runs fn once per backend, as parallel subtests.
func forBackends(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			fn(t, backend)
		})
	}
}

// testClock is a commands.Clock that follows real time plus an offset the
// test can advance, so expiry can be tested without waiting a day.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset).Truncate(time.Microsecond)
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type harnessOptions struct {
	noAdminToken bool
	env          map[string]string
	config       []func(*Config)
	beforeStart  []func(*App)
}

type harnessOption func(*harnessOptions)

// withEnv sets environment variables for the gateway (on top of the
// harness's own), e.g. OPENAI_BASE_URL or GATEWAY_WEBHOOK_RETRY_SCHEDULE.
func withEnv(kv map[string]string) harnessOption {
	return func(o *harnessOptions) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		for k, v := range kv {
			o.env[k] = v
		}
	}
}

// withConfig changes the loaded Config before the app is built (settings
// with no environment variable, such as the model's retry backoff).
func withConfig(fn func(*Config)) harnessOption {
	return func(o *harnessOptions) { o.config = append(o.config, fn) }
}

// withBeforeStart runs fn on every App after Build and before Start (also
// after a restart), e.g. to wrap a port with a test probe.
func withBeforeStart(fn func(*App)) harnessOption {
	return func(o *harnessOptions) { o.beforeStart = append(o.beforeStart, fn) }
}

// withoutAdminToken starts the gateway with GATEWAY_ADMIN_TOKEN unset.
func withoutAdminToken() harnessOption { return func(o *harnessOptions) { o.noAdminToken = true } }

// gateway is one running gateway, shared by a test and its subtests.
type gateway struct {
	backend string
	env     map[string]string
	cfg     Config
	Clock   *testClock
	App     *App
	srv     *httptest.Server
	URL     string

	mu      sync.Mutex
	secrets []string // every token, key and signing secret the test was given

	beforeStart []func(*App)
}

// harness is a gateway seen from one test: failures are reported on t.
type harness struct {
	t *testing.T
	*gateway
}

// on returns the same gateway reporting to t (use it inside subtests).
func (h *harness) on(t *testing.T) *harness { return &harness{t: t, gateway: h.gateway} }

func newHarness(t *testing.T, backend string, opts ...harnessOption) *harness {
	t.Helper()
	var o harnessOptions
	for _, opt := range opts {
		opt(&o)
	}
	env := map[string]string{
		// A loaded machine running every package's tests at once can hold
		// the log's visibility back for seconds (any long transaction on
		// the server does); reads after writes wait for it.
		"GATEWAY_WRITE_WAIT":    "30s",
		"GATEWAY_POLL_INTERVAL": "20ms",
		"GATEWAY_SECRET_KEY":    testSecretKey,
		"GATEWAY_DATA_DIR":      t.TempDir(),
	}
	if !o.noAdminToken {
		env["GATEWAY_ADMIN_TOKEN"] = testAdminToken
	}
	switch backend {
	case "embedded":
	case "postgres":
		// Bound how many gateways hold Postgres connections at once, so a
		// machine with many CPUs (a high -parallel) stays well under the
		// server's max_connections.
		pgSlots <- struct{}{}
		t.Cleanup(func() { <-pgSlots })
		env["DATABASE_URL"] = pgtest.NewDatabase(t)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	for _, fn := range o.config {
		fn(&cfg)
	}
	if cfg.Embedded() != (backend == "embedded") {
		t.Fatalf("backend %s: config Embedded() = %v", backend, cfg.Embedded())
	}
	h := &harness{t: t, gateway: &gateway{backend: backend, env: env, cfg: cfg, Clock: &testClock{}, beforeStart: o.beforeStart}}
	h.start()
	t.Cleanup(h.stop)
	// Runs before stop: whatever the test did, no credential it was given
	// may sit in the log in plaintext.
	t.Cleanup(func() {
		if h.App != nil {
			h.assertNoPlaintextSecrets()
		}
	})
	return h
}

func testLogger() *slog.Logger {
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, err := Build(ctx, h.cfg, testLogger(), h.Clock)
	if err != nil {
		h.t.Fatalf("Build (%s): %v", h.backend, err)
	}
	for _, fn := range h.beforeStart {
		fn(app)
	}
	if err := app.Start(ctx); err != nil {
		app.Close()
		h.t.Fatalf("Start (%s): %v", h.backend, err)
	}
	h.App = app
	h.srv = httptest.NewServer(app.Handler)
	h.URL = h.srv.URL
}

func (h *harness) stop() {
	if h.srv != nil {
		h.srv.Close()
		h.srv = nil
	}
	if h.App != nil {
		h.App.Close()
		h.App = nil
	}
}

// restart closes the App and builds a new one on the same data dir or
// database; the URL changes.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

// remember records a credential so the plaintext scan can look for it.
func (h *harness) remember(secrets ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			h.secrets = append(h.secrets, s)
		}
	}
}

func (h *harness) issued() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.secrets...)
}

// head is the position of the last event appended, committed or not yet
// visible. On Postgres it reads the table directly: the store's Head only
// shows events older than every running transaction on the server, so a
// long transaction of another test package would hide appends from it.
func (h *harness) head() es.Position {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if h.App.pool != nil {
		var seq int64
		if err := h.App.pool.QueryRow(ctx, `SELECT coalesce(max(global_position), 0) FROM events`).Scan(&seq); err != nil {
			h.t.Fatalf("head: %v", err)
		}
		return es.Position{Seq: uint64(seq)}
	}
	p, err := h.App.Store.Head(ctx)
	if err != nil {
		h.t.Fatalf("Head: %v", err)
	}
	return p
}

// allEvents reads the whole log.
func (h *harness) allEvents() []es.Recorded {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []es.Recorded
	after := es.Start
	for {
		batch, err := h.App.Store.ReadAll(ctx, after, 500)
		if err != nil {
			h.t.Fatalf("ReadAll: %v", err)
		}
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].Position
	}
}

// quiesce waits (bounded) until the log's head stops moving, so a test can
// then assert that a request appended nothing.
func (h *harness) quiesce() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	last := h.head()
	stableSince := time.Now()
	for time.Since(stableSince) < 150*time.Millisecond {
		if time.Now().After(deadline) {
			h.t.Fatalf("the event log kept growing for 5s")
		}
		time.Sleep(25 * time.Millisecond)
		if p := h.head(); p != last {
			last, stableSince = p, time.Now()
		}
	}
}

// unchanged runs fn and fails if a request appended anything meanwhile.
// Background work (the agent loop, billing, webhooks of earlier
// conversations) may still append while fn runs, so only events recorded
// on behalf of a caller count: those whose actor is a user or the admin.
func (h *harness) unchanged(t *testing.T, fn func()) {
	t.Helper()
	before := h.head()
	fn()
	for _, ev := range h.eventsSince(before) {
		if k := ev.Metadata.Actor.Kind; k == "user" || k == "admin" {
			t.Errorf("a rejected request appended to the event log: %s v%d %s (actor %s)", ev.Stream, ev.StreamVersion, ev.Type, k)
		}
	}
}

// eventsSince lists the events appended after p, committed or not yet
// visible to log readers (on Postgres it reads the table directly).
func (h *harness) eventsSince(p es.Position) []es.Recorded {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []es.Recorded
	if h.App.pool != nil {
		rows, err := h.App.pool.Query(ctx, `SELECT stream_id, stream_version, event_type, metadata FROM events
WHERE global_position > $1 ORDER BY global_position`, int64(p.Seq))
		if err != nil {
			h.t.Fatalf("events since %s: %v", p, err)
		}
		defer rows.Close()
		for rows.Next() {
			var ev es.Recorded
			var md []byte
			if err := rows.Scan(&ev.Stream, &ev.StreamVersion, &ev.Type, &md); err != nil {
				h.t.Fatalf("events since %s: %v", p, err)
			}
			if err := json.Unmarshal(md, &ev.Metadata); err != nil {
				h.t.Fatalf("events since %s: metadata: %v", p, err)
			}
			out = append(out, ev)
		}
		return out
	}
	for after := p; ; {
		batch, err := h.App.Store.ReadAll(ctx, after, 500)
		if err != nil {
			h.t.Fatalf("events since %s: %v", p, err)
		}
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].Position
	}
}

// ---- HTTP ----

// creds are the two credentials of the task interface.
type creds struct {
	Token string
	Key   string
}

// response is one HTTP exchange's outcome.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
}

// JSON decodes the body into a generic map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v\n%s", r.Status, err, r.Raw)
	}
	return m
}

// req describes one request; Body is sent as is when it is a string or
// []byte, and marshalled otherwise. ContentType defaults to
// application/json when there is a body; set NoContentType to omit it.
type req struct {
	Method        string
	Path          string
	Body          any
	ContentType   string
	NoContentType bool
	Auth          string // full Authorization header value; "" omits it
	APIKey        string // X-Api-Key; "" omits it
	Header        map[string]string
}

func (h *harness) do(r req) response {
	h.t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("marshal body: %v", err)
		}
		body = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, r.Method, h.URL+r.Path, body)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if body != nil && !r.NoContentType {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.Auth != "" {
		hr.Header.Set("Authorization", r.Auth)
	}
	if r.APIKey != "" {
		hr.Header.Set("X-Api-Key", r.APIKey)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", r.Method, r.Path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
}

func bearerOf(token string) string { return "Bearer " + token }

// expectStatus fails unless the response has the given status.
func expectStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.Status, status, r.Raw)
	}
}

// expectError checks status, code and the contract's exact error shape:
// {"error":{"code":"...","message":"..."}} and nothing else. It returns the
// message.
func expectError(t *testing.T, r response, status int, code string) string {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d; body: %s", r.Status, status, r.Raw)
		return string(r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Raw, &top); err != nil {
		t.Fatalf("error body is not a JSON object: %v\n%s", err, r.Raw)
	}
	if len(top) != 1 || top["error"] == nil {
		t.Errorf("error body must have exactly one field, \"error\": %s", r.Raw)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &inner); err != nil {
		t.Fatalf("\"error\" is not an object: %s", r.Raw)
	}
	if len(inner) != 2 {
		t.Errorf("\"error\" must have exactly code and message: %s", r.Raw)
	}
	var gotCode, msg string
	if err := json.Unmarshal(inner["code"], &gotCode); err != nil {
		t.Errorf("error.code is not a string: %s", r.Raw)
	}
	if err := json.Unmarshal(inner["message"], &msg); err != nil {
		t.Errorf("error.message is not a string: %s", r.Raw)
	}
	if code != "" && gotCode != code {
		t.Errorf("error.code = %q, want %q; body: %s", gotCode, code, r.Raw)
	}
	if strings.TrimSpace(msg) == "" {
		t.Errorf("error.message is empty: %s", r.Raw)
	}
	return msg
}

// ---- identity ----

type member struct {
	WorkspaceID string `json:"workspace_id"`
	UserID      string `json:"user_id"`
	Token       string `json:"token"`
	Role        string `json:"role"`
	Email       string `json:"-"`
}

// createWorkspace creates a workspace through the admin API and returns
// its owner.
func (h *harness) createWorkspace(name, ownerEmail string) member {
	h.t.Helper()
	r := h.do(req{Method: "POST", Path: "/api/admin/workspaces", Auth: bearerOf(testAdminToken),
		Body: map[string]string{"name": name, "owner_email": ownerEmail}})
	expectStatus(h.t, r, http.StatusCreated)
	var m member
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		h.t.Fatalf("decode workspace: %v", err)
	}
	if m.WorkspaceID == "" || m.UserID == "" || m.Token == "" {
		h.t.Fatalf("incomplete workspace response: %s", r.Raw)
	}
	m.Role, m.Email = "owner", ownerEmail
	h.remember(m.Token)
	return m
}

// addUser adds a person to the owner's workspace.
func (h *harness) addUser(owner member, email, role string) member {
	h.t.Helper()
	r := h.do(req{Method: "POST", Path: "/api/users", Auth: bearerOf(owner.Token),
		Body: map[string]string{"email": email, "role": role}})
	expectStatus(h.t, r, http.StatusCreated)
	var m member
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		h.t.Fatalf("decode user: %v", err)
	}
	if m.UserID == "" || m.Token == "" || m.Role != role {
		h.t.Fatalf("incomplete user response: %s", r.Raw)
	}
	m.WorkspaceID, m.Email = owner.WorkspaceID, email
	h.remember(m.Token)
	return m
}

// ---- keys ----

type keyView struct {
	ID             string         `json:"id"`
	UserID         string         `json:"user_id"`
	Key            string         `json:"key"`
	SigningSecret  string         `json:"signing_secret"`
	KeyPrefix      string         `json:"key_prefix"`
	Label          string         `json:"label"`
	ResponseURL    *string        `json:"response_url"`
	BudgetUSDCents *int64         `json:"budget_usd_cents"`
	BudgetPeriod   string         `json:"budget_period"`
	Status         string         `json:"status"`
	CreatedAt      string         `json:"created_at"`
	UpdatedAt      string         `json:"updated_at"`
	RevokedAt      *string        `json:"revoked_at"`
	Usage          map[string]any `json:"usage"`
	Warning        string         `json:"warning"`
	Tools          []string       `json:"tools"`
}

func decodeKey(t *testing.T, r response) keyView {
	t.Helper()
	var k keyView
	if err := json.Unmarshal(r.Raw, &k); err != nil {
		t.Fatalf("decode key: %v\n%s", err, r.Raw)
	}
	return k
}

// createKey issues an API key; body may be nil.
func (h *harness) createKey(m member, body any) keyView {
	h.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := h.do(req{Method: "POST", Path: "/api/api-keys", Auth: bearerOf(m.Token), Body: body})
	expectStatus(h.t, r, http.StatusCreated)
	k := decodeKey(h.t, r)
	if k.ID == "" || k.Key == "" || k.SigningSecret == "" {
		h.t.Fatalf("incomplete key response: %s", r.Raw)
	}
	h.remember(k.Key, k.SigningSecret)
	return k
}

// principal is a member with one of their keys.
func (h *harness) principal(m member) creds {
	h.t.Helper()
	return creds{Token: m.Token, Key: h.createKey(m, nil).Key}
}

// ---- messages ----

// post sends a body to POST /api/agent.
func (h *harness) post(c creds, body any) response {
	h.t.Helper()
	return h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Body: body})
}

// get polls one conversation.
func (h *harness) get(c creds, id string) response {
	h.t.Helper()
	return h.do(req{Method: "GET", Path: "/api/agent/" + id, Auth: bearerOf(c.Token), APIKey: c.Key})
}

// send posts a message and returns the conversation id.
func (h *harness) send(c creds, message string) string {
	h.t.Helper()
	r := h.post(c, map[string]any{"message": message})
	expectStatus(h.t, r, http.StatusAccepted)
	var b struct {
		ConversationUUID string `json:"conversation_uuid"`
	}
	if err := json.Unmarshal(r.Raw, &b); err != nil || b.ConversationUUID == "" {
		h.t.Fatalf("bad 202 body: %s", r.Raw)
	}
	return b.ConversationUUID
}

type turn struct {
	Role      string         `json:"role"`
	Payload   map[string]any `json:"payload"`
	Timestamp string         `json:"timestamp"`
}

type poll struct {
	ConversationUUID string          `json:"conversation_uuid"`
	Status           string          `json:"status"`
	Turns            []turn          `json:"turns"`
	Webhook          json.RawMessage `json:"webhook"`
	ResolvedAt       *string         `json:"resolved_at"`
	ExpiresAt        string          `json:"expires_at"`
	CreatedAt        string          `json:"created_at"`
	Error            json.RawMessage `json:"error"`
	Usage            map[string]any  `json:"usage"`
	Raw              []byte          `json:"-"`
}

// reply is the content of the final agent turn.
func (p poll) reply() string {
	if len(p.Turns) == 0 {
		return ""
	}
	last := p.Turns[len(p.Turns)-1]
	if last.Role != "agent" {
		return ""
	}
	s, _ := last.Payload["content"].(string)
	return s
}

func terminal(status string) bool { return status == "resolved" || status == "failed" }

// await polls (bounded) until the conversation is resolved or failed.
func (h *harness) await(c creds, id string) poll {
	h.t.Helper()
	return h.awaitWithin(c, id, pollBudget)
}

// awaitWithin is await with a budget of its own, for bursts whose last
// conversation waits behind all the others.
func (h *harness) awaitWithin(c creds, id string, budget time.Duration) poll {
	h.t.Helper()
	deadline := time.Now().Add(budget)
	var last response
	for {
		last = h.get(c, id)
		if last.Status != http.StatusOK {
			h.t.Fatalf("poll %s: status %d: %s", id, last.Status, last.Raw)
		}
		var p poll
		if err := json.Unmarshal(last.Raw, &p); err != nil {
			h.t.Fatalf("poll %s: %v\n%s", id, err, last.Raw)
		}
		p.Raw = last.Raw
		if terminal(p.Status) {
			return p
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("conversation %s did not finish within %s; last poll: %s\n%s", id, budget, last.Raw, h.diagnose(id))
		}
		time.Sleep(pollSleep)
	}
}

// ask sends a message, waits for the end and requires a resolved reply.
func (h *harness) ask(c creds, message string) (string, poll) {
	h.t.Helper()
	id := h.send(c, message)
	p := h.await(c, id)
	if p.Status != "resolved" {
		h.t.Fatalf("%q ended %s: %s", message, p.Status, p.Raw)
	}
	return id, p
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$`)

func parseTimestamp(t *testing.T, field, s string) time.Time {
	t.Helper()
	if !timestampRE.MatchString(s) {
		t.Errorf("%s = %q, want the form 2026-02-12T01:07:03+00:00", field, s)
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s = %q: %v", field, s, err)
	}
	return v
}

// diagnose describes a stuck conversation: its stream as recorded, the
// log's head and the agent loop's checkpoint.
func (h *harness) diagnose(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var b strings.Builder
	recs, err := h.App.Store.ReadStream(ctx, "conversation-"+id, 0)
	fmt.Fprintf(&b, "stream conversation-%s (err %v):\n", id, err)
	for _, r := range recs {
		fmt.Fprintf(&b, "  v%d @%s %s %.200s\n", r.StreamVersion, r.Position, r.Type, r.Data)
	}
	head, err := h.App.Store.Head(ctx)
	fmt.Fprintf(&b, "head %s (err %v)\n", head, err)
	cp, err := h.App.Store.LoadCheckpoint(ctx, "saga.agent_loop")
	fmt.Fprintf(&b, "saga.agent_loop checkpoint %s (err %v)\n", cp, err)
	all, err := h.App.Store.ReadAll(ctx, es.Start, 100000)
	fmt.Fprintf(&b, "ReadAll from start: %d events (err %v)", len(all), err)
	if len(all) > 0 {
		fmt.Fprintf(&b, ", last at %s", all[len(all)-1].Position)
	}
	return b.String()
}

// assertNoPlaintextSecrets reads every event and fails if any credential
// handed out during the test appears in an event's data or metadata.
func (h *harness) assertNoPlaintextSecrets() {
	h.t.Helper()
	secrets := h.issued()
	if len(secrets) == 0 {
		return
	}
	var needles []string
	for _, s := range secrets {
		needles = append(needles, s)
		// The random part alone must not appear either (e.g. re-encoded).
		for _, p := range []string{"sois_", "tok_", "whsec_"} {
			if rest, ok := strings.CutPrefix(s, p); ok && len(rest) >= 16 {
				needles = append(needles, rest)
			}
		}
	}
	events := h.allEvents()
	if len(events) == 0 {
		h.t.Fatalf("the event log is empty")
	}
	for _, ev := range events {
		md, err := json.Marshal(ev.Metadata)
		if err != nil {
			h.t.Fatalf("marshal metadata: %v", err)
		}
		var strs []string
		var v any
		if json.Unmarshal(ev.Data, &v) == nil {
			strs = collectStrings(v, strs)
		}
		hay := string(ev.Data) + "\n" + string(md) + "\n" + ev.Stream + "\n" + ev.Type + "\n" + strings.Join(strs, "\n")
		for _, n := range needles {
			if strings.Contains(hay, n) {
				h.t.Errorf("event %s (%s in %s) holds an issued credential in plaintext (%.12s…)", ev.ID, ev.Type, ev.Stream, n)
			}
		}
	}
}

func collectStrings(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, e := range x {
			out = collectStrings(e, out)
		}
	case map[string]any:
		for k, e := range x {
			out = append(out, k)
			out = collectStrings(e, out)
		}
	}
	return out
}
