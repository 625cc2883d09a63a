package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
)

// costOfOne runs one conversation on a key of its own and returns what it
// was charged: the price of the message the tests below send many times.
func costOfOne(h *harness, owner member, message string) int64 {
	h.t.Helper()
	c := h.principal(owner)
	id, p := h.ask(c, message)
	if p.Status != "resolved" {
		h.t.Fatalf("the probe conversation ended %s: %s", p.Status, p.Raw)
	}
	facts := awaitSettled(h)
	var total int64
	for _, ch := range facts.charges {
		if ch.ConversationID == id {
			total += int64(ch.Amount)
		}
	}
	if total == 0 {
		h.t.Fatalf("the probe conversation was charged nothing")
	}
	return total
}

// Fifty conversations start at once on a key whose budget pays for all of
// them, on two instances sharing one database: every one resolves
// (reservations that do not fit yet wait for running work to give budget
// back, instead of failing), the recorded spend never passes the budget,
// and while work waits no more than a tenth of the budget lies idle.
func TestBudgetAdmissionWaits(t *testing.T) {
	h := newHarness(t, "postgres")
	owner := h.createWorkspace("Queue Co", "owner@queue.test")
	const message = "List my tasks"
	one := costOfOne(h, owner, message)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	appB, err := Build(ctx, h.cfg, testLogger(), h.Clock)
	if err != nil {
		t.Fatalf("Build the second instance: %v", err)
	}
	if err := appB.Start(ctx); err != nil {
		appB.Close()
		t.Fatalf("Start the second instance: %v", err)
	}
	srvB := httptest.NewServer(appB.Handler)
	hb := &harness{t: t, gateway: &gateway{backend: "postgres", env: h.env, cfg: h.cfg, Clock: h.Clock, App: appB, srv: srvB, URL: srvB.URL}}
	t.Cleanup(hb.stop)

	const n = 50
	// A budget that pays for the fifty and a little more: far less than
	// fifty first steps' reservations on top of fifty conversations' spend.
	budgetCents := (n*one+int64(dbilling.MicroPerCent)-1)/int64(dbilling.MicroPerCent) + 1
	k := h.createKey(owner, map[string]any{"budget_usd_cents": budgetCents, "budget_period": "daily"})
	c := creds{Token: owner.Token, Key: k.Key}
	billingEventually(t, "the second instance to see the key", func() bool {
		return hb.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token)}).Status == http.StatusOK
	})
	waits0 := h.App.Cmds.Stats.BudgetWaits.Load() + appB.Cmds.Stats.BudgetWaits.Load()

	ids := make([]string, n)
	vias := make([]*harness, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		via := h
		if i%2 == 1 {
			via = hb
		}
		vias[i] = via
		wg.Go(func() {
			<-start
			status, raw, err := rawPost(via.URL+"/api/agent", c, `{"message":"`+message+`"}`)
			if err != nil || status != http.StatusAccepted {
				t.Errorf("message %d: %d %s %v", i, status, raw, err)
				return
			}
			var b struct {
				ConversationUUID string `json:"conversation_uuid"`
			}
			_ = json.Unmarshal(raw, &b)
			ids[i] = b.ConversationUUID
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, id := range ids {
		p := vias[i].awaitLong(c, id)
		if p.Status != "resolved" {
			t.Errorf("conversation %d ended %s: %s", i, p.Status, p.Error)
		}
	}
	facts := awaitSettled(h)
	limit := int64(dbilling.FromCents(budgetCents))
	var spent int64
	for _, ch := range facts.charges {
		if ch.APIKeyID == k.ID {
			spent += int64(ch.Amount)
		}
	}
	waits := h.App.Cmds.Stats.BudgetWaits.Load() + appB.Cmds.Stats.BudgetWaits.Load() - waits0
	idle := max(h.App.Cmds.Stats.IdleBudgetPerMille.Load(), appB.Cmds.Stats.IdleBudgetPerMille.Load())
	t.Logf("%d conversations at %d µ$ each on a %d µ$ budget: spent %d µ$; %d reservations waited, at most %d‰ of the budget idle while one did",
		n, one, limit, spent, waits, idle)
	if spent > limit {
		t.Fatalf("recorded spend %d µ$ exceeds the budget of %d µ$", spent, limit)
	}
	if spent < int64(n)*one {
		t.Errorf("spent %d µ$ for %d conversations of %d µ$ each", spent, n, one)
	}
	if waits == 0 {
		t.Fatalf("no reservation waited: the budget was not tight enough to test admission")
	}
	if idle > 100 {
		t.Errorf("%d‰ of the budget lay idle while work waited; reservations are sized too far from what steps cost", idle)
	}
	if u := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token)})).Usage; u["failed_for_budget"] != float64(0) {
		t.Errorf("usage.failed_for_budget = %v, want 0", u["failed_for_budget"])
	}
}

// A key whose budget cannot pay for a first model step is refused at once
// with the contract's 429, and nothing is recorded; a key whose budget runs
// out as it is used answers 202 only while what is left pays for a first
// step, and 429 from then on.
func TestBudgetRefusedAtAccept(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		// An expensive model: one first step costs more than a cent.
		prices := filepath.Join(t.TempDir(), "prices.json")
		if err := os.WriteFile(prices, []byte(`{"models": {"offline": {"input_microusd_per_mtok": 10000000, "output_microusd_per_mtok": 10000000}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, backend, withEnv(map[string]string{"GATEWAY_PRICES": prices}))
		owner := h.createWorkspace("Small Co", "owner@small.test")
		tiny := h.createKey(owner, map[string]any{"budget_usd_cents": 1, "budget_period": "total"})
		c := creds{Token: owner.Token, Key: tiny.Key}
		before := h.head()
		for range 3 {
			msg := expectError(t, h.post(c, map[string]any{"message": "Create a task: call Ann about the order"}), http.StatusTooManyRequests, "BUDGET_EXCEEDED")
			if !strings.Contains(msg, "$0.01") || !strings.Contains(msg, "never resets") {
				t.Errorf("429 message %q does not say the budget and that it never resets", msg)
			}
		}
		if evs := h.eventsSince(before); len(evs) != 0 {
			t.Fatalf("refused messages recorded %d events: %v", len(evs), evs[0].Type)
		}

		// The default prices on a 2¢ total budget: a few conversations,
		// then 429 for good; never a 202 that then fails for the budget
		// at its first step.
		h2 := newHarness(t, backend)
		owner2 := h2.createWorkspace("Few Co", "owner@few.test")
		k := h2.createKey(owner2, map[string]any{"budget_usd_cents": 2, "budget_period": "total"})
		c2 := creds{Token: owner2.Token, Key: k.Key}
		accepted, refused := 0, 0
		for i := range 12 {
			r := h2.post(c2, map[string]any{"message": fmt.Sprintf("Create a task: follow up on invoice %d", 7000+i)})
			switch r.Status {
			case http.StatusAccepted:
				if refused > 0 {
					t.Fatalf("message %d accepted after an earlier 429: nothing gave budget back", i)
				}
				accepted++
				var b struct {
					ConversationUUID string `json:"conversation_uuid"`
				}
				_ = json.Unmarshal(r.Raw, &b)
				p := h2.await(c2, b.ConversationUUID)
				// The next message is sent once this one's costs are all
				// charged. (A poll can show "resolved" a moment before the
				// last step's charge lands; a message accepted in that
				// moment is let in on the lower spend and then stopped at
				// its first step, which is honest but not what this test
				// is about. See the closing note of issue 14.)
				awaitSettled(h2)
				if p.Status == "failed" && strings.Contains(string(p.Error), conversation.CodeBudget) {
					// Stopped later in the loop is allowed (the last step
					// may not fit); stopped before any step is not.
					facts := readBillingFacts(h2)
					charged := false
					for _, ch := range facts.charges {
						charged = charged || ch.ConversationID == b.ConversationUUID
					}
					if !charged {
						t.Errorf("conversation %d was accepted and then stopped for the budget before its first step: %s", i, p.Raw)
					}
				}
			case http.StatusTooManyRequests:
				expectError(t, r, http.StatusTooManyRequests, "BUDGET_EXCEEDED")
				refused++
			default:
				t.Fatalf("message %d: %d %s", i, r.Status, r.Raw)
			}
		}
		if accepted == 0 || refused == 0 {
			t.Fatalf("%d accepted, %d refused: want some of each on a 2¢ budget", accepted, refused)
		}
		facts := awaitSettled(h2)
		if got := facts.spent(); got > int64(dbilling.FromCents(2)) {
			t.Fatalf("spent %d µ$ of a 2¢ budget", got)
		}
	})
}

// A 202 promises the conversation exists: polled at once it is there,
// also while the read models cannot see it yet. Here a transaction held
// open elsewhere on the database holds back the log's visibility (as any
// long transaction on a busy server does), so the read models do not move
// while the message is accepted and polled.
func TestPollRightAfterAcceptWhileReadModelsLag(t *testing.T) {
	h := newHarness(t, "postgres")
	owner := h.createWorkspace("Eager Co", "owner@eager.test")
	c := h.principal(owner)
	// Someone else, set up before the lag (setting up waits for the read
	// models).
	other := h.principal(h.createWorkspace("Other Co", "owner@other.test"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, h.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		id := h.send(c, fmt.Sprintf("Create a task: check the lag %d", i))
		r := h.get(c, id)
		expectStatus(t, r, http.StatusOK)
		var p poll
		if err := json.Unmarshal(r.Raw, &p); err != nil || p.ConversationUUID != id || p.Status == "" || len(p.Turns) == 0 {
			t.Fatalf("poll right after accept: %s", r.Raw)
		}
		if _, found, _ := h.App.Conversations.Get(ctx, id); found {
			t.Fatalf("the read model already holds conversation %s: the lag was not there to test", id)
		}
		// Someone else's conversation is still not found.
		expectError(t, h.get(other, id), http.StatusNotFound, "NOT_FOUND")
	}
	_ = tx.Rollback(ctx)
}
