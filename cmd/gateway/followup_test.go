package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFollowUp_UpdatesTheContactOfThePreviousTurn: a follow-up that says
// "that contact" updates the contact the first turn created; the poll
// shows every turn, the expiry moves on, usage adds up, and the webhook
// fires once per ended turn with the turn in its payload and an id of its
// own.
func TestFollowUp_UpdatesTheContactOfThePreviousTurn(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h, _ := newWebhookHarness(t, backend, nil)
		rcv := newReceiver(t, h.Clock, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, _ := h.hookCreds(owner, rcv.URL)

		sync := map[string]string{"Prefer": "wait=20"}
		r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: sync,
			Body: map[string]any{"message": "Create a contact for Ines Moreau at Solvay Labs, ines@solvaylabs.eu"}})
		expectStatus(t, r, http.StatusOK)
		var first poll
		if err := json.Unmarshal(r.Raw, &first); err != nil || first.Status != "resolved" {
			t.Fatalf("first turn = %s", r.Raw)
		}
		id := first.ConversationUUID
		created := h.logEventsOfType("ContactCreated")
		if len(created) != 1 {
			t.Fatalf("%d contacts created by the first turn", len(created))
		}
		contactID := jstr(evData(t, created[0]), "contact_id")

		h.Clock.Advance(time.Hour)
		r = h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: sync,
			Body: map[string]any{"conversation_uuid": id, "message": "Add the phone number +33 6 12 34 56 78 to that contact"}})
		expectStatus(t, r, http.StatusOK)
		var second poll
		if err := json.Unmarshal(r.Raw, &second); err != nil {
			t.Fatal(err)
		}
		if second.ConversationUUID != id || second.Status != "resolved" || len(second.Turns) != 4 {
			t.Fatalf("follow-up answered %s, want the same conversation resolved again with four turns", r.Raw)
		}
		if second.Turns[2].Role != "user" || !strings.Contains(second.Turns[2].Payload["message"].(string), "+33 6 12 34 56 78") {
			t.Errorf("third turn = %+v, want the follow-up", second.Turns[2])
		}
		if !strings.Contains(second.reply(), "+33 6 12 34 56 78") {
			t.Errorf("reply %q does not confirm the new phone", second.reply())
		}
		updated := h.logEventsOfType("ContactUpdated")
		if len(updated) != 1 || updated[0].Stream != "contact-"+contactID {
			t.Fatalf("the follow-up updated %d contacts, want the one created first (%s)", len(updated), contactID)
		}
		if !strings.Contains(string(updated[0].Data), "+33 6 12 34 56 78") {
			t.Errorf("ContactUpdated = %s, want the new phone", updated[0].Data)
		}
		if n := len(h.logEventsOfType("ContactCreated")); n != 1 {
			t.Errorf("%d contacts exist after the follow-up, want 1", n)
		}
		if second.ExpiresAt <= first.ExpiresAt {
			t.Errorf("expires_at %s did not move on from %s", second.ExpiresAt, first.ExpiresAt)
		}
		if jnum(second.Usage, "model_steps") <= jnum(first.Usage, "model_steps") ||
			jnum(second.Usage, "input_tokens") <= jnum(first.Usage, "input_tokens") {
			t.Errorf("usage did not add up over the turns: %v then %v", first.Usage, second.Usage)
		}

		billingEventually(t, "a webhook for each turn", func() bool { return len(rcv.forConversation(id)) >= 2 })
		time.Sleep(300 * time.Millisecond)
		hooks := rcv.forConversation(id)
		if len(hooks) != 2 {
			t.Fatalf("%d webhook requests, want one per ended turn", len(hooks))
		}
		ids := map[string]bool{}
		for i, q := range hooks {
			var body map[string]any
			if err := json.Unmarshal(q.Body, &body); err != nil {
				t.Fatal(err)
			}
			if int(body["turn"].(float64)) != i+1 || body["status"] != "resolved" {
				t.Errorf("webhook %d = %s, want turn %d resolved", i+1, q.Body, i+1)
			}
			ids[q.Header.Get("Webhook-Id")] = true
		}
		if len(ids) != 2 {
			t.Errorf("the turns' webhooks share an id (%v): a receiver deduplicating by it drops one", ids)
		}
	})
}

// TestFollowUp_Refusals: a follow-up to a conversation still working is
// 409 CONVERSATION_BUSY; to one that does not exist, is someone else's or
// has expired, 404; a conversation_uuid that is not a UUID, or stream and
// wait together, 422. None of them records anything.
func TestFollowUp_Refusals(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const slow = "Draft a note to the board about the quarter"
		llm.script(slow, &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "Drafted.", In: 10, Out: 5})},
			SlowSteps: map[int]time.Duration{1: 2 * time.Second}})
		h := newLLMHarness(t, backend, llm)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		other := h.principal(h.addUser(owner, "sam@acme.test", "member"))
		id := h.send(c, slow)

		follow := func(who creds, conv any) response {
			return h.post(who, map[string]any{"conversation_uuid": conv, "message": "And add a closing line"})
		}
		h.unchanged(t, func() {
			r := follow(c, id)
			expectStatus(t, r, http.StatusConflict)
			if code := jstr(r.JSON(t), "error", "code"); code != "CONVERSATION_BUSY" {
				t.Errorf("busy follow-up code = %q: %s", code, r.Raw)
			}
		})
		if p := h.await(c, id); p.Status != "resolved" {
			t.Fatalf("conversation ended %s", p.Status)
		}
		h.unchanged(t, func() {
			expectStatus(t, follow(other, id), http.StatusNotFound)
			expectStatus(t, follow(c, "0b6f3c1e-9d2a-4c55-8e71-3f0a2b9c4d10"), http.StatusNotFound)
			expectStatus(t, follow(c, "conv_123"), http.StatusUnprocessableEntity)
			expectStatus(t, follow(c, 42), http.StatusUnprocessableEntity)
			r := h.post(c, map[string]any{"message": "List my tasks", "stream": true, "wait": true})
			expectStatus(t, r, http.StatusUnprocessableEntity)
			if !strings.Contains(jstr(r.JSON(t), "error", "message"), "not both") {
				t.Errorf("stream and wait together: %s", r.Raw)
			}
		})
		h.Clock.Advance(25 * time.Hour)
		h.unchanged(t, func() {
			r := follow(c, id)
			expectStatus(t, r, http.StatusNotFound)
			if !strings.Contains(jstr(r.JSON(t), "error", "message"), "expired") {
				t.Errorf("expired follow-up: %s", r.Raw)
			}
		})
	})
}

// TestFollowUp_CancelAndGoOnAcrossInstances: every request goes to an
// instance that runs no agent work; the other runs the conversation. A
// cancel stops the slow first step before its tool runs; a follow-up then
// goes on, sees that the turn before was cancelled, and is answered in the
// same request (Prefer: wait) with the whole conversation.
func TestFollowUp_CancelAndGoOnAcrossInstances(t *testing.T) {
	t.Parallel()
	llm := newLLMServer(t)
	const msg = "Add Okonkwo Eze from Lagos Freight to my contacts"
	var sawCancel atomic.Bool
	llm.script(msg, &llmScript{Steps: []llmStep{
		fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_1", Name: "create_contact",
			Args: map[string]any{"name": "Okonkwo Eze", "company": "Lagos Freight"}}}, In: 200, Out: 20}),
		func(req llmRequest) llmReply {
			for _, m := range req.Messages {
				if m.Role == "assistant" && strings.Contains(m.text(), "cancelled") {
					sawCancel.Store(true)
				}
			}
			return llmReply{Calls: []llmToolCall{{ID: "call_2", Name: "create_contact",
				Args: map[string]any{"name": "Okonkwo Eze", "company": "Lagos Freight", "city": "Lagos"}}}, In: 300, Out: 20}
		},
		fixedReply(llmReply{Content: "Added Okonkwo Eze (Lagos Freight, Lagos).", In: 400, Out: 12}),
	}, SlowSteps: map[int]time.Duration{1: 2 * time.Second}})
	h := newLLMHarness(t, "postgres", llm)
	c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
	hb := apiOnlyInstance(t, h, c)

	id := hb.send(c, msg)
	billingEventually(t, "the other instance to claim the slow step", func() bool {
		return len(recsOfType(h.convStream(id), "ModelStepStarted")) == 1
	})
	r := hb.do(req{Method: "POST", Path: "/api/agent/" + id + "/cancel", Auth: bearerOf(c.Token), APIKey: c.Key})
	expectStatus(t, r, http.StatusOK)
	billingEventually(t, "the slow step's answer to be discarded", func() bool {
		return len(recsOfType(h.convStream(id), "ModelStepDiscarded")) == 1
	})
	if n := len(h.logEventsOfType("ContactCreated")); n != 0 {
		t.Fatalf("the tool ran after the cancel: %d contacts", n)
	}

	r = hb.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
		Header: map[string]string{"Prefer": "wait=20"},
		Body:   map[string]any{"conversation_uuid": id, "message": "Please go ahead after all, and note they are in Lagos"}})
	expectStatus(t, r, http.StatusOK)
	var p poll
	if err := json.Unmarshal(r.Raw, &p); err != nil || p.Status != "resolved" || len(p.Turns) != 3 {
		t.Fatalf("follow-up after the cancel = %s, want resolved with the first message, the follow-up and the reply", r.Raw)
	}
	if p.reply() != "Added Okonkwo Eze (Lagos Freight, Lagos)." || !sawCancel.Load() {
		t.Errorf("reply %q; the model was told of the cancel: %v", p.reply(), sawCancel.Load())
	}
	if n := len(h.logEventsOfType("ContactCreated")); n != 1 {
		t.Errorf("%d contacts created, want the follow-up's one", n)
	}
	steps := map[int]bool{}
	for _, rec := range recsOfType(h.convStream(id), "ModelStepCompleted") {
		steps[int(jnum(evData(t, rec), "step"))] = true
	}
	if len(steps) != 2 || steps[1] {
		t.Errorf("recorded steps %v: the follow-up must not reuse the cancelled step's number", steps)
	}
}

// TestFollowUp_EarlierTurnsWebhookKeepsRetrying: a follow-up sent while
// the previous turn's webhook is between retries does not stop them: the
// previous turn is delivered while the new one runs, and the new one is
// delivered when it ends, each once, in turn order.
func TestFollowUp_EarlierTurnsWebhookKeepsRetrying(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const msg = "Note that the Halden renewal is signed"
		llm.script(msg, &llmScript{Steps: []llmStep{
			fixedReply(llmReply{Content: "Noted: the Halden renewal is signed.", In: 20, Out: 8}),
			fixedReply(llmReply{Content: "Yes, Dana was told.", In: 30, Out: 6}),
		}, SlowSteps: map[int]time.Duration{2: 2 * time.Second}})
		h, _ := newWebhookHarness(t, backend, nil, llmOptions(llm)...)
		h.remember(llmAPIKey)
		rcv := newReceiver(t, h.Clock, 500, 200)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c, _ := h.hookCreds(owner, rcv.URL)
		id := h.send(c, msg)
		billingEventually(t, "the first turn's first attempt to fail", func() bool { return len(rcv.forConversation(id)) == 1 })
		r := h.post(c, map[string]any{"conversation_uuid": id, "message": "Was Dana told?"})
		expectStatus(t, r, http.StatusAccepted)
		billingEventually(t, "the first turn to be delivered while the second runs", func() bool { return len(rcv.forConversation(id)) == 2 })
		if p := h.get(c, id); !strings.Contains(string(p.Raw), `"status":"processing"`) && !strings.Contains(string(p.Raw), `"status":"open"`) {
			t.Errorf("the first turn was delivered only after the second ended: %s", p.Raw)
		}
		h.await(c, id)
		billingEventually(t, "the second turn's delivery", func() bool { return len(rcv.forConversation(id)) == 3 })
		time.Sleep(300 * time.Millisecond)
		hooks := rcv.forConversation(id)
		want := []struct {
			status, turn int
		}{{500, 1}, {200, 1}, {200, 2}}
		if len(hooks) != len(want) {
			t.Fatalf("%d webhook requests, want %d", len(hooks), len(want))
		}
		for i, q := range hooks {
			var body map[string]any
			_ = json.Unmarshal(q.Body, &body)
			if q.Status != want[i].status || int(body["turn"].(float64)) != want[i].turn {
				t.Errorf("request %d: answered %d for turn %v, want %d for turn %d", i+1, q.Status, body["turn"], want[i].status, want[i].turn)
			}
		}
	})
}
