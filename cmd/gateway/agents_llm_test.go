package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestNamedAgentRunsWithItsConfiguration: a message sent to the agent
// "customer-support" reaches the model with exactly the agent's model,
// temperature, instructions (after the gateway's own system text, then
// the message's "system") and its two read tools; a call of a tool the
// agent lacks never runs; an edit is a new version that later
// conversations run with and earlier ones never see; without "agent"
// nothing changes; unknown, foreign and misplaced agents are refused.
func TestNamedAgentRunsWithItsConfiguration(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		h := newLLMHarness(t, backend, llm)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		r := h.do(req{Method: "POST", Path: "/api/agents", Auth: bearerOf(owner.Token), Body: map[string]any{
			"name": "Customer Support", "instructions": "Answer in one sentence. Never promise refunds. MARK-7731",
			"model": "support-model-1", "temperature": 0.3, "tools": []string{"search_contacts", "get_contact"}}})
		expectStatus(t, r, http.StatusCreated)

		send := func(message string, body map[string]any) outcomePoll {
			t.Helper()
			body["message"] = message
			r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key,
				Header: map[string]string{"Prefer": "wait=20"}, Body: body})
			var p outcomePoll
			if err := json.Unmarshal(r.Raw, &p); err != nil || p.Status != "resolved" {
				t.Fatalf("%q: %s", message, r.Raw)
			}
			return p
		}
		const first = "Who is our contact at Initech, and email them the renewal terms"
		llm.script(first, &llmScript{Steps: []llmStep{
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "c1", Name: "send_email", Args: map[string]any{
				"to": "ann@initech.example", "subject": "Renewal", "body": "Terms attached."}}}}),
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "c2", Name: "search_contacts", Args: map[string]any{"company": "Initech"}}}}),
			fixedReply(llmReply{Content: "I cannot send email as the support agent; no contact at Initech was found."}),
		}})
		p := send(first, map[string]any{"agent": "customer-support", "system": "The caller is the CRM sync. EXTRA-991"})

		calls := llm.answeredFor(first)
		if len(calls) != 3 {
			t.Fatalf("%d model calls, want 3", len(calls))
		}
		for i, call := range calls {
			var temp float64
			_ = json.Unmarshal(call.Raw["temperature"], &temp)
			var tools []string
			for _, tl := range call.Req.Tools {
				tools = append(tools, tl.Function.Name)
			}
			slices.Sort(tools)
			system := call.Req.Messages[0].text()
			if call.Req.Model != "support-model-1" || temp != 0.3 || strings.Join(tools, ",") != "get_contact,search_contacts" ||
				call.Req.Messages[0].Role != "system" || !hasAll(system, "MARK-7731", "EXTRA-991") ||
				strings.Index(system, "MARK-7731") > strings.Index(system, "EXTRA-991") || strings.Index(system, "MARK-7731") < 100 {
				t.Errorf("call %d: model %q, temperature %v, tools %v, system %q", i+1, call.Req.Model, temp, tools, system)
			}
		}
		if n := len(h.logEventsOfType("EmailQueued")); n != 0 {
			t.Errorf("the agent without send_email queued %d e-mails", n)
		}
		refused := false
		for _, ev := range h.logEventsOfType("ToolCallCompleted") {
			if d := evData(t, ev); jstr(d, "name") == "send_email" {
				refused = strings.Contains(jstr(d, "result"), "does not have the tool send_email") && d["is_error"] == true
			}
		}
		if !refused {
			t.Error("the disallowed send_email call was not refused as a tool error")
		}
		var polled struct {
			Agent struct {
				Slug    string `json:"slug"`
				Version int    `json:"version"`
			} `json:"agent"`
		}
		_ = json.Unmarshal(h.get(c, p.ConversationUUID).Raw, &polled)
		if polled.Agent.Slug != "customer-support" || polled.Agent.Version != 1 {
			t.Errorf("the poll names agent %+v", polled.Agent)
		}

		// An edit is version 2: the next conversation runs with it, the
		// first one's record keeps version 1.
		expectStatus(t, h.do(req{Method: "PUT", Path: "/api/agents/customer-support", Auth: bearerOf(owner.Token),
			Body: map[string]any{"model": "support-model-2", "temperature": 0}}), http.StatusOK)
		const second = "Find the contact Ann Lee"
		llm.script(second, &llmScript{Always: fixedReply(llmReply{Content: "No Ann Lee here."})})
		send(second, map[string]any{"agent": "customer-support"})
		if calls := llm.answeredFor(second); len(calls) != 1 || calls[0].Req.Model != "support-model-2" || string(calls[0].Raw["temperature"]) == "" ||
			strings.Contains(calls[0].Req.Messages[0].text(), "EXTRA-991") {
			t.Errorf("after the edit: %+v", calls)
		} else if tmp := string(calls[0].Raw["temperature"]); !strings.HasPrefix(tmp, "1e-45") && !strings.HasPrefix(tmp, "1.4e-45") && tmp != "0" {
			t.Errorf("temperature 0 was sent as %s", tmp)
		}
		var versions []float64
		for _, ev := range h.logEventsOfType("ConversationOpened") {
			if a, ok := evData(t, ev)["agent"].(map[string]any); ok {
				versions = append(versions, a["version"].(float64))
			}
		}
		if len(versions) != 2 || versions[0] != 1 || versions[1] != 2 {
			t.Errorf("conversations recorded agent versions %v, want [1 2]", versions)
		}

		// Without an agent: the default model, every tool.
		const third = "List my open tasks"
		llm.script(third, &llmScript{Always: fixedReply(llmReply{Content: "None."})})
		send(third, map[string]any{})
		if calls := llm.answeredFor(third); len(calls) != 1 || calls[0].Req.Model != llmModel || len(calls[0].Req.Tools) < 10 ||
			string(calls[0].Raw["temperature"]) != "" {
			t.Errorf("without an agent: model %q, %d tools, temperature %s", calls[0].Req.Model, len(calls[0].Req.Tools), calls[0].Raw["temperature"])
		}

		// Refusals: unknown, another workspace's, on a follow-up, too long.
		other := h.createWorkspace("Globex", "owner@globex.test")
		expectStatus(t, h.do(req{Method: "POST", Path: "/api/agents", Auth: bearerOf(other.Token), Body: map[string]any{"name": "Globex only"}}), http.StatusCreated)
		before := len(h.allEvents())
		post := func(body map[string]any) response {
			return h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Body: body})
		}
		expectError(t, post(map[string]any{"message": "Hi", "agent": "no-such-agent"}), http.StatusNotFound, "AGENT_NOT_FOUND")
		expectError(t, post(map[string]any{"message": "Hi", "agent": "globex-only"}), http.StatusNotFound, "AGENT_NOT_FOUND")
		expectError(t, post(map[string]any{"message": "Hi", "agent": "Not a slug!"}), http.StatusNotFound, "AGENT_NOT_FOUND")
		expectError(t, post(map[string]any{"message": "Hi", "agent": "customer-support", "conversation_uuid": p.ConversationUUID}),
			http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		expectError(t, post(map[string]any{"message": "Hi", "system": strings.Repeat("s", 2001)}), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		if n := len(h.allEvents()); n != before {
			t.Errorf("refused messages appended %d events", n-before)
		}
	})
}
