package main

import (
	"testing"
	"time"
)

// TestCrash_DeadInstanceIsTakenOverAtOnce: the process dies while a model
// step is in flight and a new one starts on the same store, with no time
// passing on the clock. The step's claim names the dead instance, so the
// new one takes the step over at once (embedded: at start; Postgres: at the
// reaper's next look, a few seconds on) instead of waiting out the claim
// and GATEWAY_STALL_AFTER (40s here). The conversation ends once, with one
// contact.
func TestCrash_DeadInstanceIsTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const msg = "Add Katherine Johnson of NASA as a contact"
		llm.script(msg, &llmScript{
			Steps: []llmStep{
				fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_kj", Name: "create_contact",
					Args: map[string]any{"name": "Katherine Johnson", "company": "NASA"}}}, In: 200, Out: 20}),
				fixedReply(llmReply{Content: "Added Katherine Johnson.", In: 260, Out: 8}),
			},
			HangSteps: map[int]bool{2: true},
		})
		h := newLLMHarness(t, backend, llm, withEnv(crashEnv))
		c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
		id := h.send(c, msg)
		if hung := llm.awaitHung(t); hung.Step != 2 {
			t.Fatalf("step %d hung, want 2", hung.Step)
		}

		h.stop()
		llm.setHang(msg, 2, false)
		restarted := time.Now()
		h.start()
		p := h.awaitWithin(c, id, 30*time.Second)
		took := time.Since(restarted)
		t.Logf("%s: resolved %s after the restart (GATEWAY_STALL_AFTER is 40s)", backend, took.Round(100*time.Millisecond))
		if p.Status != "resolved" || p.reply() != "Added Katherine Johnson." {
			t.Fatalf("after the restart: %s %s", p.Status, p.Raw)
		}
		if took > 20*time.Second {
			t.Errorf("resolved %s after the restart, want well under GATEWAY_STALL_AFTER", took)
		}
		if n := len(h.logEventsOfType("ContactCreated")); n != 1 {
			t.Errorf("%d contacts, want 1", n)
		}
		starts := recsOfType(h.convStream(id), "ModelStepStarted")
		owners := map[string]bool{}
		for _, r := range starts {
			owners[jstr(evData(t, r), "owner")] = true
		}
		if len(owners) != 2 || owners[""] {
			t.Errorf("the claims name owners %v, want two instances", owners)
		}
	})
}
