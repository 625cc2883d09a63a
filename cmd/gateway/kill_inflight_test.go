package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// TestTwoInstancesKillWithWorkInFlight: two gateway processes on one
// Postgres (commands on NATS, then on the Postgres queue alone) run 30
// conversations whose first model step takes 3s; one process is SIGKILLed
// while the steps are in flight. The other notices it is gone (its
// heartbeat stops), takes its claims and its lost commands over, and
// every conversation resolves within 20s of the kill, once, with one
// contact each: long before GATEWAY_STALL_AFTER (60s here) and the
// claims' lease (10s model timeout + 5s retry budget + 30s).
func TestTwoInstancesKillWithWorkInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the two-process kill test")
	}
	for _, transport := range []string{"nats", "postgres"} {
		t.Run(transport, func(t *testing.T) { killWithWorkInFlight(t, transport == "nats") })
	}
}

func killWithWorkInFlight(t *testing.T, withNATS bool) {
	const natsURL = "nats://127.0.0.1:4222"
	dbURL := pgtest.NewDatabase(t)
	miExclusive(t)
	if withNATS {
		if os.Getenv("CI") != "true" && !miReachable("127.0.0.1:4222") {
			t.Skip("NATS unreachable at 127.0.0.1:4222")
		}
		miDeleteStreams(t, natsURL)
		t.Cleanup(func() { miDeleteStreams(t, natsURL) })
	}
	llm := newLLMServer(t)
	const n = 30
	messages := make([]string, n)
	for i := range messages {
		messages[i] = fmt.Sprintf("Kill test %d: add Person Number%d as a contact", i, i)
		llm.script(messages[i], &llmScript{
			Steps: []llmStep{
				fixedReply(llmReply{Calls: []llmToolCall{{ID: fmt.Sprintf("call_%d", i), Name: "create_contact",
					Args: map[string]any{"name": fmt.Sprintf("Person Number%d", i)}}}, In: 100, Out: 10}),
				fixedReply(llmReply{Content: fmt.Sprintf("Added Person Number%d.", i), In: 120, Out: 5}),
			},
			SlowSteps: map[int]time.Duration{1: 3 * time.Second},
		})
	}
	bin := miBuildGateway(t)
	rc := newReceiver(t, &testClock{}) // real time: the children run on the system clock
	rng, seed := killSeed(t)
	env := map[string]string{
		"GATEWAY_WEBHOOK_ALLOW_PRIVATE": "true", "GATEWAY_WEBHOOK_RETRY_SCHEDULE": "200ms,500ms,1s,2s,5s", "GATEWAY_WEBHOOK_TIMEOUT": "2s",
		"DATABASE_URL": dbURL, "GATEWAY_SECRET_KEY": testSecretKey, "GATEWAY_ADMIN_TOKEN": testAdminToken,
		"GATEWAY_POLL_INTERVAL": "20ms", "GATEWAY_WRITE_WAIT": "15s", "GATEWAY_LOG_LEVEL": "info",
		"GATEWAY_MODEL_TIMEOUT": "10s", "GATEWAY_MODEL_RETRY_BUDGET": "5s",
		"GATEWAY_STALL_AFTER": "60s", "GATEWAY_GIVE_UP_AFTER": "10m",
	}
	for k, v := range llm.env() {
		env[k] = v
	}
	if withNATS {
		env["NATS_URL"] = natsURL
	}
	g2 := miStart(t, bin, "gw2", env)
	g2.waitReady(t, 90*time.Second)
	g1 := miStart(t, bin, "gw1", env)
	g1.waitReady(t, 90*time.Second)

	h := &harness{t: t, gateway: &gateway{backend: "postgres", URL: g1.url}}
	owner := h.createWorkspace("Acme", "owner@acme.test")
	key := h.createKey(owner, map[string]any{"label": "kill", "response_url": rc.URL})
	c := creds{Token: owner.Token, Key: key.Key}
	ids := make([]string, 0, n)
	for i, msg := range messages {
		target := g1
		if i%2 == 1 {
			target = g2
		}
		id, err := miPost(target.url, c, msg)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	// The first steps are in flight (each takes 3s): kill one process.
	deadline := time.Now().Add(10 * time.Second)
	for len(llm.callsFor(messages[0]))+len(llm.callsFor(messages[1])) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	wait := time.Duration(300+rng.IntN(2200)) * time.Millisecond
	t.Logf("seed %d: SIGKILL %s after the first model calls arrived (GATEWAY_TEST_SEED=%d repeats it)", seed, wait, seed)
	time.Sleep(wait)
	g2.kill(t)
	killedAt := time.Now()

	var lastResolved time.Time
	pending := ids
	for len(pending) > 0 {
		if time.Since(killedAt) > 60*time.Second || g1.exited() {
			t.Fatalf("%d of %d conversations not resolved %s after the kill", len(pending), n, time.Since(killedAt).Round(time.Second))
		}
		states := miPollAll(g1.url, c, pending, 8)
		var still []string
		for _, id := range pending {
			st := states[id]
			switch {
			case st.err == nil && st.Status == "resolved":
				lastResolved = time.Now()
			case st.err == nil && st.Status == "failed":
				t.Fatalf("conversation %s failed: %s", id, st.raw)
			default:
				still = append(still, id)
			}
		}
		pending = still
		time.Sleep(200 * time.Millisecond)
	}
	took := lastResolved.Sub(killedAt)
	t.Logf("%d conversations with a 3s model step each; SIGKILL with steps in flight; the last resolved %s after the kill",
		n, took.Round(100*time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("the last conversation resolved %s after the kill, want within 20s", took.Round(time.Millisecond))
	}

	// No webhook lost: each conversation's reached the receiver (which
	// counts the duplicates at-least-once delivery may bring).
	for _, id := range ids {
		for rc.delivered("msg_"+id) == 0 {
			if time.Since(killedAt) > 90*time.Second {
				t.Fatalf("the webhook of %s never reached the receiver", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("webhooks: all %d delivered, %d duplicate deliveries", n, rc.duplicates())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, miWithParam(dbURL, "pool_max_conns", "2"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	miQuiesce(t, ctx, pool)
	count := func(typ string) int {
		var k int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_type = $1`, typ).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	if got := count("ContactCreated"); got != n {
		t.Errorf("%d contacts created, want %d (one per conversation)", got, n)
	}
	if got := count("ConversationResolved"); got != n {
		t.Errorf("%d conversations resolved, want %d, each once", got, n)
	}
	// The hash chains of the whole log verify.
	cmd := exec.Command(bin, "audit", "verify", "--all")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "DATABASE_URL=" + dbURL, "GATEWAY_SECRET_KEY=" + testSecretKey}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("audit verify --all: %v\n%s", err, strings.TrimSpace(string(out)))
	}
}

// miReachable reports whether a TCP address answers.
func miReachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// killSeed picks the random moments of a kill test: GATEWAY_TEST_SEED
// repeats a run, otherwise the time seeds it (and the test prints it).
func killSeed(t *testing.T) (*rand.Rand, int64) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("GATEWAY_TEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("GATEWAY_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	return rand.New(rand.NewPCG(uint64(seed), 0)), seed
}
