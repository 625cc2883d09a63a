package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestModelLoop_Hardening drives the agent loop against the scripted
// OpenAI-compatible model through what real models do that is not a plain
// answer: an answer cut off at the output limit, one withheld by a content
// filter, a server that counts no tokens, a tool call with arguments the
// tool does not take, and the same failing call again and again.
func TestModelLoop_Hardening(t *testing.T) {
	t.Parallel()
	llm := newLLMServer(t)
	h := newLLMHarness(t, "postgres", llm)
	c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
	failed := func(msg, code string) poll {
		t.Helper()
		p := h.await(c, h.send(c, msg))
		if p.Status != "failed" || !strings.Contains(string(p.Error), code) {
			t.Errorf("%q ended %s %s, want failed with %s", msg, p.Status, p.Error, code)
		}
		return p
	}

	t.Run("an answer cut off at the output limit is no reply", func(t *testing.T) {
		const msg = "Write the full history of the Vantage account"
		llm.script(msg, &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "The Vantage account began in", Finish: "length", In: 10, Out: 1024})}})
		if p := failed(msg, "OUTPUT_LIMIT"); len(p.Turns) != 1 {
			t.Errorf("a cut-off answer was shown as the reply: %s", p.Raw)
		}
	})
	t.Run("an answer withheld by a content filter has its own code", func(t *testing.T) {
		const msg = "Describe the incident at the Halden site"
		llm.script(msg, &llmScript{Steps: []llmStep{fixedReply(llmReply{Finish: "content_filter", In: 10, Out: 0})}})
		failed(msg, "CONTENT_FILTERED")
	})
	t.Run("a server that counts no tokens is charged an estimate", func(t *testing.T) {
		const msg = "Say hello to the Orbital team"
		llm.script(msg, &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "Hello, Orbital team!"})}, NoStreamUsage: true})
		p := h.await(c, h.send(c, msg))
		if p.Status != "resolved" || jnum(p.Usage, "input_tokens") <= 0 || jnum(p.Usage, "output_tokens") <= 0 || jnum(p.Usage, "cost_microusd") <= 0 {
			t.Errorf("usage without a count from the server: %v", p.Usage)
		}
	})
	t.Run("arguments the tool does not take are refused, named, and not charged", func(t *testing.T) {
		const msg = "Add Rosa Diaz, nickname Ro"
		var toolResult string
		llm.script(msg, &llmScript{Steps: []llmStep{
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_1", Name: "create_contact", Args: map[string]any{"name": "Rosa Diaz", "nickname": "Ro"}}}, In: 10, Out: 5}),
			func(req llmRequest) llmReply {
				for _, m := range req.Messages {
					if m.Role == "tool" {
						toolResult = m.text()
					}
				}
				return llmReply{Content: "I could not add her: the tool does not take a nickname.", In: 20, Out: 10}
			},
		}})
		id := h.send(c, msg)
		h.await(c, id)
		if !strings.Contains(toolResult, "nickname") || !strings.Contains(toolResult, "INVALID_ARGUMENTS") {
			t.Errorf("the model read %q, want the unknown field named", toolResult)
		}
		if n := len(h.logEventsOfType("ContactCreated")); n != 0 {
			t.Errorf("%d contacts created with arguments the tool does not take", n)
		}
		for _, ev := range h.logEventsOfType("ChargeRecorded") {
			if d := evData(t, ev); jstr(d, "conversation_id") == id && jstr(d, "cause_kind") == "tool_call" {
				t.Errorf("a tool call that never ran was charged: %s", ev.Data)
			}
		}
	})
	t.Run("the same failing call three times ends the turn early", func(t *testing.T) {
		const msg = "Open the contact 404"
		llm.script(msg, &llmScript{Always: fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_x", Name: "get_contact",
			Args: map[string]any{"id": "00000000-0000-0000-0000-000000000404"}}}, In: 10, Out: 5})})
		p := failed(msg, "REPEATED_TOOL_FAILURE")
		if steps := jnum(p.Usage, "model_steps"); steps != 3 {
			t.Errorf("%v model steps before stopping, want 3", steps)
		}
	})
}

// TestOfflineSummaryTellsWhatMentionsTheContact: "Give me a full summary
// of this contact" with the contact in context.entity_id, as the contract
// shows it, reads summarize_contact: the reply names the contact's tasks
// too, not only its fields.
func TestOfflineSummaryTellsWhatMentionsTheContact(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "embedded")
	c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
	sync := map[string]string{"Prefer": "wait=20"}
	h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: sync,
		Body: map[string]any{"message": "Create a contact for Dana Whitfield at Lumen Labs, dana@lumenlabs.example"}})
	h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: sync,
		Body: map[string]any{"message": "Create a task: call Dana Whitfield about the renewal"}})
	created := h.logEventsOfType("ContactCreated")
	if len(created) != 1 {
		t.Fatalf("%d contacts", len(created))
	}
	r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: sync,
		Body: map[string]any{"message": "Give me a full summary of this contact",
			"context": map[string]any{"entity_type": "contact", "entity_id": jstr(evData(t, created[0]), "contact_id")}}})
	var p poll
	if err := json.Unmarshal(r.Raw, &p); err != nil || p.Status != "resolved" {
		t.Fatalf("summary: %s", r.Raw)
	}
	for _, want := range []string{"Dana Whitfield", "Lumen Labs", "Call Dana Whitfield about the renewal (open)"} {
		if !strings.Contains(p.reply(), want) {
			t.Errorf("the summary %q does not tell %q", p.reply(), want)
		}
	}
}

// TestTheSameContactTwiceIsOne: the same create sent twice (a script that
// resends) makes one contact, and the second reply says it exists; other
// details make a second one.
func TestTheSameContactTwiceIsOne(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
		send := func(msg string) string {
			r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
				Header: map[string]string{"Prefer": "wait=20"}, Body: map[string]any{"message": msg}})
			var p poll
			_ = json.Unmarshal(r.Raw, &p)
			return p.reply()
		}
		send("Create a contact for Noor Haddad at Tessellate, noor@tessellate.io")
		again := send("Create a contact for Noor Haddad at Tessellate, noor@tessellate.io")
		if !strings.Contains(again, "already exists") {
			t.Errorf("the second create answered %q", again)
		}
		send("Create a contact for Noor Haddad at Quillon, noor@quillon.example")
		billingEventually(t, "the contacts to be in the log", func() bool { return len(h.logEventsOfType("ContactCreated")) >= 2 })
		if n := len(h.logEventsOfType("ContactCreated")); n != 2 {
			t.Errorf("%d contacts created, want 2 (the same one twice is one)", n)
		}
	})
}
