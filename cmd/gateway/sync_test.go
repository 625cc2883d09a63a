package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestSync_PreferWaitAnswersWithThePollBody: a caller that says it can wait
// gets the finished conversation in the same request, exactly as a poll
// would show it, usage included; "wait": true in the body does the same.
func TestSync_PreferWaitAnswersWithThePollBody(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))

		r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
			Header: map[string]string{"Prefer": "wait=20"},
			Body:   map[string]any{"message": "Add a contact for Noor Haddad at Tessellate, noor@tessellate.io"}})
		expectStatus(t, r, http.StatusOK)
		if got := r.Header.Get("Preference-Applied"); got != "wait=20" {
			t.Errorf("Preference-Applied = %q, want wait=20", got)
		}
		var synced poll
		if err := json.Unmarshal(r.Raw, &synced); err != nil {
			t.Fatal(err)
		}
		if synced.Status != "resolved" || synced.reply() == "" || jnum(synced.Usage, "model_steps") == 0 {
			t.Fatalf("sync reply = %s, want a resolved conversation with its reply and usage", r.Raw)
		}
		polled := h.get(c, synced.ConversationUUID)
		expectStatus(t, polled, http.StatusOK)
		if !jsonEqual(t, string(r.Raw), polled.JSON(t)) {
			t.Errorf("the sync reply differs from the poll:\n%s\n%s", r.Raw, polled.Raw)
		}

		r = h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
			Body: map[string]any{"message": "What tasks do I have?", "wait": true}})
		expectStatus(t, r, http.StatusOK)
		if r.Header.Get("Preference-Applied") != "" {
			t.Errorf("Preference-Applied = %q without a Prefer header", r.Header.Get("Preference-Applied"))
		}
		var b poll
		if err := json.Unmarshal(r.Raw, &b); err != nil || b.Status != "resolved" {
			t.Fatalf("\"wait\": true answered %s", r.Raw)
		}
	})
}

// TestSync_TooSlowFallsBackTo202: a conversation that does not end within
// the wait is answered 202 as always once the wait is over, and goes on to
// end; a wait the server cannot read is ignored, and a wait that is not a
// boolean is refused before anything is recorded.
func TestSync_TooSlowFallsBackTo202(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const slow = "Summarise the quarter for the board, slowly"
		llm.script(slow, &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "The quarter went well.", In: 10, Out: 5})},
			SlowSteps: map[int]time.Duration{1: 3 * time.Second}})
		h := newLLMHarness(t, backend, llm)
		c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))

		began := time.Now()
		r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
			Header: map[string]string{"Prefer": "respond-async, wait=1"}, Body: map[string]any{"message": slow}})
		took := time.Since(began)
		expectStatus(t, r, http.StatusAccepted)
		if got := r.Header.Get("Preference-Applied"); got != "wait=1" {
			t.Errorf("Preference-Applied = %q, want wait=1", got)
		}
		if took < time.Second || took > 2500*time.Millisecond {
			t.Errorf("a wait of 1s answered after %s", took)
		}
		id, _ := r.JSON(t)["conversation_uuid"].(string)
		if p := h.await(c, id); p.Status != "resolved" || p.reply() != "The quarter went well." {
			t.Errorf("the conversation ended %s with %q", p.Status, p.reply())
		}

		// The model answers this one too, after the test has its 202.
		llm.script(slow+" again", &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "Still well.", In: 10, Out: 3})},
			SlowSteps: map[int]time.Duration{1: 3 * time.Second}})
		began = time.Now()
		r = h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
			Header: map[string]string{"Prefer": "wait=soon"}, Body: map[string]any{"message": slow + " again"}})
		expectStatus(t, r, http.StatusAccepted)
		if time.Since(began) > time.Second || r.Header.Get("Preference-Applied") != "" {
			t.Errorf("an unreadable Prefer: wait was not ignored (took %s, Preference-Applied %q)", time.Since(began),
				r.Header.Get("Preference-Applied"))
		}

		h.unchanged(t, func() {
			r := h.post(c, map[string]any{"message": "List my tasks", "wait": "yes"})
			expectStatus(t, r, http.StatusUnprocessableEntity)
		})
	})
}

// TestSync_AcrossInstances: the instance holding the request does no agent
// work (GATEWAY_BACKGROUND=false); the other instance, on the same
// database, runs the conversation. The waiting reply learns of the ending
// from the shared log and answers 200 with the poll body.
func TestSync_AcrossInstances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "postgres")
	c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
	hb := apiOnlyInstance(t, h, c)
	began := time.Now()
	r := hb.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
		Header: map[string]string{"Prefer": "wait=20"},
		Body:   map[string]any{"message": "Create a task to renew the Vantage lease by March 3"}})
	t.Logf("the sync reply took %s", time.Since(began))
	expectStatus(t, r, http.StatusOK)
	var p poll
	if err := json.Unmarshal(r.Raw, &p); err != nil || p.Status != "resolved" || p.reply() == "" {
		t.Fatalf("sync reply from the API-only instance = %s", r.Raw)
	}
}

// apiOnlyInstance starts a second gateway on h's database that serves the
// API and runs no agent work (GATEWAY_BACKGROUND=false), and waits until
// it sees c's key.
func apiOnlyInstance(t *testing.T, h *harness, c creds) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfgB := h.cfg
	cfgB.Background = false
	appB, err := Build(ctx, cfgB, testLogger(), h.Clock)
	if err != nil {
		t.Fatalf("Build the API-only instance: %v", err)
	}
	if err := appB.Start(ctx); err != nil {
		appB.Close()
		t.Fatalf("Start the API-only instance: %v", err)
	}
	srvB := httptest.NewServer(appB.Handler)
	hb := &harness{t: t, gateway: &gateway{backend: h.backend, env: h.env, cfg: cfgB, Clock: h.Clock, App: appB, srv: srvB, URL: srvB.URL}}
	t.Cleanup(hb.stop)
	billingEventually(t, "the second instance to see the key", func() bool {
		return hb.do(req{Method: "GET", Path: "/api/api-keys", Auth: bearerOf(c.Token)}).Status == http.StatusOK
	})
	if n := len(hb.App.Roles.Held()); n != 0 {
		t.Errorf("the API-only instance holds roles %v", hb.App.Roles.Held())
	}
	return hb
}
