package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCancel_StopsASlowConversationBeforeItsTool: the model is still
// thinking about a step that will ask for a tool when the caller cancels.
// The conversation ends failed with CANCELLED at once; the step's answer,
// when it comes, is recorded as discarded, its tool never runs, what was
// set aside is given back; cancelling again is 409 and records nothing.
func TestCancel_StopsASlowConversationBeforeItsTool(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const msg = "Add Priya Raman from Orbital Freight to my contacts"
		llm.script(msg, &llmScript{Steps: []llmStep{
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_1", Name: "create_contact",
				Args: map[string]any{"name": "Priya Raman", "company": "Orbital Freight"}}}, In: 200, Out: 20}),
			fixedReply(llmReply{Content: "Added Priya Raman.", In: 300, Out: 10}),
		}, SlowSteps: map[int]time.Duration{1: 2 * time.Second}})
		h := newLLMHarness(t, backend, llm)
		c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
		id := h.send(c, msg)
		billingEventually(t, "the model step to be claimed", func() bool {
			return len(recsOfType(h.convStream(id), "ModelStepStarted")) == 1
		})

		r := h.do(req{Method: "POST", Path: "/api/agent/" + id + "/cancel", Auth: bearerOf(c.Token), APIKey: c.Key})
		expectStatus(t, r, http.StatusOK)
		body := r.JSON(t)
		if body["status"] != "failed" || jstr(body, "error", "code") != "CANCELLED" || jstr(body, "error", "message") == "" {
			t.Fatalf("cancel answered %s, want the poll body of a conversation failed with CANCELLED", r.Raw)
		}

		billingEventually(t, "the slow step's answer to be discarded", func() bool {
			return len(recsOfType(h.convStream(id), "ModelStepDiscarded")) == 1
		})
		recs := h.convStream(id)
		if n := len(recsOfType(recs, "ToolCallRequested")) + len(recsOfType(recs, "ModelStepCompleted")); n != 0 {
			t.Errorf("%d steps or tool calls were recorded after the cancel", n)
		}
		if d := recsOfType(recs, "ModelStepDiscarded"); jnum(evData(t, d[0]), "usage", "input_tokens") != 200 {
			t.Errorf("ModelStepDiscarded = %s, want the step's usage", d[0].Data)
		}
		if n := len(h.logEventsOfType("ContactCreated")); n != 0 {
			t.Errorf("the tool ran after the cancel: %d contacts created", n)
		}
		reserved := map[string]bool{}
		for _, ev := range h.logEventsOfType("BudgetReserved") {
			if d := evData(t, ev); jstr(d, "conversation_id") == id {
				reserved[jstr(d, "reservation_id")] = true
			}
		}
		if len(reserved) == 0 {
			t.Fatal("the slow step set nothing aside")
		}
		billingEventually(t, "what the conversation set aside to be given back", func() bool {
			released := 0
			for _, ev := range h.logEventsOfType("BudgetReleased") {
				if reserved[jstr(evData(t, ev), "reservation_id")] {
					released++
				}
			}
			return released == len(reserved)
		})
		if n := len(h.logEventsOfType("ChargeRecorded")); n != 0 {
			t.Errorf("%d charges recorded for a cancelled conversation whose step was discarded", n)
		}
		if p := h.await(c, id); p.Status != "failed" || !strings.Contains(string(p.Error), "CANCELLED") {
			t.Errorf("poll after the cancel = %s", p.Raw)
		}

		h.unchanged(t, func() {
			r := h.do(req{Method: "POST", Path: "/api/agent/" + id + "/cancel", Auth: bearerOf(c.Token), APIKey: c.Key})
			expectStatus(t, r, http.StatusConflict)
		})
		other := h.principal(h.createWorkspace("Other", "owner@other.test"))
		r = h.do(req{Method: "POST", Path: "/api/agent/" + id + "/cancel", Auth: bearerOf(other.Token), APIKey: other.Key})
		expectStatus(t, r, http.StatusNotFound)
	})
}
