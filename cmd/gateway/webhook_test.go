package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
)

// End-to-end tests of webhook delivery: the whole gateway on both backends
// delivering to test receivers on 127.0.0.1 (receiver_test.go).

const (
	// fastSchedule: attempts at 0, +[100,200]ms, +[200,400]ms, +[400,800]ms.
	fastSchedule = "200ms,400ms,800ms"
	// hookBudget bounds every wait for a delivery.
	hookBudget = 30 * time.Second
)

// newWebhookHarness starts a gateway that may deliver to loopback
// receivers (GATEWAY_WEBHOOK_ALLOW_PRIVATE=true) on a short retry schedule;
// env overrides those (an empty value unsets). Every attempt goes through
// netSafetySender and is recorded in the returned log.
func newWebhookHarness(t *testing.T, backend string, env map[string]string, opts ...harnessOption) (*harness, *attemptLog) {
	t.Helper()
	e := map[string]string{
		"GATEWAY_WEBHOOK_ALLOW_PRIVATE":  "true",
		"GATEWAY_WEBHOOK_RETRY_SCHEDULE": fastSchedule,
	}
	for k, v := range env {
		e[k] = v
	}
	log := &attemptLog{}
	opts = append([]harnessOption{withEnv(e), withNetSafety(log)}, opts...)
	return newHarness(t, backend, opts...), log
}

// hookCreds creates a key of m with response_url url (none when url is "").
func (h *harness) hookCreds(m member, url string) (creds, keyView) {
	h.t.Helper()
	body := map[string]any{}
	if url != "" {
		body["response_url"] = url
	}
	k := h.createKey(m, body)
	return creds{Token: m.Token, Key: k.Key}, k
}

// webhookBlock polls once and returns the poll's webhook block (nil when
// the poll shows "webhook": null) and the raw poll.
func (h *harness) webhookBlock(c creds, id string) (map[string]any, []byte) {
	h.t.Helper()
	r := h.get(c, id)
	expectStatus(h.t, r, http.StatusOK)
	m := r.JSON(h.t)
	raw, present := m["webhook"]
	if !present {
		h.t.Fatalf("poll has no \"webhook\" field: %s", r.Raw)
	}
	wh, _ := raw.(map[string]any)
	return wh, r.Raw
}

// awaitWebhook polls (bounded) until the webhook status is one of want
// (default: delivered or failed) and returns the block.
func (h *harness) awaitWebhook(c creds, id string, want ...string) map[string]any {
	h.t.Helper()
	if len(want) == 0 {
		want = []string{"delivered", "failed"}
	}
	deadline := time.Now().Add(hookBudget)
	for {
		wh, raw := h.webhookBlock(c, id)
		if wh != nil {
			for _, s := range want {
				if wh["status"] == s {
					return wh
				}
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("webhook of %s not %v within %s; last poll: %s\nwebhook stream:\n%s", id, want, hookBudget, raw, h.describeWebhook(id))
		}
		time.Sleep(pollSleep)
	}
}

// webhookRecords reads the conversation's webhook stream.
func (h *harness) webhookRecords(id string) []es.Recorded {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := h.App.Store.ReadStream(ctx, webhook.Stream(id), 0)
	if err != nil {
		h.t.Fatalf("read %s: %v", webhook.Stream(id), err)
	}
	return recs
}

// webhookFacts decodes the conversation's webhook stream.
func (h *harness) webhookFacts(id string) ([]string, []es.Fact) {
	h.t.Helper()
	var types []string
	var facts []es.Fact
	for _, rec := range h.webhookRecords(id) {
		f, err := webhook.Events.Decode(rec)
		if err != nil {
			h.t.Fatalf("decode %s: %v", rec.Type, err)
		}
		types, facts = append(types, rec.Type), append(facts, f)
	}
	return types, facts
}

func (h *harness) describeWebhook(id string) string {
	if h.App == nil {
		return "(gateway stopped)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := h.App.Store.ReadStream(ctx, webhook.Stream(id), 0)
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s (err %v):\n", webhook.Stream(id), err)
	for _, r := range recs {
		fmt.Fprintf(&b, "  v%d %s %.300s\n", r.StreamVersion, r.Type, r.Data)
	}
	return b.String()
}

// completedAttempts returns the AttemptCompleted facts of the stream.
func (h *harness) completedAttempts(id string) []*webhook.AttemptCompleted {
	_, facts := h.webhookFacts(id)
	var out []*webhook.AttemptCompleted
	for _, f := range facts {
		if a, ok := f.(*webhook.AttemptCompleted); ok {
			out = append(out, a)
		}
	}
	return out
}

// attemptsView is GET /api/agent/{id}/webhook/attempts.
type attemptsView struct {
	ConversationUUID string `json:"conversation_uuid"`
	WebhookID        string `json:"webhook_id"`
	Attempts         []struct {
		Delivery       int     `json:"delivery"`
		Attempt        int     `json:"attempt"`
		URL            string  `json:"url"`
		Outcome        string  `json:"outcome"`
		StatusCode     int     `json:"status_code"`
		DurationMS     *int64  `json:"duration_ms"`
		Error          string  `json:"error"`
		ResponsePrefix string  `json:"response_body_prefix"`
		NextAttemptAt  *string `json:"next_attempt_at"`
		CompletedAt    string  `json:"completed_at"`
	} `json:"attempts"`
}

func (h *harness) attempts(c creds, id string) attemptsView {
	h.t.Helper()
	r := h.do(req{Method: "GET", Path: "/api/agent/" + id + "/webhook/attempts", Auth: bearerOf(c.Token), APIKey: c.Key})
	expectStatus(h.t, r, http.StatusOK)
	var v attemptsView
	if err := json.Unmarshal(r.Raw, &v); err != nil {
		h.t.Fatalf("decode attempts: %v\n%s", err, r.Raw)
	}
	return v
}

func (h *harness) redeliver(c creds, id string) response {
	h.t.Helper()
	return h.do(req{Method: "POST", Path: "/api/agent/" + id + "/webhook/redeliver", Auth: bearerOf(c.Token), APIKey: c.Key})
}

// expectKeys fails unless m has exactly the given keys.
func expectKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(keys)
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Errorf("%s has keys %v, want exactly %v: %v", what, got, keys, m)
	}
}

// expectBlock checks the poll's webhook block field by field; delivered
// tells whether delivered_at must be set; lastCode 0 means null.
func expectBlock(t *testing.T, wh map[string]any, status string, attempts int, delivered bool, lastCode int) {
	t.Helper()
	if wh == nil {
		t.Fatalf("webhook block is null")
	}
	if wh["status"] != status {
		t.Errorf("webhook.status = %v, want %s: %v", wh["status"], status, wh)
	}
	if wh["attempts"] != float64(attempts) {
		t.Errorf("webhook.attempts = %v, want %d: %v", wh["attempts"], attempts, wh)
	}
	if d, _ := wh["delivered_at"].(string); delivered != (d != "") {
		t.Errorf("webhook.delivered_at = %v, want set=%v", wh["delivered_at"], delivered)
	} else if delivered {
		parseTimestamp(t, "webhook.delivered_at", d)
	}
	if lastCode == 0 {
		if wh["last_status_code"] != nil {
			t.Errorf("webhook.last_status_code = %v, want null", wh["last_status_code"])
		}
	} else if wh["last_status_code"] != float64(lastCode) {
		t.Errorf("webhook.last_status_code = %v, want %d", wh["last_status_code"], lastCode)
	}
	if wh["next_attempt_at"] != nil {
		t.Errorf("webhook.next_attempt_at = %v, want null once the delivery ended", wh["next_attempt_at"])
	}
}

// decodeBody decodes a delivery body strictly as an object.
func decodeBody(t *testing.T, q hookReq) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(q.Body, &m); err != nil {
		t.Fatalf("request %d: body is not a JSON object: %v\n%s", q.N, err, q.Body)
	}
	return m
}

// holdModel wraps the gateway's model: a conversation whose message
// contains holdMarker waits in its model step until the test releases it,
// so the test can act while the conversation is still processing. The
// marker is removed before the real model sees the message.
const holdMarker = " [hold]"

type holdGate struct {
	once sync.Once
	ch   chan struct{}
}

func newHoldGate(t *testing.T) *holdGate {
	g := &holdGate{ch: make(chan struct{})}
	t.Cleanup(g.release) // runs before the harness stops the gateway
	return g
}

func (g *holdGate) release() { g.once.Do(func() { close(g.ch) }) }

type holdModel struct {
	inner commands.Model
	gate  *holdGate
}

func (m holdModel) Complete(ctx context.Context, r agent.Request) (agent.Response, error) {
	held := false
	msgs := make([]agent.Message, len(r.Messages))
	for i, msg := range r.Messages {
		if strings.Contains(msg.Content, holdMarker) {
			held = true
			msg.Content = strings.ReplaceAll(msg.Content, holdMarker, "")
		}
		msgs[i] = msg
	}
	if held {
		select {
		case <-m.gate.ch:
		case <-ctx.Done():
			return agent.Response{}, ctx.Err()
		}
	}
	r.Messages = msgs
	return m.inner.Complete(ctx, r)
}

func withHold(g *holdGate) harnessOption {
	return withBeforeStart(func(a *App) { a.Cmds.Model = holdModel{inner: a.Cmds.Model, gate: g} })
}

// awaitStatus polls until the conversation shows status.
func (h *harness) awaitStatus(c creds, id, status string) {
	h.t.Helper()
	eventually(h.t, pollBudget, "conversation "+id+" to be "+status, func() bool {
		r := h.get(c, id)
		var p poll
		_ = json.Unmarshal(r.Raw, &p)
		return p.Status == status
	})
}

// ---- 1. retries, then delivered ----

// TestWebhook_RetriesThenDelivers: the receiver answers 500, 500, 200. The
// reply is delivered exactly once; the poll's webhook block, the attempts
// list and the event log say what happened; every request carries the
// same webhook-id, a fresh timestamp, both valid signatures and the body
// matching the poll; retries wait at least the jittered schedule step.
func TestWebhook_RetriesThenDelivers(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, nil)
		rc := newReceiver(t, h.Clock, 500, 500, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, rc.URL)
		id := h.send(c, "List my tasks")
		p := h.await(c, id)
		if p.Status != "resolved" || p.reply() == "" {
			t.Fatalf("conversation ended %s: %s", p.Status, p.Raw)
		}
		wh := h.awaitWebhook(c, id)

		// The poll's webhook block, exactly.
		expectKeys(t, "webhook block", wh, "status", "attempts", "delivered_at", "last_status_code", "next_attempt_at")
		expectBlock(t, wh, "delivered", 3, true, 200)

		// The receiver: three requests, one success, no duplicate.
		h.quiesce()
		time.Sleep(300 * time.Millisecond) // longer than a tick: nothing more comes
		reqs := rc.requests()
		if len(reqs) != 3 {
			t.Fatalf("receiver got %d requests, want 3", len(reqs))
		}
		if rc.delivered("msg_"+id) != 1 || rc.duplicates() != 0 || rc.unique() != 1 {
			t.Errorf("deliveries: %d of msg_%s, %d duplicates, %d ids; want exactly one delivery", rc.delivered("msg_"+id), id, rc.duplicates(), rc.unique())
		}
		for i, q := range reqs {
			verifyHook(t, q, id, k.SigningSecret)
			if string(q.Body) != string(reqs[0].Body) {
				t.Errorf("request %d body differs from the first: %s vs %s", i+1, q.Body, reqs[0].Body)
			}
			if want := []int{500, 500, 200}[i]; q.Status != want {
				t.Errorf("request %d answered %d, want %d", i+1, q.Status, want)
			}
		}
		body := decodeBody(t, reqs[2])
		expectKeys(t, "delivery body", body, "conversation_uuid", "status", "response", "outcome", "turn", "usage")
		if body["conversation_uuid"] != id || body["status"] != "resolved" || body["response"] != p.reply() {
			t.Errorf("delivery body = %s, want the poll's reply %q", reqs[2].Body, p.reply())
		}
		if !reflect.DeepEqual(body["usage"], p.Usage) || jnum(p.Usage, "model_steps") == 0 {
			t.Errorf("delivery usage = %v, want the poll's %v", body["usage"], p.Usage)
		}
		if deliveredAt := parseTimestamp(t, "delivered_at", wh["delivered_at"].(string)); deliveredAt.Before(reqs[2].At.Truncate(time.Second)) ||
			deliveredAt.After(reqs[2].Done.Add(time.Second)) {
			t.Errorf("delivered_at %s is not the time of the successful attempt (%s)", deliveredAt, reqs[2].At)
		}

		// The attempts list.
		av := h.attempts(c, id)
		if av.ConversationUUID != id || av.WebhookID != "msg_"+id || len(av.Attempts) != 3 {
			t.Fatalf("attempts = %+v, want 3 attempts of msg_%s", av, id)
		}
		// Paged by two: the same three, in order, then the end.
		var paged []int
		path := "/api/agent/" + id + "/webhook/attempts?limit=2"
		for range 3 {
			r := h.do(req{Method: "GET", Path: path, Auth: bearerOf(c.Token), APIKey: c.Key})
			var page struct {
				Attempts []struct {
					Attempt int `json:"attempt"`
				} `json:"attempts"`
				NextCursor *string `json:"next_cursor"`
			}
			if err := json.Unmarshal(r.Raw, &page); err != nil || r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, r.Status, r.Raw)
			}
			for _, a := range page.Attempts {
				paged = append(paged, a.Attempt)
			}
			if page.NextCursor == nil {
				break
			}
			path = "/api/agent/" + id + "/webhook/attempts?limit=2&cursor=" + *page.NextCursor
		}
		if fmt.Sprint(paged) != "[1 2 3]" {
			t.Errorf("attempts paged by 2: %v, want [1 2 3]", paged)
		}
		expectError(t, h.do(req{Method: "GET", Path: "/api/agent/" + id + "/webhook/attempts?cursor=nope", Auth: bearerOf(c.Token), APIKey: c.Key}),
			http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		for i, a := range av.Attempts {
			want := []int{500, 500, 200}[i]
			if a.Delivery != 1 || a.Attempt != i+1 || a.URL != rc.URL || a.StatusCode != want || a.DurationMS == nil || *a.DurationMS < 0 {
				t.Errorf("attempt %d = %+v, want delivery 1 attempt %d to %s answered %d with a duration", i+1, a, i+1, rc.URL, want)
			}
			if a.ResponsePrefix != reqs[i].Answer {
				t.Errorf("attempt %d response_body_prefix = %q, want %q", i+1, a.ResponsePrefix, reqs[i].Answer)
			}
			parseTimestamp(t, "completed_at", a.CompletedAt)
			if i < 2 {
				if a.Outcome != "failed" || !strings.Contains(a.Error, "500") {
					t.Errorf("attempt %d: outcome %q error %q, want failed naming 500", i+1, a.Outcome, a.Error)
				}
				if a.NextAttemptAt == nil {
					t.Errorf("attempt %d failed but has no next_attempt_at", i+1)
				} else if next := parseTimestamp(t, "next_attempt_at", *a.NextAttemptAt); reqs[i+1].At.Before(next) {
					t.Errorf("attempt %d came at %s, before the announced next_attempt_at %s", i+2, reqs[i+1].At, next)
				}
			} else if a.Outcome != "delivered" || a.Error != "" || a.NextAttemptAt != nil {
				t.Errorf("attempt 3 = %+v, want delivered without error or next_attempt_at", a)
			}
		}

		// The event log.
		types, facts := h.webhookFacts(id)
		want := []string{"WebhookDeliveryStarted",
			"WebhookAttemptStarted", "WebhookAttemptCompleted",
			"WebhookAttemptStarted", "WebhookAttemptCompleted",
			"WebhookAttemptStarted", "WebhookAttemptCompleted",
			"WebhookDelivered"}
		if strings.Join(types, " ") != strings.Join(want, " ") {
			t.Fatalf("webhook stream = %v, want %v", types, want)
		}
		st := facts[0].(*webhook.Started)
		if st.URL != rc.URL || st.WebhookID != "msg_"+id || st.Body != string(reqs[0].Body) || st.APIKeyID != k.ID || st.Reason != commands.ReasonConversationEnded {
			t.Errorf("WebhookDeliveryStarted = %+v", st)
		}
		// The durable timer never sends early, and retries respect the
		// jittered step (at least half of it).
		steps := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}
		var done []*webhook.AttemptCompleted
		for _, f := range facts {
			if a, ok := f.(*webhook.AttemptCompleted); ok {
				done = append(done, a)
			}
		}
		for i := 0; i < 2; i++ {
			next := done[i].NextAttemptAt
			if next == nil {
				t.Fatalf("AttemptCompleted %d has no next_attempt_at", i+1)
			}
			if reqs[i+1].ClockAt.Before(*next) {
				t.Errorf("attempt %d sent at %s, before its time %s", i+2, reqs[i+1].ClockAt, *next)
			}
			if gap := reqs[i+1].At.Sub(reqs[i].Done); gap < steps[i]/2-10*time.Millisecond {
				t.Errorf("attempt %d came %s after attempt %d, less than half the %s step", i+2, gap, i+1, steps[i])
			}
		}
		t.Logf("retry gaps: %s, %s", reqs[1].At.Sub(reqs[0].At).Round(time.Millisecond), reqs[2].At.Sub(reqs[1].At).Round(time.Millisecond))
	})
}

// TestWebhook_FailedConversationBody: a conversation that fails (the
// offline model needs 2 steps for "List my tasks"; GATEWAY_MAX_STEPS=1
// makes it fail with STEP_LIMIT) is delivered with "error" instead of
// "response", carrying the poll's error message.
func TestWebhook_FailedConversationBody(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, map[string]string{"GATEWAY_MAX_STEPS": "1"})
		rc := newReceiver(t, h.Clock)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, rc.URL)
		id := h.send(c, "List my tasks")
		p := h.await(c, id)
		if p.Status != "failed" {
			t.Fatalf("conversation ended %s, want failed: %s", p.Status, p.Raw)
		}
		var perr struct{ Code, Message string }
		if err := json.Unmarshal(p.Error, &perr); err != nil || perr.Code != "STEP_LIMIT" || perr.Message == "" {
			t.Fatalf("poll error = %s, want STEP_LIMIT with a message", p.Error)
		}
		wh := h.awaitWebhook(c, id)
		expectBlock(t, wh, "delivered", 1, true, 200)
		reqs := rc.requests()
		if len(reqs) != 1 {
			t.Fatalf("receiver got %d requests, want 1", len(reqs))
		}
		verifyHook(t, reqs[0], id, k.SigningSecret)
		body := decodeBody(t, reqs[0])
		expectKeys(t, "failed delivery body", body, "conversation_uuid", "status", "error", "turn", "usage")
		if !reflect.DeepEqual(body["usage"], p.Usage) {
			t.Errorf("failed delivery usage = %v, want the poll's %v", body["usage"], p.Usage)
		}
		if body["conversation_uuid"] != id || body["status"] != "failed" || body["error"] != perr.Message {
			t.Errorf("delivery body = %s, want status failed and error %q", reqs[0].Body, perr.Message)
		}
	})
}

// ---- 2. restarts ----

// TestWebhook_RestartMidBackoff: the receiver is down (nothing listens on
// its port), so the first attempt fails; the gateway restarts while the
// next attempt is scheduled; the receiver comes up on the same URL; the
// restarted gateway's durable timer delivers.
func TestWebhook_RestartMidBackoff(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, map[string]string{"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "5s,5s,5s,5s"})
		addr := reservePort(t)
		url := "http://" + addr + "/hook"
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, url)
		id := h.send(c, "List my tasks")
		h.await(c, id)

		var first *webhook.AttemptCompleted
		eventually(t, hookBudget, "the first attempt to fail", func() bool {
			if done := h.completedAttempts(id); len(done) > 0 {
				first = done[0]
				return true
			}
			return false
		})
		if first.StatusCode != 0 || !strings.Contains(first.Error, "refused") || first.NextAttemptAt == nil {
			t.Fatalf("first attempt = %+v, want a refused connection with a next attempt", first)
		}
		if now := h.Clock.Now(); !now.Before(*first.NextAttemptAt) {
			t.Fatalf("the next attempt (%s) is already due at %s: the test did not catch the backoff", *first.NextAttemptAt, now)
		}
		var wh map[string]any
		eventually(t, 5*time.Second, "the poll to show the failed attempt", func() bool {
			wh, _ = h.webhookBlock(c, id)
			return wh["attempts"] == float64(1)
		})
		if wh["status"] != "pending" || wh["next_attempt_at"] == nil || !strings.Contains(fmt.Sprint(wh["last_error"]), "refused") {
			t.Errorf("webhook block in the backoff = %v, want pending, 1 attempt, a next_attempt_at and the refusal", wh)
		}

		h.restart()
		restarted := time.Now()
		if h.Clock.Now().Before(*first.NextAttemptAt) {
			t.Logf("restarted %s before the next attempt was due", first.NextAttemptAt.Sub(h.Clock.Now()).Round(time.Millisecond))
		}
		rc := newReceiverOn(t, h.Clock, addr, 200)

		wh = h.awaitWebhook(c, id)
		if wh["status"] != "delivered" {
			t.Fatalf("after the restart the webhook is %v: %s", wh, h.describeWebhook(id))
		}
		if n, _ := wh["attempts"].(float64); n < 2 {
			t.Errorf("attempts = %v, want at least 2", wh["attempts"])
		}
		reqs := rc.requests()
		if len(reqs) != 1 || rc.delivered("msg_"+id) != 1 {
			t.Fatalf("receiver got %d requests (%d delivered), want exactly one delivery", len(reqs), rc.delivered("msg_"+id))
		}
		if reqs[0].At.Before(restarted) {
			t.Errorf("the delivery came before the restart")
		}
		if reqs[0].ClockAt.Before(*first.NextAttemptAt) {
			t.Errorf("the retry came at %s, before its scheduled time %s", reqs[0].ClockAt, *first.NextAttemptAt)
		}
		verifyHook(t, reqs[0], id, k.SigningSecret)
		av := h.attempts(c, id)
		if len(av.Attempts) < 2 || av.Attempts[0].StatusCode != 0 || !strings.Contains(av.Attempts[0].Error, "refused") ||
			av.Attempts[len(av.Attempts)-1].StatusCode != 200 {
			t.Errorf("attempts = %+v, want the refusal first and 200 last", av.Attempts)
		}
		t.Logf("delivered %s after the restart, %d attempts", reqs[0].At.Sub(restarted).Round(time.Millisecond), len(av.Attempts))
	})
}

// TestWebhook_DueAtStart: the receiver answers 503 then 200; the gateway is
// stopped after the first attempt for longer than the backoff (the clock
// moves two minutes); the attempt is due when it starts, and the first
// timer tick sends it, signed with a fresh timestamp.
func TestWebhook_DueAtStart(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, map[string]string{"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "1s,1s,1s"})
		rc := newReceiver(t, h.Clock, 503, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, rc.URL)
		id := h.send(c, "List my tasks")
		h.await(c, id)
		var first *webhook.AttemptCompleted
		eventually(t, hookBudget, "the first attempt to fail", func() bool {
			if done := h.completedAttempts(id); len(done) > 0 {
				first = done[0]
				return true
			}
			return false
		})
		if first.StatusCode != 503 || first.NextAttemptAt == nil {
			t.Fatalf("first attempt = %+v, want 503 with a next attempt", first)
		}
		h.stop()
		if n := len(rc.requests()); n != 1 {
			t.Fatalf("the receiver got %d requests before the stop, want 1", n)
		}
		h.Clock.Advance(2 * time.Minute) // stopped far longer than the backoff
		h.start()
		// Counted from the end of the start (migrations and catch-up take
		// seconds on a loaded CI machine), which the bound is not about.
		started := time.Now()

		wh := h.awaitWebhook(c, id)
		expectBlock(t, wh, "delivered", 2, true, 200)
		reqs := rc.requests()
		if len(reqs) != 2 || rc.delivered("msg_"+id) != 1 {
			t.Fatalf("receiver got %d requests (%d delivered), want 2 with one delivery", len(reqs), rc.delivered("msg_"+id))
		}
		// Due at start: sent on the first tick (1s), not after a new backoff.
		if lag := reqs[1].At.Sub(started); lag > 5*time.Second {
			t.Errorf("the due attempt went out %s after the start, want within about a tick (1s)", lag)
		}
		for _, q := range reqs {
			verifyHook(t, q, id, k.SigningSecret)
		}
		ts0, ts1 := reqs[0].Header.Get("webhook-timestamp"), reqs[1].Header.Get("webhook-timestamp")
		if ts0 == ts1 {
			t.Errorf("the retry reused webhook-timestamp %s", ts0)
		}
		if reqs[0].Header.Get("webhook-id") != reqs[1].Header.Get("webhook-id") {
			t.Errorf("webhook-id changed across the restart: %q, %q", reqs[0].Header.Get("webhook-id"), reqs[1].Header.Get("webhook-id"))
		}
		t.Logf("delivered %s after the start", reqs[1].At.Sub(started).Round(time.Millisecond))
	})
}

// ---- 3. giving up ----

// TestWebhook_GiveUp: 410 Gone stops at once; a receiver that always fails
// gets one attempt plus one per schedule step, then the delivery fails
// with a reason; a failed delivery can be redelivered.
func TestWebhook_GiveUp(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, nil)
		owner := h.createWorkspace("Acme", "owner@acme.test")

		t.Run("410 Gone stops at once", func(t *testing.T) {
			h := h.on(t)
			rc := newReceiver(t, h.Clock, 410)
			c, k := h.hookCreds(owner, rc.URL)
			id := h.send(c, "List my tasks")
			h.await(c, id)
			wh := h.awaitWebhook(c, id)
			expectBlock(t, wh, "failed", 1, false, 410)
			if le, _ := wh["last_error"].(string); !strings.Contains(le, "410") {
				t.Errorf("last_error = %q, want it to name 410", le)
			}
			time.Sleep(600 * time.Millisecond) // past the first two steps: no retry
			if n := len(rc.requests()); n != 1 {
				t.Errorf("receiver got %d requests, want 1", n)
			}
			types, facts := h.webhookFacts(id)
			want := "WebhookDeliveryStarted WebhookAttemptStarted WebhookAttemptCompleted WebhookAbandoned"
			if strings.Join(types, " ") != want {
				t.Fatalf("webhook stream = %v, want %s", types, want)
			}
			if a := facts[2].(*webhook.AttemptCompleted); a.StatusCode != 410 || a.Outcome != webhook.OutcomeGone || a.NextAttemptAt != nil {
				t.Errorf("AttemptCompleted = %+v, want 410, gone, no next attempt", a)
			}
			if ab := facts[3].(*webhook.Abandoned); !strings.Contains(ab.Reason, "410") {
				t.Errorf("WebhookAbandoned reason %q does not name 410", ab.Reason)
			}
			verifyHook(t, rc.requests()[0], id, k.SigningSecret)
			hookUsage := func() any {
				u := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token)})).Usage
				return u["webhook_deliveries"]
			}
			if got, want := hookUsage(), map[string]any{"pending": 0.0, "delivered": 0.0, "failed": 1.0}; !reflect.DeepEqual(got, want) {
				t.Errorf("key usage webhook_deliveries = %v, want %v", got, want)
			}

			// The receiver is back: a redelivery of the failed delivery goes through.
			rc.setScript(200)
			r := h.redeliver(c, id)
			expectStatus(t, r, http.StatusAccepted)
			wh = h.awaitWebhook(c, id, "delivered")
			expectBlock(t, wh, "delivered", 1, true, 200)
			if rc.delivered("msg_"+id) != 1 || len(rc.requests()) != 2 {
				t.Errorf("after redelivery: %d requests, %d delivered", len(rc.requests()), rc.delivered("msg_"+id))
			}
			if got, want := hookUsage(), map[string]any{"pending": 0.0, "delivered": 1.0, "failed": 0.0}; !reflect.DeepEqual(got, want) {
				t.Errorf("key usage webhook_deliveries after the redelivery = %v, want %v", got, want)
			}
		})

		t.Run("schedule exhausted", func(t *testing.T) {
			h := h.on(t)
			rc := newReceiver(t, h.Clock, 500)
			c, k := h.hookCreds(owner, rc.URL)
			id := h.send(c, "List my tasks")
			h.await(c, id)
			wh := h.awaitWebhook(c, id)
			expectBlock(t, wh, "failed", 4, false, 500)
			reason, _ := wh["last_error"].(string)
			if !strings.Contains(reason, "retry schedule") {
				t.Errorf("last_error = %q, want the reason (the schedule was used up)", reason)
			}
			time.Sleep(time.Second) // longer than the longest step: no fifth attempt
			reqs := rc.requests()
			if len(reqs) != 4 || rc.unique() != 0 {
				t.Fatalf("receiver got %d requests (%d delivered), want 4 failures", len(reqs), rc.unique())
			}
			for _, q := range reqs {
				verifyHook(t, q, id, k.SigningSecret)
			}
			types, facts := h.webhookFacts(id)
			want := "WebhookDeliveryStarted" + strings.Repeat(" WebhookAttemptStarted WebhookAttemptCompleted", 4) + " WebhookAbandoned"
			if strings.Join(types, " ") != want {
				t.Fatalf("webhook stream = %v, want %s", types, want)
			}
			if ab := facts[len(facts)-1].(*webhook.Abandoned); ab.Reason == "" || ab.Reason != reason {
				t.Errorf("WebhookAbandoned reason %q, poll last_error %q", ab.Reason, reason)
			}
			av := h.attempts(c, id)
			if len(av.Attempts) != 4 {
				t.Fatalf("attempts list has %d entries, want 4", len(av.Attempts))
			}
			for i, a := range av.Attempts {
				if a.StatusCode != 500 || a.Outcome != "failed" || (a.NextAttemptAt != nil) != (i < 3) {
					t.Errorf("attempt %d = %+v, want 500, failed, next_attempt_at only before the last", i+1, a)
				}
			}
		})
	})
}

// ---- 4. the SSRF guard ----

// TestWebhook_SSRFGuard runs without GATEWAY_WEBHOOK_ALLOW_PRIVATE: a
// receiver listening on 127.0.0.1 is never connected to, whichever way the
// URL spells it, and the attempts, the events and the poll say it was
// blocked and why. 10.0.0.1 and 169.254.169.254 are refused before any
// socket (and netSafetySender makes sure nothing could leave loopback).
func TestWebhook_SSRFGuard(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, log := newWebhookHarness(t, backend, map[string]string{"GATEWAY_WEBHOOK_ALLOW_PRIVATE": ""})
		rc := newReceiver(t, h.Clock, 200)
		port := rc.Addr[strings.LastIndex(rc.Addr, ":")+1:]
		owner := h.createWorkspace("Acme", "owner@acme.test")

		cases := []struct {
			url  string
			why  string // in the attempt's error and the poll's last_error
			gone bool   // refused for good at once (a literal address or http://)
		}{
			{"https://127.0.0.1:" + port + "/hook", "loopback", true},
			{"http://127.0.0.1:" + port + "/hook", "plain http://", true},
			{"https://[::ffff:127.0.0.1]:" + port + "/hook", "IPv4-mapped", true},
			{"http://10.0.0.1/x", "plain http://", true},
			{"https://10.0.0.1/x", "private address (10.0.0.0/8", true},
			{"https://169.254.169.254/latest", "cloud metadata", true},
			{"https://[::1]:" + port + "/hook", "IPv6 loopback", true},
			{"https://0.0.0.0:" + port + "/hook", "0.0.0.0/8", true},
			// A host name is resolved and checked on the address dialled:
			// refused at connect time, retried on the schedule (DNS may
			// change), then failed.
			{"https://localhost:" + port + "/hook", "loopback", false},
		}
		ids := make([]string, len(cases))
		cs := make([]creds, len(cases))
		for i, tc := range cases {
			var k keyView
			cs[i], k = h.hookCreds(owner, tc.url)
			ids[i] = h.send(cs[i], "List my tasks")
			// The key owner hears at once what can be known without DNS.
			refused := strings.Contains(k.Warning, "will not be sent") && strings.Contains(k.Warning, tc.why)
			if tc.gone != refused {
				t.Errorf("key with %s: warning %q; want a warning naming %q: %v", tc.url, k.Warning, tc.why, tc.gone)
			}
		}
		// Changing the URL warns the same way; a public https URL does not.
		_, k := h.hookCreds(owner, "https://hooks.example.com/in")
		if strings.Contains(k.Warning, "will not be sent") {
			t.Errorf("a public https URL got the warning %q", k.Warning)
		}
		put := decodeKey(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token),
			Body: map[string]any{"response_url": "http://10.0.0.1/x"}}))
		if !strings.Contains(put.Warning, "plain http://") || !strings.Contains(put.Warning, "GATEWAY_WEBHOOK_ALLOW_PRIVATE") {
			t.Errorf("PUT response_url=http://10.0.0.1/x: warning %q, want the reason and the setting", put.Warning)
		}
		for i, tc := range cases {
			t.Run(tc.url, func(t *testing.T) {
				h := h.on(t)
				id, c := ids[i], cs[i]
				h.await(c, id)
				wh := h.awaitWebhook(c, id)
				attempts := 4
				if tc.gone {
					attempts = 1
				}
				expectBlock(t, wh, "failed", attempts, false, 0)
				le, _ := wh["last_error"].(string)
				if tc.gone && (!strings.Contains(le, "blocked by the SSRF guard") || !strings.Contains(le, tc.why)) {
					t.Errorf("poll last_error = %q, want it to say the SSRF guard blocked it (%s)", le, tc.why)
				}
				av := h.attempts(c, id)
				if len(av.Attempts) != attempts {
					t.Fatalf("attempts = %+v, want %d", av.Attempts, attempts)
				}
				for _, a := range av.Attempts {
					if a.StatusCode != 0 || !strings.Contains(a.Error, "blocked by the SSRF guard") || !strings.Contains(a.Error, tc.why) {
						t.Errorf("attempt %d: status %d error %q, want blocked by the SSRF guard (%s)", a.Attempt, a.StatusCode, a.Error, tc.why)
					}
				}
				for _, a := range h.completedAttempts(id) {
					if !strings.Contains(a.Error, "blocked") || a.Outcome == webhook.OutcomeDelivered {
						t.Errorf("WebhookAttemptCompleted error %q outcome %s, want blocked", a.Error, a.Outcome)
					}
				}
				if !tc.gone && !strings.Contains(le, "retry schedule") {
					t.Errorf("poll last_error = %q, want the give-up reason", le)
				}
			})
		}
		if n := rc.connections(); n != 0 {
			t.Errorf("the receiver on 127.0.0.1 accepted %d connections, want 0", n)
		}
		if n := len(rc.requests()); n != 0 {
			t.Errorf("the receiver on 127.0.0.1 got %d requests, want 0", n)
		}
		sent, results := log.all()
		for i, r := range results {
			if strings.Contains(r.Error, "cancelled") {
				t.Errorf("%s: the guard let the attempt through to the network safety net: %s", sent[i].URL, r.Error)
			}
		}
	})
}

// ---- 5. redelivery ----

// TestWebhook_Redeliver: after a delivery, redeliver sends the same
// webhook-id again (202); it is refused with 409 while a delivery is under
// way, for a conversation whose key had no response_url, and for an open
// conversation; someone else's conversation is 404.
func TestWebhook_Redeliver(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		gate := newHoldGate(t)
		h, _ := newWebhookHarness(t, backend, nil, withHold(gate))
		owner := h.createWorkspace("Acme", "owner@acme.test")
		rc := newReceiver(t, h.Clock, 200)
		c, k := h.hookCreds(owner, rc.URL)
		id := h.send(c, "List my tasks")
		h.await(c, id)
		h.awaitWebhook(c, id, "delivered")

		t.Run("after delivery: 202 and the same webhook-id again", func(t *testing.T) {
			h := h.on(t)
			r := h.redeliver(c, id)
			expectStatus(t, r, http.StatusAccepted)
			body := r.JSON(t)
			if body["conversation_uuid"] != id || body["webhook_id"] != "msg_"+id || body["delivery"] != float64(2) || body["status"] != "pending" {
				t.Errorf("redeliver answered %s", r.Raw)
			}
			reqs := rc.waitRequests(2, hookBudget)
			wh := h.awaitWebhook(c, id, "delivered")
			expectBlock(t, wh, "delivered", 1, true, 200)
			if len(reqs) != 2 || rc.delivered("msg_"+id) != 2 || rc.duplicates() != 1 {
				t.Fatalf("receiver: %d requests, %d deliveries of msg_%s, %d duplicates; want 2, 2, 1", len(reqs), rc.delivered("msg_"+id), id, rc.duplicates())
			}
			verifyHook(t, reqs[1], id, k.SigningSecret)
			if string(reqs[1].Body) != string(reqs[0].Body) {
				t.Errorf("the redelivered body differs: %s vs %s", reqs[1].Body, reqs[0].Body)
			}
			av := h.attempts(c, id)
			if len(av.Attempts) != 2 || av.Attempts[0].Delivery != 1 || av.Attempts[1].Delivery != 2 || av.Attempts[1].Attempt != 1 {
				t.Errorf("attempts = %+v, want delivery 1 attempt 1, then delivery 2 attempt 1", av.Attempts)
			}
			_, facts := h.webhookFacts(id)
			var reasons []string
			for _, f := range facts {
				if s, ok := f.(*webhook.Started); ok {
					reasons = append(reasons, fmt.Sprintf("%d:%s", s.Delivery, s.Reason))
				}
			}
			if want := []string{"1:" + commands.ReasonConversationEnded, "2:" + commands.ReasonRedeliver}; strings.Join(reasons, "|") != strings.Join(want, "|") {
				t.Errorf("deliveries started: %v, want %v", reasons, want)
			}
		})

		t.Run("while a delivery is pending: 409", func(t *testing.T) {
			h := h.on(t)
			slow := newReceiver(t, h.Clock, 200)
			slow.hold(10 * time.Second)
			sc, _ := h.hookCreds(owner, slow.URL)
			sid := h.send(sc, "List my tasks")
			h.await(sc, sid)
			slow.waitRequests(1, hookBudget) // the first attempt is in flight
			if wh, _ := h.webhookBlock(sc, sid); wh["status"] != "pending" {
				t.Fatalf("webhook = %v, want pending while the receiver holds the attempt", wh)
			}
			h.unchanged(t, func() {
				expectError(t, h.redeliver(sc, sid), http.StatusConflict, "CONFLICT")
			})
			slow.release()
			h.awaitWebhook(sc, sid, "delivered")
			expectStatus(t, h.redeliver(sc, sid), http.StatusAccepted) // allowed once it ended
			h.awaitWebhook(sc, sid, "delivered")
			eventually(t, hookBudget, "the redelivery", func() bool { return slow.delivered("msg_"+sid) == 2 })
		})

		t.Run("concurrent redeliveries: one 202, the rest 409", func(t *testing.T) {
			h := h.on(t)
			held := newReceiver(t, h.Clock, 200)
			hc, _ := h.hookCreds(owner, held.URL)
			hid := h.send(hc, "List my tasks")
			h.await(hc, hid)
			h.awaitWebhook(hc, hid, "delivered")
			held.hold(10 * time.Second) // the redelivery stays in progress
			var wg sync.WaitGroup
			statuses := make([]int, 10)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = h.redeliver(hc, hid).Status
				}()
			}
			wg.Wait()
			count := map[int]int{}
			for _, s := range statuses {
				count[s]++
			}
			if count[http.StatusAccepted] != 1 || count[http.StatusConflict] != 9 {
				t.Errorf("10 concurrent redeliveries answered %v, want one 202 and nine 409", count)
			}
			held.release()
			h.awaitWebhook(hc, hid, "delivered")
			_, facts := h.webhookFacts(hid)
			started := 0
			for _, f := range facts {
				if _, ok := f.(*webhook.Started); ok {
					started++
				}
			}
			if started != 2 {
				t.Errorf("%d deliveries started, want 2 (the automatic one and one redelivery)", started)
			}
		})

		t.Run("a key without response_url: 409", func(t *testing.T) {
			h := h.on(t)
			nc, _ := h.hookCreds(owner, "")
			nid := h.send(nc, "List my tasks")
			h.await(nc, nid)
			if wh, raw := h.webhookBlock(nc, nid); wh != nil {
				t.Errorf("webhook = %v, want null: %s", wh, raw)
			}
			h.quiesce()
			h.unchanged(t, func() {
				msg := expectError(t, h.redeliver(nc, nid), http.StatusConflict, "CONFLICT")
				if !strings.Contains(msg, "response_url") {
					t.Errorf("message %q does not mention response_url", msg)
				}
			})
		})

		t.Run("an open conversation: 409", func(t *testing.T) {
			h := h.on(t)
			oid := h.send(c, "List my tasks"+holdMarker)
			h.awaitStatus(c, oid, "processing")
			h.unchanged(t, func() {
				expectError(t, h.redeliver(c, oid), http.StatusConflict, "CONFLICT")
			})
			if wh, _ := h.webhookBlock(c, oid); wh["status"] != "pending" || wh["attempts"] != float64(0) {
				t.Errorf("webhook of an open conversation = %v, want pending with 0 attempts", wh)
			}
			gate.release()
			h.await(c, oid)
			h.awaitWebhook(c, oid, "delivered")
		})

		t.Run("someone else's conversation: 404", func(t *testing.T) {
			h := h.on(t)
			bob := h.addUser(owner, "bob@acme.test", "member")
			carol := h.createWorkspace("Globex", "carol@globex.test")
			h.quiesce()
			for _, other := range []member{bob, carol} {
				oc, _ := h.hookCreds(other, rc.URL)
				h.quiesce()
				h.unchanged(t, func() {
					expectError(t, h.redeliver(oc, id), http.StatusNotFound, "NOT_FOUND")
					r := h.do(req{Method: "GET", Path: "/api/agent/" + id + "/webhook/attempts", Auth: bearerOf(oc.Token), APIKey: oc.Key})
					expectError(t, r, http.StatusNotFound, "NOT_FOUND")
				})
			}
			expectError(t, h.redeliver(c, "not-a-uuid"), http.StatusNotFound, "NOT_FOUND")
			expectError(t, h.redeliver(c, "6cafd8ba-dd51-4411-808e-671d1dd59561"), http.StatusNotFound, "NOT_FOUND")
		})
	})
}

// ---- 6. secret rotation ----

// TestWebhook_SecretRotation: rotate-secret shows the new secret once;
// deliveries then carry two webhook signatures (new first, then old, each
// verifying with its own secret) and X-Signature with the new secret; once
// the 24-hour overlap is over only the new secret signs.
func TestWebhook_SecretRotation(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, nil)
		rc := newReceiver(t, h.Clock, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, rc.URL)
		old := k.SigningSecret

		id1 := h.send(c, "List my tasks")
		h.await(c, id1)
		h.awaitWebhook(c, id1, "delivered")
		verifyHook(t, rc.forConversation(id1)[0], id1, old)

		before := h.Clock.Now()
		r := h.do(req{Method: "POST", Path: "/api/api-keys/" + k.ID + "/rotate-secret", Auth: bearerOf(owner.Token)})
		expectStatus(t, r, http.StatusOK)
		rot := r.JSON(t)
		expectKeys(t, "rotate-secret response", rot, "id", "signing_secret", "previous_secret_valid_until", "warning")
		fresh, _ := rot["signing_secret"].(string)
		h.remember(fresh)
		if rot["id"] != k.ID || !strings.HasPrefix(fresh, "whsec_") || fresh == old {
			t.Fatalf("rotate-secret answered %s", r.Raw)
		}
		until := parseTimestamp(t, "previous_secret_valid_until", rot["previous_secret_valid_until"].(string))
		if d := until.Sub(before); d < 24*time.Hour-2*time.Second || d > 24*time.Hour+2*time.Second {
			t.Errorf("previous_secret_valid_until is %s after the rotation, want 24h", d)
		}
		// Shown once: the key's own views never show a secret again.
		for _, path := range []string{"/api/api-keys/" + k.ID, "/api/api-keys"} {
			g := h.do(req{Method: "GET", Path: path, Auth: bearerOf(owner.Token)})
			expectStatus(t, g, http.StatusOK)
			if s := string(g.Raw); strings.Contains(s, fresh) || strings.Contains(s, old) || strings.Contains(s, `"signing_secret"`) {
				t.Errorf("GET %s shows a signing secret: %s", path, g.Raw)
			}
		}

		id2 := h.send(c, "List my tasks")
		h.await(c, id2)
		h.awaitWebhook(c, id2, "delivered")
		q := rc.forConversation(id2)
		if len(q) != 1 {
			t.Fatalf("receiver got %d requests for the second conversation", len(q))
		}
		verifyHook(t, q[0], id2, fresh, old) // new first, then old; X-Signature with the new
		if hexHMAC(old, q[0].Body) == q[0].Header.Get("X-Signature") {
			t.Errorf("X-Signature still uses the old secret")
		}

		// Past the overlap only the new secret signs.
		h.Clock.Advance(24*time.Hour + time.Minute)
		id3 := h.send(c, "List my tasks")
		h.await(c, id3)
		h.awaitWebhook(c, id3, "delivered")
		q = rc.forConversation(id3)
		if len(q) != 1 {
			t.Fatalf("receiver got %d requests for the third conversation", len(q))
		}
		verifyHook(t, q[0], id3, fresh)
	})
}

// ---- 7. the response_url at acceptance ----

// TestWebhook_URLAtAcceptance: a conversation is delivered to the
// response_url its key had when the message was accepted, whatever the key
// says when the conversation ends.
func TestWebhook_URLAtAcceptance(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		gate := newHoldGate(t)
		h, _ := newWebhookHarness(t, backend, nil, withHold(gate))
		a := newReceiver(t, h.Clock, 200)
		b := newReceiver(t, h.Clock, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, a.URL)
		put := func(body string) {
			t.Helper()
			r := h.do(req{Method: "PUT", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token), Body: body})
			expectStatus(t, r, http.StatusOK)
		}

		idA := h.send(c, "List my tasks"+holdMarker) // accepted with URL A, still processing
		h.awaitStatus(c, idA, "processing")
		put(fmt.Sprintf(`{"response_url":%q}`, b.URL))
		idB := h.send(c, "List my tasks") // accepted with URL B
		h.await(c, idB)
		put(`{"response_url":null}`)
		idNone := h.send(c, "List my tasks") // accepted without a URL
		h.await(c, idNone)
		h.awaitWebhook(c, idB, "delivered")
		gate.release()
		h.await(c, idA)
		h.awaitWebhook(c, idA, "delivered")
		if wh, raw := h.webhookBlock(c, idNone); wh != nil {
			t.Errorf("conversation accepted without response_url shows a webhook: %s", raw)
		}
		h.quiesce()
		time.Sleep(300 * time.Millisecond)

		if n, m := len(a.forConversation(idA)), len(a.requests()); n != 1 || m != 1 {
			t.Errorf("receiver A got %d requests (%d for the conversation accepted with A), want exactly that one", m, n)
		}
		if n, m := len(b.forConversation(idB)), len(b.requests()); n != 1 || m != 1 {
			t.Errorf("receiver B got %d requests (%d for the conversation accepted with B), want exactly that one", m, n)
		}
		if av := h.attempts(c, idA); len(av.Attempts) != 1 || av.Attempts[0].URL != a.URL {
			t.Errorf("attempts of the first conversation = %+v, want one to %s", av.Attempts, a.URL)
		}
		if recs := h.webhookRecords(idNone); len(recs) != 0 {
			t.Errorf("a conversation accepted without response_url has a webhook stream: %d events", len(recs))
		}
		// Redelivery also goes to the URL of acceptance, not the key's (none now).
		expectStatus(t, h.redeliver(c, idA), http.StatusAccepted)
		eventually(t, hookBudget, "the redelivery to A", func() bool { return a.delivered("msg_"+idA) == 2 })
	})
}

// ---- 8. a slow receiver does not hold back others ----

// TestWebhook_SlowReceiverDoesNotBlockOthers: ten conversations go to a
// receiver that holds every request, ten to a fast one; all ten fast
// deliveries complete while every slow request is still held (the stricter
// form of "the slow one sleeps"), then the slow ones complete too.
func TestWebhook_SlowReceiverDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		// The slow receiver holds every request until the fast ones are in
		// (at most 45s, under the attempt timeout set here).
		h, _ := newWebhookHarness(t, backend, map[string]string{"GATEWAY_WEBHOOK_TIMEOUT": "60s", "GATEWAY_WEBHOOK_WORKERS_PER_HOST": "10"})
		slow := newReceiver(t, h.Clock, 200)
		slow.hold(45 * time.Second)
		fast := newReceiver(t, h.Clock, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		sc, _ := h.hookCreds(owner, slow.URL)
		fc, _ := h.hookCreds(owner, fast.URL)
		began := time.Now()
		var slowIDs, fastIDs []string
		for range 10 {
			slowIDs = append(slowIDs, h.send(sc, "List my tasks"))
			fastIDs = append(fastIDs, h.send(fc, "List my tasks"))
		}
		eventually(t, 40*time.Second, "all ten fast deliveries", func() bool { return fast.unique() == 10 })
		fastDone := time.Since(began)
		if n := len(slow.answered()); n != 0 {
			t.Fatalf("%d slow requests were answered before the fast ones finished: the hold did not hold", n)
		}
		eventually(t, 40*time.Second, "all ten slow requests in flight at once", func() bool {
			now, _ := slow.inFlight()
			return now == 10
		})
		slow.release()
		eventually(t, hookBudget, "all ten slow deliveries", func() bool { return slow.unique() == 10 })
		for _, id := range fastIDs {
			if fast.delivered("msg_"+id) != 1 {
				t.Errorf("fast conversation %s delivered %d times", id, fast.delivered("msg_"+id))
			}
			h.awaitWebhook(fc, id, "delivered")
		}
		for _, id := range slowIDs {
			if slow.delivered("msg_"+id) != 1 {
				t.Errorf("slow conversation %s delivered %d times", id, slow.delivered("msg_"+id))
			}
			expectBlock(t, h.awaitWebhook(sc, id, "delivered"), "delivered", 1, true, 200)
		}
		if fast.duplicates() != 0 || slow.duplicates() != 0 {
			t.Errorf("duplicates: fast %d, slow %d", fast.duplicates(), slow.duplicates())
		}
		_, most := slow.inFlight()
		t.Logf("fast deliveries done in %s; slow receiver held up to %d requests at once", fastDone.Round(time.Millisecond), most)
	})
}

// ---- 9. more restarts and instances ----

// TestWebhook_RestartDuringAttempt: the gateway stops while an attempt is
// in flight (the receiver holds it). Nothing records that attempt's end,
// so after the restart it is left alone while its claim is fresh (another
// instance may still be on it); once the claim is stale it is closed as
// interrupted and the next attempt delivers.
func TestWebhook_RestartDuringAttempt(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, map[string]string{"GATEWAY_WEBHOOK_TIMEOUT": "2s"})
		stale := h.App.Cmds.Webhooks.Stale
		rc := newReceiver(t, h.Clock, 200)
		rc.hold(10 * time.Second)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, rc.URL)
		id := h.send(c, "List my tasks")
		h.await(c, id)
		rc.waitRequests(1, hookBudget)
		h.stop() // cancels the attempt in flight
		eventually(t, 5*time.Second, "the gateway to hang up on the held request", func() bool { return len(rc.answered()) == 1 })
		rc.release()
		if q := rc.requests()[0]; q.Status != -1 || rc.unique() != 0 {
			t.Fatalf("the held request was answered (%d) although the gateway stopped", q.Status)
		}

		h.start()
		types, _ := h.webhookFacts(id)
		if got := strings.Join(types, " "); got != "WebhookDeliveryStarted WebhookAttemptStarted" {
			t.Fatalf("after the stop the webhook stream is %s, want the claim of attempt 1 and nothing more", got)
		}
		time.Sleep(600 * time.Millisecond) // three ticks: the fresh claim is left alone
		if n := len(rc.requests()); n != 1 {
			t.Errorf("the gateway sent again %d time(s) while the interrupted claim was fresh", n-1)
		}
		h.Clock.Advance(stale)
		wh := h.awaitWebhook(c, id)
		expectBlock(t, wh, "delivered", 2, true, 200)
		av := h.attempts(c, id)
		if len(av.Attempts) != 2 || av.Attempts[0].StatusCode != 0 || !strings.Contains(av.Attempts[0].Error, "interrupted") ||
			av.Attempts[1].StatusCode != 200 {
			t.Errorf("attempts = %+v, want the interrupted attempt 1, then 200", av.Attempts)
		}
		reqs := rc.requests()
		if len(reqs) != 2 || rc.delivered("msg_"+id) != 1 {
			t.Fatalf("receiver got %d requests, %d delivered; want 2 and 1", len(reqs), rc.delivered("msg_"+id))
		}
		verifyHook(t, reqs[1], id, k.SigningSecret)
	})
}

// TestWebhook_TwoInstances: two gateways share one Postgres database (the
// queue, the timer's read model, the webhook streams). Every conversation's
// first attempt fails and its second succeeds: each is delivered exactly
// once, with exactly two requests, whichever instance sends what.
func TestWebhook_TwoInstances(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		h, log1 := newWebhookHarness(t, "postgres", nil)
		log2 := &attemptLog{}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		app2, err := Build(ctx, h.cfg, testLogger(), h.Clock)
		if err != nil {
			t.Fatalf("Build a second instance: %v", err)
		}
		app2.Cmds.Webhook = netSafetySender{inner: app2.Cmds.Webhook, log: log2}
		if err := app2.Start(ctx); err != nil {
			app2.Close()
			t.Fatalf("Start a second instance: %v", err)
		}
		t.Cleanup(app2.Close) // runs before the harness stops the first

		rc := newReceiver(t, h.Clock)
		rc.setScriptPerID(500, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, _ := h.hookCreds(owner, rc.URL)
		var ids []string
		for range 10 {
			ids = append(ids, h.send(c, "List my tasks"))
		}
		for _, id := range ids {
			h.await(c, id)
			expectBlock(t, h.awaitWebhook(c, id), "delivered", 2, true, 200)
		}
		h.quiesce()
		time.Sleep(500 * time.Millisecond)
		for _, id := range ids {
			if n, d := len(rc.forConversation(id)), rc.delivered("msg_"+id); n != 2 || d != 1 {
				t.Errorf("conversation %s: %d requests, %d deliveries; want 2 and 1", id, n, d)
			}
		}
		if rc.duplicates() != 0 {
			t.Errorf("%d duplicate deliveries", rc.duplicates())
		}
		s1, _ := log1.all()
		s2, _ := log2.all()
		t.Logf("attempts sent: instance 1 %d, instance 2 %d", len(s1), len(s2))
	})
}

// ---- 10. what receivers answer ----

// TestWebhook_ReceiverAnswers: a Retry-After lengthens a wait up to the
// longest step of the schedule (never the hour asked for); a redirect is a
// failed attempt and is not followed; a response body of NUL bytes and
// invalid UTF-8 is stored as a clean prefix of at most 1 KiB (Postgres
// jsonb takes it); a receiver slower than GATEWAY_WEBHOOK_TIMEOUT is a
// timed-out attempt, and the retry delivers.
func TestWebhook_ReceiverAnswers(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, map[string]string{"GATEWAY_WEBHOOK_TIMEOUT": "1s"})
		owner := h.createWorkspace("Acme", "owner@acme.test")
		// deliver sends a message to rc and waits until it is delivered.
		deliver := func(h *harness, rc *receiver) (string, creds) {
			c, _ := h.hookCreds(owner, rc.URL)
			id := h.send(c, "List my tasks")
			h.await(c, id)
			expectBlock(h.t, h.awaitWebhook(c, id), "delivered", 2, true, 200)
			return id, c
		}

		t.Run("Retry-After up to the longest step", func(t *testing.T) {
			h := h.on(t)
			rc := newReceiver(t, h.Clock)
			rc.answerWith(func(n int) (int, http.Header, []byte) {
				if n == 1 {
					return 503, http.Header{"Retry-After": {"3600"}}, []byte("busy")
				}
				return 200, nil, []byte("ok")
			})
			id, _ := deliver(h, rc)
			done := h.completedAttempts(id)
			if d := done[0].NextAttemptAt.Sub(done[0].CompletedAt); d < 780*time.Millisecond || d > 800*time.Millisecond {
				t.Errorf("after Retry-After: 3600 the next attempt was set %s later, want the longest step (800ms)", d)
			}
			reqs := rc.requests()
			if gap := reqs[1].At.Sub(reqs[0].Done); gap < 750*time.Millisecond || gap > 5*time.Second {
				t.Errorf("the retry came %s after the 503, want about 800ms", gap)
			}
		})

		t.Run("redirects are not followed", func(t *testing.T) {
			h := h.on(t)
			target := newReceiver(t, h.Clock, 200)
			rc := newReceiver(t, h.Clock)
			rc.answerWith(func(n int) (int, http.Header, []byte) {
				if n == 1 {
					return 302, http.Header{"Location": {target.URL}}, []byte("moved")
				}
				return 200, nil, []byte("ok")
			})
			id, c := deliver(h, rc)
			a := h.attempts(c, id).Attempts[0]
			if a.StatusCode != 302 || a.Outcome != "failed" || !strings.Contains(a.Error, "redirects are not followed") || !strings.Contains(a.Error, target.URL) {
				t.Errorf("attempt 1 = %+v, want a failed 302 naming the Location", a)
			}
			if n := target.connections(); n != 0 {
				t.Errorf("the redirect target got %d connections", n)
			}
		})

		t.Run("a hostile response body", func(t *testing.T) {
			h := h.on(t)
			rc := newReceiver(t, h.Clock)
			hostile := []byte(strings.Repeat("\x00\xffa\xe2\x82", 1000))
			rc.answerWith(func(n int) (int, http.Header, []byte) {
				if n == 1 {
					return 500, http.Header{"Content-Type": {"application/octet-stream"}}, hostile
				}
				return 200, nil, []byte("ok")
			})
			id, c := deliver(h, rc)
			p := h.attempts(c, id).Attempts[0].ResponsePrefix
			if len(p) == 0 || len(p) > 1024 || strings.Contains(p, "\x00") || !utf8.ValidString(p) || !strings.HasPrefix(p, "\uFFFD") {
				t.Errorf("response_body_prefix = %q (%d bytes), want a clean prefix of at most 1 KiB", p, len(p))
			}
		})

		t.Run("slower than the timeout", func(t *testing.T) {
			h := h.on(t)
			rc := newReceiver(t, h.Clock, 200)
			rc.sleepWith(func(n int) time.Duration {
				if n == 1 {
					return 5 * time.Second
				}
				return 0
			})
			id, c := deliver(h, rc)
			a := h.attempts(c, id).Attempts[0]
			if a.StatusCode != 0 || !strings.Contains(a.Error, "timed out") || a.DurationMS == nil || *a.DurationMS < 900 || *a.DurationMS > 5000 {
				t.Errorf("attempt 1 = %+v, want a timeout after about 1s", a)
			}
			if q := rc.requests()[0]; q.Status != -1 {
				t.Errorf("the slow request was answered (%d) after the gateway gave up on it", q.Status)
			}
		})
	})
}

// ---- 11. a delivery whose start was lost ----

// TestWebhook_StartLostInShutdown: the gateway stops while it is handling
// StartWebhookDelivery for a conversation that just ended (the append of
// WebhookDeliveryStarted is held until the stop cancels it). The saga had
// already passed ConversationResolved and the command had been
// acknowledged, so after the restart only a durable timer can notice the
// reply was never delivered; the README promises "Nothing is lost".
func TestWebhook_StartLostInShutdown(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		var stall atomic.Bool
		stalled := make(chan struct{}, 1)
		h, _ := newWebhookHarness(t, backend, nil, withBeforeStart(func(a *App) {
			a.Cmds.Store = stallingStore{EventStore: a.Cmds.Store, stallType: "WebhookDeliveryStarted", stall: &stall, stalled: stalled}
		}))
		rc := newReceiver(t, h.Clock, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, _ := h.hookCreds(owner, rc.URL)

		stall.Store(true)
		id := h.send(c, "List my tasks")
		h.await(c, id)
		select {
		case <-stalled:
		case <-time.After(hookBudget):
			t.Fatalf("StartWebhookDelivery never ran")
		}
		h.stop() // the command in flight is cancelled
		stall.Store(false)
		h.start()
		if recs := h.webhookRecords(id); len(recs) != 0 {
			t.Fatalf("the held start was recorded anyway: %d events", len(recs))
		}

		// Ten minutes on the gateway clock (any grace a timer may give the
		// saga), and two seconds of real time: ten timer ticks and the
		// reaper's sweep at start.
		h.Clock.Advance(10 * time.Minute)
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && rc.delivered("msg_"+id) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		// The receiver answers before the gateway records the outcome: give
		// the read model a moment to show it.
		var raw []byte
		for end := time.Now().Add(5 * time.Second); ; {
			var wh map[string]any
			wh, raw = h.webhookBlock(c, id)
			if rc.delivered("msg_"+id) == 1 && wh["status"] == "delivered" {
				return
			}
			if time.Now().After(end) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("the reply was never delivered after the restart: receiver got %d requests; poll: %s", len(rc.requests()), raw)
	})
}

// TestWebhook_SlowReceiverSaturatingWorkers: like
// TestWebhook_SlowReceiverDoesNotBlockOthers, but the slow receiver has
// more conversations waiting than there are webhook workers
// (GATEWAY_WEBHOOK_WORKERS=4, 8 held conversations): one customer's hung
// endpoint must still not hold back another customer's delivery.
func TestWebhook_SlowReceiverSaturatingWorkers(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, map[string]string{"GATEWAY_WEBHOOK_WORKERS": "4", "GATEWAY_WEBHOOK_WORKERS_PER_HOST": "2", "GATEWAY_WEBHOOK_TIMEOUT": "5s"})
		slow := newReceiver(t, h.Clock, 200)
		slow.hold(4 * time.Second)
		fast := newReceiver(t, h.Clock, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		other := h.createWorkspace("Globex", "owner@globex.test")
		sc, _ := h.hookCreds(owner, slow.URL)
		fc, _ := h.hookCreds(other, fast.URL)
		for range 8 {
			h.send(sc, "List my tasks")
		}
		// Two at a time per receiver host: the other two workers stay free.
		eventually(t, hookBudget, "the slow receiver to hold 2 requests", func() bool { now, _ := slow.inFlight(); return now == 2 })
		id := h.send(fc, "List my tasks")
		h.await(fc, id)
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && fast.delivered("msg_"+id) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if fast.delivered("msg_"+id) == 1 {
			return
		}
		slow.release()
		t.Errorf("the fast receiver's delivery waited behind the slow receiver's backlog for more than 2s")
	})
}

// TestWebhook_SecondRotationKeepsPromise: rotate-secret answers
// "previous_secret_valid_until" and "Deliveries are signed with both
// secrets until previous_secret_valid_until". A second rotation within
// that window (say a client retrying a rotation whose answer it lost) must
// not cut the first secret off before the time it was promised.
func TestWebhook_SecondRotationKeepsPromise(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, nil)
		rc := newReceiver(t, h.Clock, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, k := h.hookCreds(owner, rc.URL)
		rotate := func() (string, time.Time) {
			t.Helper()
			r := h.do(req{Method: "POST", Path: "/api/api-keys/" + k.ID + "/rotate-secret", Auth: bearerOf(owner.Token)})
			expectStatus(t, r, http.StatusOK)
			m := r.JSON(t)
			s, _ := m["signing_secret"].(string)
			h.remember(s)
			return s, parseTimestamp(t, "previous_secret_valid_until", m["previous_secret_valid_until"].(string))
		}
		s1 := k.SigningSecret
		s2, until1 := rotate() // s1 promised until until1
		h.Clock.Advance(time.Hour)
		s3, _ := rotate()
		if !h.Clock.Now().Before(until1) {
			t.Fatalf("test setup: the first promise already ran out")
		}
		id := h.send(c, "List my tasks")
		h.await(c, id)
		h.awaitWebhook(c, id, "delivered")
		q := rc.forConversation(id)[0]
		if got, want := q.Header.Get("X-Signature"), hexHMAC(s3, q.Body); got != want {
			t.Errorf("X-Signature does not use the newest secret")
		}
		verifies := func(secret string) bool {
			wh, err := standardwebhooks.NewWebhook(secret)
			// The clock moved an hour: past the library's 5-minute window.
			return err == nil && wh.VerifyIgnoringTimestamp(q.Body, q.Header) == nil
		}
		if ts := q.Header.Get("webhook-timestamp"); ts != fmt.Sprint(q.ClockAt.Unix()) && ts != fmt.Sprint(q.ClockAt.Unix()-1) {
			t.Errorf("webhook-timestamp %s is not the gateway clock's %d", ts, q.ClockAt.Unix())
		}
		if !verifies(s3) || !verifies(s2) {
			t.Errorf("webhook-signature %q does not verify with the two newest secrets", q.Header.Get("webhook-signature"))
		}
		if !verifies(s1) {
			t.Errorf("an hour after the first rotation (promised until %s) the first secret no longer signs: %q",
				until1.Format(time.RFC3339), q.Header.Get("webhook-signature"))
		}
	})
}

// ---- 12. configuration ----

// TestWebhook_Config: the webhook settings' defaults and the errors for
// bad values name the variable.
func TestWebhook_Config(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (Config, error) {
		return LoadConfig(func(k string) string { return env[k] })
	}
	cfg, err := load(map[string]string{})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if fmt.Sprint(cfg.WebhookSchedule) != "[5s 5m0s 30m0s 2h0m0s 5h0m0s 10h0m0s 10h0m0s]" || cfg.WebhookTimeout != 15*time.Second ||
		cfg.WebhookAllowPrivate || cfg.WebhookWorkers != 64 {
		t.Errorf("defaults: schedule %v timeout %s allow_private %v workers %d", cfg.WebhookSchedule, cfg.WebhookTimeout, cfg.WebhookAllowPrivate, cfg.WebhookWorkers)
	}
	cfg, err = load(map[string]string{"GATEWAY_WEBHOOK_RETRY_SCHEDULE": " 200ms, 400ms ,800ms", "GATEWAY_WEBHOOK_ALLOW_PRIVATE": "1", "GATEWAY_WEBHOOK_TIMEOUT": "2s"})
	if err != nil || fmt.Sprint(cfg.WebhookSchedule) != "[200ms 400ms 800ms]" || !cfg.WebhookAllowPrivate || cfg.WebhookTimeout != 2*time.Second {
		t.Errorf("custom settings: %v %v %v %v", cfg.WebhookSchedule, cfg.WebhookAllowPrivate, cfg.WebhookTimeout, err)
	}
	for _, bad := range []map[string]string{
		{"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "5s,,5m"},
		{"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "5s,soon"},
		{"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "-5s"},
		{"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "5s,1000h"},
		{"GATEWAY_WEBHOOK_ALLOW_PRIVATE": "yes"},
		{"GATEWAY_WEBHOOK_TIMEOUT": "0s"},
		{"GATEWAY_WEBHOOK_TIMEOUT": "fast"},
		{"GATEWAY_WEBHOOK_WORKERS": "0"},
	} {
		var name string
		for k := range bad {
			name = k
		}
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want an error naming %s", bad, err, name)
		}
	}
}
