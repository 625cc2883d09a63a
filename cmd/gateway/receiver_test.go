package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// A test webhook receiver: an httptest server on 127.0.0.1 that records
// every request (headers, raw body, arrival time), answers from a script,
// counts accepted TCP connections and deduplicates successful deliveries
// by webhook-id, the way a real receiver must.

// hookReq is one request the receiver got.
type hookReq struct {
	N       int       // 1-based arrival order
	At      time.Time // real time of arrival
	ClockAt time.Time // the gateway's (test) clock at arrival
	Done    time.Time // when the answer was written
	Method  string
	Path    string
	Header  http.Header
	Body    []byte
	Status  int    // what the receiver answered (-1: the gateway hung up first)
	Answer  string // the body it answered with
}

type receiver struct {
	t     *testing.T
	srv   *httptest.Server
	ln    *countingLn
	clock *testClock
	// URL is the delivery target: the server's base URL + "/hook".
	URL  string
	Addr string

	mu       sync.Mutex
	script   []int                                  // statuses answered in order; the last one repeats
	scriptAt int                                    // requests answered since the script was set
	perID    bool                                   // follow the script per webhook-id instead of overall
	custom   func(n int) (int, http.Header, []byte) // when set, answers instead of the script
	sleepFor func(n int) time.Duration              // when set, request n waits that long first
	seenByID map[string]int
	reqs     []hookReq
	inflight int
	maxIn    int
	okByID   map[string]int // 2xx answers per webhook-id
	gate     chan struct{}  // when set, every request waits for it (bounded)
	gateMax  time.Duration
}

// countingLn counts accepted connections.
type countingLn struct {
	net.Listener
	n atomic.Int64
}

func (l *countingLn) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// newReceiver starts a receiver on a fresh 127.0.0.1 port answering
// statuses in order (the last one repeats; none means always 200).
func newReceiver(t *testing.T, clock *testClock, statuses ...int) *receiver {
	t.Helper()
	return newReceiverOn(t, clock, "127.0.0.1:0", statuses...)
}

// newReceiverOn starts a receiver listening on addr (e.g. a port reserved
// with reservePort, to bring a "down" receiver up on the same URL).
func newReceiverOn(t *testing.T, clock *testClock, addr string, statuses ...int) *receiver {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port was just released: retry briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("receiver: listen on %s: %v", addr, err)
	}
	r := &receiver{t: t, clock: clock, okByID: map[string]int{}, gateMax: 10 * time.Second}
	r.setScript(statuses...)
	r.ln = &countingLn{Listener: ln}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener.Close()
	r.srv.Listener = r.ln
	r.srv.Start()
	r.Addr = ln.Addr().String()
	r.URL = r.srv.URL + "/hook"
	t.Cleanup(r.close)
	return r
}

// reservePort returns a 127.0.0.1 address nothing listens on (yet):
// connections to it are refused until newReceiverOn takes it.
func reservePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (r *receiver) close() {
	r.release()
	r.srv.Close()
}

// setScript replaces the answers; the next request gets statuses[0].
func (r *receiver) setScript(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(statuses) == 0 {
		statuses = []int{http.StatusOK}
	}
	r.script, r.scriptAt, r.perID, r.custom = append([]int(nil), statuses...), 0, false, nil
}

// answerWith makes fn answer request n (1-based, overall): status,
// extra headers and the exact body bytes.
func (r *receiver) answerWith(fn func(n int) (int, http.Header, []byte)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.custom = fn
}

// sleepWith makes request n (1-based, overall) wait fn(n) before answering
// (less if the gateway hangs up).
func (r *receiver) sleepWith(fn func(n int) time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sleepFor = fn
}

// setScriptPerID makes every webhook-id get statuses in order (e.g. each
// conversation's first attempt fails, its second succeeds).
func (r *receiver) setScriptPerID(statuses ...int) {
	r.setScript(statuses...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.perID, r.seenByID = true, map[string]int{}
}

// hold makes every request wait (at most max) until release is called.
func (r *receiver) hold(max time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gate, r.gateMax = make(chan struct{}), max
}

// release lets held requests (and later ones) through.
func (r *receiver) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	var clockAt time.Time
	if r.clock != nil {
		clockAt = r.clock.Now()
	}
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.reqs) + 1
	at := r.scriptAt
	if r.perID {
		at = r.seenByID[req.Header.Get("webhook-id")]
		r.seenByID[req.Header.Get("webhook-id")]++
	}
	status := r.script[min(at, len(r.script)-1)]
	r.scriptAt++
	r.reqs = append(r.reqs, hookReq{N: n, At: arrived, ClockAt: clockAt, Method: req.Method, Path: req.URL.Path,
		Header: req.Header.Clone(), Body: body})
	r.inflight++
	r.maxIn = max(r.maxIn, r.inflight)
	gate, gateMax, custom, sleepFor := r.gate, r.gateMax, r.custom, r.sleepFor
	r.mu.Unlock()

	if gate != nil {
		select {
		case <-gate:
		case <-time.After(gateMax):
		case <-req.Context().Done():
		}
	}
	if sleepFor != nil {
		if d := sleepFor(n); d > 0 {
			select {
			case <-time.After(d):
			case <-req.Context().Done():
			}
		}
	}
	if req.Context().Err() != nil { // the gateway hung up while held: nothing was answered
		r.mu.Lock()
		r.inflight--
		r.reqs[n-1].Status, r.reqs[n-1].Done = -1, time.Now()
		r.mu.Unlock()
		return
	}
	answer := fmt.Sprintf(`{"receiver":"test","request":%d,"status":%d}`, n, status)
	w.Header().Set("Content-Type", "application/json")
	if custom != nil {
		var hdr http.Header
		var b []byte
		status, hdr, b = custom(n)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		answer = string(b)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)

	r.mu.Lock()
	r.inflight--
	r.reqs[n-1].Status, r.reqs[n-1].Answer, r.reqs[n-1].Done = status, answer, time.Now()
	if status >= 200 && status < 300 {
		r.okByID[req.Header.Get("webhook-id")]++
	}
	r.mu.Unlock()
}

// requests returns a copy of every request so far.
func (r *receiver) requests() []hookReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookReq(nil), r.reqs...)
}

// answered returns the requests that have been answered.
func (r *receiver) answered() []hookReq {
	var out []hookReq
	for _, q := range r.requests() {
		if !q.Done.IsZero() {
			out = append(out, q)
		}
	}
	return out
}

// forConversation returns the requests carrying X-Conversation-UUID id.
func (r *receiver) forConversation(id string) []hookReq {
	var out []hookReq
	for _, q := range r.requests() {
		if q.Header.Get("X-Conversation-UUID") == id {
			out = append(out, q)
		}
	}
	return out
}

// delivered is how many times webhook-id id was answered with a 2xx.
func (r *receiver) delivered(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.okByID[id]
}

// unique is how many distinct webhook-ids were answered with a 2xx.
func (r *receiver) unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.okByID)
}

// duplicates counts 2xx answers beyond the first per webhook-id: what a
// deduplicating receiver throws away.
func (r *receiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := 0
	for _, n := range r.okByID {
		d += max(0, n-1)
	}
	return d
}

func (r *receiver) inFlight() (now, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight, r.maxIn
}

// connections is how many TCP connections the receiver accepted.
func (r *receiver) connections() int64 { return r.ln.n.Load() }

// waitRequests waits (bounded) until at least n requests arrived.
func (r *receiver) waitRequests(n int, budget time.Duration) []hookReq {
	r.t.Helper()
	eventually(r.t, budget, fmt.Sprintf("the receiver to get %d request(s)", n), func() bool { return len(r.requests()) >= n })
	return r.requests()
}

// eventually polls cond (every 10ms) until it holds or budget runs out.
func eventually(t *testing.T, budget time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(budget)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", budget, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- signature checks ----

func hexHMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// verifyHook checks one delivery request: method, path, headers and both
// signatures. secrets are the key's signing secrets newest first, exactly
// the ones expected in webhook-signature (in order); X-Signature must use
// the newest.
func verifyHook(t *testing.T, q hookReq, convID string, secrets ...string) {
	t.Helper()
	if q.Method != http.MethodPost || q.Path != "/hook" {
		t.Errorf("request %d: %s %s, want POST /hook", q.N, q.Method, q.Path)
	}
	if ct := q.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("request %d: Content-Type = %q, want application/json", q.N, ct)
	}
	if got := q.Header.Get("X-Conversation-UUID"); got != convID {
		t.Errorf("request %d: X-Conversation-UUID = %q, want %q", q.N, got, convID)
	}
	if got := q.Header.Get("webhook-id"); got != "msg_"+convID {
		t.Errorf("request %d: webhook-id = %q, want %q", q.N, got, "msg_"+convID)
	}
	if ua := q.Header.Get("User-Agent"); !strings.HasPrefix(ua, "chat-agent-gateway-webhooks/") {
		t.Errorf("request %d: User-Agent = %q", q.N, ua)
	}
	// A fresh timestamp: this attempt's time on the gateway's clock.
	ts, err := strconv.ParseInt(q.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Errorf("request %d: webhook-timestamp %q is not unix seconds", q.N, q.Header.Get("webhook-timestamp"))
	} else if d := q.ClockAt.Unix() - ts; d < -1 || d > 2 {
		t.Errorf("request %d: webhook-timestamp %d is %ds away from the gateway clock at arrival (%d): not this attempt's time",
			q.N, ts, d, q.ClockAt.Unix())
	}
	if len(secrets) == 0 {
		t.Fatalf("verifyHook: no secrets")
	}
	// X-Signature: hex HMAC-SHA256 of the raw body keyed with the newest secret.
	if got, want := q.Header.Get("X-Signature"), hexHMAC(secrets[0], q.Body); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("request %d: X-Signature = %q does not verify with the newest signing secret", q.N, got)
	}
	// webhook-signature: one "v1,…" per secret, space-separated, in order;
	// each verifies with its own secret through the reference library.
	sigs := strings.Split(q.Header.Get("webhook-signature"), " ")
	if len(sigs) != len(secrets) {
		t.Errorf("request %d: webhook-signature has %d signature(s) %q, want %d", q.N, len(sigs), q.Header.Get("webhook-signature"), len(secrets))
		return
	}
	skewed := q.ClockAt.Sub(q.At) > 4*time.Minute || q.At.Sub(q.ClockAt) > 4*time.Minute
	for i, s := range secrets {
		if !strings.HasPrefix(sigs[i], "v1,") {
			t.Errorf("request %d: signature %d = %q, want a v1, signature", q.N, i+1, sigs[i])
		}
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatalf("standardwebhooks.NewWebhook: %v", err)
		}
		one := q.Header.Clone()
		one.Set("webhook-signature", sigs[i])
		verify := wh.Verify
		if skewed { // the test moved the gateway clock past the library's 5-minute window
			verify = wh.VerifyIgnoringTimestamp
		}
		if err := verify(q.Body, one); err != nil {
			t.Errorf("request %d: webhook-signature %d does not verify with secret %d (Standard Webhooks library): %v", q.N, i+1, i+1, err)
		}
		if err := verify(q.Body, q.Header); err != nil {
			t.Errorf("request %d: the whole webhook-signature header does not verify with secret %d: %v", q.N, i+1, err)
		}
		for j, other := range secrets {
			if j != i && other == s {
				t.Errorf("secrets %d and %d are equal", i+1, j+1)
			}
		}
	}
}

// ---- a safety net under the SSRF guard ----

// netSafetySender wraps the gateway's webhook sender so that no attempt to
// a host outside loopback can reach the network, even if the guard were
// broken: such attempts get an already cancelled context, so the HTTP
// client returns before dialling. The guard's own checks (URL scheme,
// literal address) run before the context is used, so their refusals are
// still what the attempt records; a broken guard shows up as a
// "cancelled" error instead of a "blocked" one. It also records every
// attempt the gateway made.
type netSafetySender struct {
	inner commands.WebhookSender
	log   *attemptLog
}

type attemptLog struct {
	mu   sync.Mutex
	reqs []commands.WebhookRequest
	res  []commands.WebhookResult
}

func (l *attemptLog) all() ([]commands.WebhookRequest, []commands.WebhookResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]commands.WebhookRequest(nil), l.reqs...), append([]commands.WebhookResult(nil), l.res...)
}

func (s netSafetySender) Deliver(ctx context.Context, r commands.WebhookRequest) commands.WebhookResult {
	if !loopbackURL(r.URL) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		ctx = cctx
	}
	res := s.inner.Deliver(ctx, r)
	s.log.mu.Lock()
	s.log.reqs = append(s.log.reqs, r)
	s.log.res = append(s.log.res, res)
	s.log.mu.Unlock()
	return res
}

func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch h := u.Hostname(); {
	case h == "localhost", h == "127.0.0.1", h == "::1", h == "::ffff:127.0.0.1":
		return true
	}
	return false
}

// withNetSafety installs netSafetySender on every App the harness builds.
func withNetSafety(log *attemptLog) harnessOption {
	return withBeforeStart(func(a *App) {
		a.Cmds.Webhook = netSafetySender{inner: a.Cmds.Webhook, log: log}
	})
}

// stallingStore wraps the commands' event store: while stall is set, an
// append of an event of type stallType blocks until its context ends (a
// gateway stopped, or crashed, in the middle of that command).
type stallingStore struct {
	commands.EventStore
	stallType string
	stall     *atomic.Bool
	stalled   chan struct{} // receives once per stalled append
}

func (s stallingStore) Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error) {
	if s.stall.Load() {
		for _, e := range events {
			if e.Type == s.stallType {
				select {
				case s.stalled <- struct{}{}:
				default:
				}
				<-ctx.Done()
				return es.AppendResult{}, ctx.Err()
			}
		}
	}
	return s.EventStore.Append(ctx, stream, expected, events...)
}
