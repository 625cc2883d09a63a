package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmbeddedKilledFourTimes: one embedded gateway process runs 60
// conversations whose first model step takes a second, and is SIGKILLed
// four times while steps are in flight, then started again on the same
// data directory. Every conversation resolves, once, with one contact
// created by one tool result; the hash chains verify; and none waits for
// GATEWAY_STALL_AFTER (60s here): a restarted process is a new instance,
// so what its previous life claimed is taken over at once.
func TestEmbeddedKilledFourTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the process kill test")
	}
	llm := newLLMServer(t)
	const n = 60
	messages := make([]string, n)
	for i := range messages {
		messages[i] = fmt.Sprintf("Embedded kill %d: add Person Embedded%d as a contact", i, i)
		llm.script(messages[i], &llmScript{
			Steps: []llmStep{
				fixedReply(llmReply{Calls: []llmToolCall{{ID: fmt.Sprintf("call_%d", i), Name: "create_contact",
					Args: map[string]any{"name": fmt.Sprintf("Person Embedded%d", i)}}}, In: 100, Out: 10}),
				fixedReply(llmReply{Content: fmt.Sprintf("Added Person Embedded%d.", i), In: 120, Out: 5}),
			},
			SlowSteps: map[int]time.Duration{1: time.Second},
		})
	}
	bin := miBuildGateway(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{
		"GATEWAY_DATA_DIR": dataDir, "GATEWAY_SECRET_KEY": testSecretKey, "GATEWAY_ADMIN_TOKEN": testAdminToken,
		"GATEWAY_MODEL_TIMEOUT": "10s", "GATEWAY_MODEL_RETRY_BUDGET": "5s",
		"GATEWAY_STALL_AFTER": "60s", "GATEWAY_GIVE_UP_AFTER": "10m", "GATEWAY_LOG_LEVEL": "info",
	}
	for k, v := range llm.env() {
		env[k] = v
	}
	g := miStart(t, bin, "embedded", env)
	g.waitReady(t, 60*time.Second)
	h := &harness{t: t, gateway: &gateway{backend: "embedded", URL: g.url}}
	owner := h.createWorkspace("Acme", "owner@acme.test")
	key := h.createKey(owner, map[string]any{"label": "kill"})
	c := creds{Token: owner.Token, Key: key.Key}

	var ids []string
	send := func(from, to int) {
		for i := from; i < to; i++ {
			id, err := miPost(g.url, c, messages[i])
			if err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			ids = append(ids, id)
		}
	}
	rng, seed := killSeed(t)
	var lastKill time.Time
	for round := range 4 {
		send(round*n/4, (round+1)*n/4)
		wait := time.Duration(200+rng.IntN(900)) * time.Millisecond // steps in flight (each takes 1s)
		t.Logf("seed %d, kill %d: SIGKILL %s after sending", seed, round+1, wait)
		time.Sleep(wait)
		g.kill(t)
		lastKill = time.Now()
		g = miStart(t, bin, fmt.Sprintf("embedded-%d", round+1), env)
		g.waitReady(t, 60*time.Second)
	}
	lastRestart := lastKill

	var lastResolved time.Time
	pending := ids
	for len(pending) > 0 {
		if time.Since(lastRestart) > 50*time.Second {
			t.Fatalf("%d of %d conversations not resolved %s after the last kill", len(pending), n, time.Since(lastRestart).Round(time.Second))
		}
		states := miPollAll(g.url, c, pending, 8)
		var still []string
		for _, id := range pending {
			switch st := states[id]; {
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
	abandoned := 0
	for _, msg := range messages {
		for _, call := range llm.callsFor(msg) {
			if call.Gone {
				abandoned++
			}
		}
	}
	t.Logf("4 kills during %d conversations, %d model calls cut off by them: the last conversation resolved %s after the last kill (GATEWAY_STALL_AFTER is 60s)",
		n, abandoned, lastResolved.Sub(lastRestart).Round(100*time.Millisecond))
	if abandoned == 0 {
		t.Errorf("no kill caught a model step in flight: the test proves nothing")
	}
	if took := lastResolved.Sub(lastRestart); took > 20*time.Second {
		t.Errorf("the last conversation resolved %s after the last kill, want within 20s", took)
	}

	// Each conversation: one tool result for its call, one contact, one
	// resolution, in its own event history.
	for _, id := range ids {
		status, raw, err := miDo(http.MethodGet, g.url+"/api/agent/"+id+"/events?limit=500", nil, c)
		if err != nil || status != http.StatusOK {
			t.Fatalf("events of %s: %d %v %s", id, status, err, raw)
		}
		var page struct {
			Events []struct {
				Type string `json:"type"`
			} `json:"events"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, e := range page.Events {
			count[e.Type]++
		}
		if count["ToolCallCompleted"] != 1 || count["ConversationResolved"] != 1 {
			t.Errorf("conversation %s: %d tool results, %d resolutions; want one of each", id, count["ToolCallCompleted"], count["ConversationResolved"])
		}
	}

	// The hash chains of the whole log verify (the process must be down:
	// the embedded store is one file, held by one process).
	g.stop()
	cmd := exec.Command(bin, "audit", "verify", "--all")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("audit verify --all: %v\n%s", err, strings.TrimSpace(string(out)))
	}
}
