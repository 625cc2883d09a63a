package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/offline"
)

// These tests run the whole gateway against an OpenAI-compatible server
// written here (llmserver_test.go), the way it runs against OpenAI, Ollama
// or vLLM: the go-openai adapter, its retries, the agent loop's commands on
// the bus, the tools and their side effects, the event log.

// llmOptions points a harness at the scripted server, with retry waits
// short enough for tests (the defaults start at 1s).
func llmOptions(llm *llmServer, extra ...harnessOption) []harnessOption {
	return append([]harnessOption{
		withEnv(llm.env()),
		withConfig(func(c *Config) {
			c.Model.InitialBackoff = 10 * time.Millisecond
			c.Model.MaxBackoff = 50 * time.Millisecond
		}),
	}, extra...)
}

// newLLMHarness starts a gateway on the scripted model; the plaintext scan
// at the end also looks for the model's API key in the log.
func newLLMHarness(t *testing.T, backend string, llm *llmServer, extra ...harnessOption) *harness {
	t.Helper()
	h := newHarness(t, backend, llmOptions(llm, extra...)...)
	h.remember(llmAPIKey)
	return h
}

// jdig walks decoded JSON: string keys into objects, ints into arrays.
func jdig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k < 0 || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func jstr(v any, path ...any) string {
	s, _ := jdig(v, path...).(string)
	return s
}

func jnum(v any, path ...any) int {
	f, _ := jdig(v, path...).(float64)
	return int(f)
}

// jsonEqual compares a JSON text with a value as JSON.
func jsonEqual(t *testing.T, got string, want any) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return false
	}
	b, _ := json.Marshal(want)
	_ = json.Unmarshal(b, &w)
	return reflect.DeepEqual(g, w)
}

// byKey indexes tool call facts by their key.
func byKey(t *testing.T, recs []es.Recorded) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, r := range recs {
		d := evData(t, r)
		k := jstr(d, "key")
		out[k] = append(out[k], d)
	}
	return out
}

// checkRequestShape checks what every chat completion request of the
// gateway must hold: the configured model, the system prompt then the
// caller's message, the whole tool catalog with JSON schemas, and none of
// the fields some compatible servers reject.
func checkRequestShape(t *testing.T, h *harness, c llmCall, message string) {
	t.Helper()
	r := c.Req
	if r.Model != llmModel {
		t.Errorf("step %d: model = %q, want %q", c.Step, r.Model, llmModel)
	}
	if len(r.Messages) < 2 || r.Messages[0].Role != "system" || !strings.HasPrefix(r.Messages[0].text(), commands.SystemPrompt) ||
		!strings.Contains(r.Messages[0].text(), "The caller's message arrived ") {
		t.Errorf("step %d: the first message is not the system prompt: %+v", c.Step, r.Messages)
	}
	if len(r.Messages) < 2 || r.Messages[1].Role != "user" || r.Messages[1].text() != message {
		t.Errorf("step %d: the second message is not the caller's message", c.Step)
	}
	for _, absent := range []string{"tool_choice", "parallel_tool_calls"} {
		if _, ok := c.Raw[absent]; ok {
			t.Errorf("step %d: the request has %q, which some compatible servers reject", c.Step, absent)
		}
	}
	if !r.Stream || string(c.Raw["stream_options"]) != `{"include_usage":true}` {
		t.Errorf("step %d: the request does not stream with usage (stream %v, stream_options %s)", c.Step, r.Stream, c.Raw["stream_options"])
	}
	if r.MaxTokens <= 0 {
		t.Errorf("step %d: max_tokens = %d, want a positive cap", c.Step, r.MaxTokens)
	}
	specs := h.App.Cmds.Tools.Specs()
	if len(r.Tools) != len(specs) {
		t.Errorf("step %d: %d tools sent, the catalog has %d", c.Step, len(r.Tools), len(specs))
	}
	for _, tool := range r.Tools {
		var schema map[string]any
		if tool.Type != "function" || json.Unmarshal(tool.Function.Parameters, &schema) != nil || schema["type"] != "object" ||
			tool.Function.Description == "" {
			t.Errorf("step %d: tool %q is not a described function with an object schema: %+v", c.Step, tool.Function.Name, tool)
		}
	}
	if tool, ok := r.tool("search_contacts"); !ok {
		t.Errorf("step %d: search_contacts is not offered", c.Step)
	} else {
		var schema any
		_ = json.Unmarshal(tool.Function.Parameters, &schema)
		if jstr(schema, "properties", "query", "type") != "string" {
			t.Errorf("step %d: search_contacts has no string query: %s", c.Step, tool.Function.Parameters)
		}
	}
	if tool, ok := r.tool("send_email"); !ok {
		t.Errorf("step %d: send_email is not offered", c.Step)
	} else {
		var schema struct {
			Properties map[string]any `json:"properties"`
			Required   []string       `json:"required"`
		}
		_ = json.Unmarshal(tool.Function.Parameters, &schema)
		for _, p := range []string{"to", "team_id", "subject", "body"} {
			if schema.Properties[p] == nil {
				t.Errorf("step %d: send_email has no %q parameter", c.Step, p)
			}
		}
		if !slices.Contains(schema.Required, "subject") || !slices.Contains(schema.Required, "body") {
			t.Errorf("step %d: send_email does not require subject and body: %v", c.Step, schema.Required)
		}
	}
}

// TestLLM_TwoToolRounds: a model that asks for two tools at once, then one
// more, then answers. Every request carries the transcript so far (the
// assistant's tool calls and each result under its tool_call_id); every
// step is recorded with the tokens and the model the server reported; each
// tool call has exactly one effect.
func TestLLM_TwoToolRounds(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const msg = "Create a contact for Zed Quinn at Globex and a task to call him"
		usage := [][2]int{{321, 45}, {512, 30}, {640, 60}}
		contactArgs := map[string]any{"name": "Zed Quinn", "company": "Globex"}
		taskArgs := map[string]any{"title": "Call Zed Quinn"}
		searchArgs := map[string]any{"query": "Zed"}
		llm.script(msg, &llmScript{Steps: []llmStep{
			fixedReply(llmReply{Calls: []llmToolCall{
				{ID: "call_contact", Name: "create_contact", Args: contactArgs},
				{ID: "call_task", Name: "create_task", Args: taskArgs},
			}, In: usage[0][0], Out: usage[0][1]}),
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_search", Name: "search_contacts", Args: searchArgs}},
				In: usage[1][0], Out: usage[1][1]}),
			func(req llmRequest) llmReply {
				res, _ := req.toolResult("call_search")
				id := jstr(res, "contacts", 0, "id")
				if id == "" {
					llm.problem("step 3: the search result has no contact: %v", res)
				}
				return llmReply{Content: "Created the contact Zed Quinn (Globex, id " + id + ") and a task to call him.",
					In: usage[2][0], Out: usage[2][1]}
			},
		}})
		h := newLLMHarness(t, backend, llm)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		key := h.createKey(owner, nil)
		c := creds{Token: owner.Token, Key: key.Key}

		id, p := h.ask(c, msg)

		// The effects: one contact, one task, each caused by its call.
		contacts, tasks := h.logEventsOfType("ContactCreated"), h.logEventsOfType("TaskCreated")
		if len(contacts) != 1 || len(tasks) != 1 {
			t.Fatalf("the log has %d ContactCreated and %d TaskCreated, want 1 each", len(contacts), len(tasks))
		}
		contact, task := evData(t, contacts[0]), evData(t, tasks[0])
		contactID, taskID := jstr(contact, "contact_id"), jstr(task, "task_id")
		if jstr(contact, "fields", "name") != "Zed Quinn" || jstr(contact, "fields", "company") != "Globex" {
			t.Errorf("ContactCreated = %s", contacts[0].Data)
		}
		if jstr(task, "title") != "Call Zed Quinn" {
			t.Errorf("TaskCreated = %s", tasks[0].Data)
		}
		if got := contacts[0].Metadata.CausationID; got != "toolcall:"+id+":1.1" {
			t.Errorf("ContactCreated caused by %q", got)
		}
		if got := tasks[0].Metadata.CausationID; got != "toolcall:"+id+":1.2" {
			t.Errorf("TaskCreated caused by %q", got)
		}
		if want := "Created the contact Zed Quinn (Globex, id " + contactID + ") and a task to call him."; p.reply() != want {
			t.Errorf("reply = %q, want %q", p.reply(), want)
		}

		// What the model was sent: the first request of each step.
		all := llm.callsFor(msg)
		var calls []llmCall
		for _, call := range all {
			if call.Status != http.StatusOK {
				t.Errorf("step %d answered %d", call.Step, call.Status)
			}
			if call.Step == len(calls)+1 {
				calls = append(calls, call)
			}
			checkRequestShape(t, h, call, msg)
		}
		if len(calls) != 3 {
			t.Fatalf("the model was asked for steps %v, want 1, 2, 3", stepsOf(all))
		}
		t.Run("one model call per step", func(t *testing.T) {
			if len(all) != 3 {
				t.Errorf("the model was called %d times for 3 steps (steps %v): every duplicate is billed and its tokens are not recorded",
					len(all), stepsOf(all))
			}
		})
		r2 := calls[1].Req.Messages
		if len(r2) != 5 || r2[2].Role != "assistant" || len(r2[2].ToolCalls) != 2 {
			t.Fatalf("step 2 request: want system, user, assistant with 2 tool calls, 2 tool results; got %+v", r2)
		}
		for i, want := range []struct {
			id, name string
			args     any
		}{{"call_contact", "create_contact", contactArgs}, {"call_task", "create_task", taskArgs}} {
			tc := r2[2].ToolCalls[i]
			if tc.ID != want.id || tc.Type != "function" || tc.Function.Name != want.name || !jsonEqual(t, tc.Function.Arguments, want.args) {
				t.Errorf("step 2 request: assistant tool call %d = %+v, want %s %s %v", i, tc, want.id, want.name, want.args)
			}
		}
		results := map[string]string{}
		for _, m := range r2[3:] {
			if m.Role != "tool" {
				t.Errorf("step 2 request: %q message where a tool result belongs", m.Role)
			}
			results[m.ToolCallID] = m.text()
		}
		if res, _ := calls[1].Req.toolResult("call_contact"); jstr(res, "contact", "id") != contactID {
			t.Errorf("the model read the create_contact result %q; want the contact %s", results["call_contact"], contactID)
		}
		if res, _ := calls[1].Req.toolResult("call_task"); jstr(res, "task", "id") != taskID {
			t.Errorf("the model read the create_task result %q; want the task %s", results["call_task"], taskID)
		}
		r3 := calls[2].Req.Messages
		if len(r3) != 7 || r3[5].Role != "assistant" || len(r3[5].ToolCalls) != 1 || r3[5].ToolCalls[0].ID != "call_search" ||
			r3[6].Role != "tool" || r3[6].ToolCallID != "call_search" {
			t.Fatalf("step 3 request: want the search call and its result last; got %+v", r3)
		}
		if res, _ := calls[2].Req.toolResult("call_search"); jnum(res, "count") != 1 || jstr(res, "contacts", 0, "id") != contactID {
			t.Errorf("step 3 request: search result = %s", r3[6].text())
		}

		// What the log recorded for the conversation.
		recs := h.convStream(id)
		steps := recsOfType(recs, "ModelStepCompleted")
		if len(steps) != 3 {
			t.Fatalf("%d ModelStepCompleted, want 3", len(steps))
		}
		for i, s := range steps {
			d := evData(t, s)
			if jnum(d, "step") != i+1 || jstr(d, "model") != llmServedModel ||
				jnum(d, "usage", "input_tokens") != usage[i][0] || jnum(d, "usage", "output_tokens") != usage[i][1] {
				t.Errorf("ModelStepCompleted %d = %s; want model %s, usage %v", i+1, s.Data, llmServedModel, usage[i])
			}
		}
		if got := jstr(evData(t, steps[0]), "finish_reason"); got != "tool_calls" {
			t.Errorf("step 1 finish_reason = %q", got)
		}
		if got := jstr(evData(t, steps[2]), "finish_reason"); got != "stop" {
			t.Errorf("step 3 finish_reason = %q", got)
		}
		requested := byKey(t, recsOfType(recs, "ToolCallRequested"))
		wantReq := map[string]struct {
			callID, name string
			args         any
		}{"1.1": {"call_contact", "create_contact", contactArgs}, "1.2": {"call_task", "create_task", taskArgs}, "2.1": {"call_search", "search_contacts", searchArgs}}
		if len(requested) != len(wantReq) {
			t.Errorf("ToolCallRequested keys = %v", requested)
		}
		for k, w := range wantReq {
			got := requested[k]
			if len(got) != 1 {
				t.Errorf("%d ToolCallRequested for %s", len(got), k)
				continue
			}
			args, _ := json.Marshal(got[0]["arguments"])
			if jstr(got[0], "call_id") != w.callID || jstr(got[0], "name") != w.name || !jsonEqual(t, string(args), w.args) {
				t.Errorf("ToolCallRequested %s = %v", k, got[0])
			}
		}
		completed := byKey(t, recsOfType(recs, "ToolCallCompleted"))
		for k, want := range map[string][]string{"1.1": {contactID, "Zed Quinn"}, "1.2": {taskID, "Call Zed Quinn"}, "2.1": {contactID, `"count":1`}} {
			got := completed[k]
			if len(got) != 1 {
				t.Errorf("%d ToolCallCompleted for %s, want 1", len(got), k)
				continue
			}
			if res := jstr(got[0], "result"); !hasAll(res, want...) || got[0]["is_error"] == true {
				t.Errorf("ToolCallCompleted %s result %q; want it to hold %v", k, res, want)
			}
		}
		if len(completed) != 3 {
			t.Errorf("ToolCallCompleted keys: %v", completed)
		}
		if res := recsOfType(recs, "ConversationResolved"); len(res) != 1 || jstr(evData(t, res[0]), "reply") != p.reply() {
			t.Errorf("ConversationResolved = %v", res)
		}

		// The reply reports what the conversation used, and what it cost:
		// the charges its steps and tool calls recorded.
		cost := 0
		for _, rec := range recs {
			if rec.Type == "ModelStepCompleted" || rec.Type == "ToolCallCompleted" {
				cost += jnum(evData(t, rec), "charge", "amount_microusd")
			}
		}
		cents := (cost + 9_999) / 10_000
		if u := p.Usage; cost == 0 || jnum(u, "model_steps") != 3 || jnum(u, "tool_calls") != 3 ||
			jnum(u, "input_tokens") != 321+512+640 || jnum(u, "output_tokens") != 45+30+60 ||
			jnum(u, "cost_microusd") != cost || u["cost_usd"] != fmt.Sprintf("%d.%02d", cents/100, cents%100) {
			t.Errorf("poll usage = %v; want 3 steps, 3 tool calls, the tokens, and a cost of %d µ$", u, cost)
		}

		// The key's usage adds the steps up.
		r := h.do(req{Method: "GET", Path: "/api/api-keys/" + key.ID, Auth: bearerOf(owner.Token)})
		expectStatus(t, r, http.StatusOK)
		u := r.JSON(t)["usage"]
		if jnum(u, "model_steps") != 3 || jnum(u, "tool_calls") != 3 ||
			jnum(u, "input_tokens") != 321+512+640 || jnum(u, "output_tokens") != 45+30+60 {
			t.Errorf("key usage = %v", u)
		}
	})
}

// TestLLM_OneModelCallPerStep: when a step asked for several tools at once,
// the next step calls the model once, however the results arrive. The model
// takes 300ms to answer step 2, as real models do; several conversations
// run at once.
func TestLLM_OneModelCallPerStep(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		var msgs []string
		for i := range 4 {
			msg := "Parallel lookups " + string(rune('A'+i)) + ": list my open tasks and my folders"
			msgs = append(msgs, msg)
			llm.script(msg, &llmScript{
				Steps: []llmStep{
					fixedReply(llmReply{Calls: []llmToolCall{
						{ID: "call_tasks", Name: "list_tasks", Args: map[string]any{"status": "open"}},
						{ID: "call_folders", Name: "list_folders", Args: map[string]any{}},
					}, In: 100, Out: 10}),
					fixedReply(llmReply{Content: "You have no open tasks and no folders.", In: 200, Out: 12}),
				},
				SlowSteps: map[int]time.Duration{2: 300 * time.Millisecond},
			})
		}
		h := newLLMHarness(t, backend, llm)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		ids := map[string]string{}
		for _, m := range msgs {
			ids[m] = h.send(c, m)
		}
		billed, recorded := 0, 0
		var dup []string
		for _, m := range msgs {
			p := h.await(c, ids[m])
			if p.Status != "resolved" {
				t.Fatalf("%q ended %s: %s", m, p.Status, p.Raw)
			}
			steps := recsOfType(h.convStream(ids[m]), "ModelStepCompleted")
			if len(steps) != 2 {
				t.Errorf("%q: %d ModelStepCompleted, want 2", m, len(steps))
			}
			for _, s := range steps {
				recorded += jnum(evData(t, s), "usage", "input_tokens")
			}
			calls := llm.answeredFor(m)
			for _, call := range calls {
				billed += map[int]int{1: 100, 2: 200}[call.Step]
			}
			if len(calls) != 2 {
				dup = append(dup, fmt.Sprintf("%q called for steps %v", m, stepsOf(calls)))
			}
		}
		if len(dup) > 0 {
			t.Errorf("the model was called more than once for a step in %d of %d conversations (%s); "+
				"the server billed %d input tokens, the log recorded %d", len(dup), len(msgs), strings.Join(dup, "; "), billed, recorded)
		}
	})
}

// TestLLM_SlowStepIsNotDuplicated: a model step that takes longer than
// GATEWAY_STALL_AFTER (but well within GATEWAY_MODEL_TIMEOUT) is still one
// model call: the reaper must not take work in flight for stalled work.
// Scaled down: a 2.5s answer against a 1s stall bound stands for a local
// model on a CPU taking 3 minutes against the default 2 minutes.
func TestLLM_SlowStepIsNotDuplicated(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const msg = "A slow model: what is on my plate today?"
		llm.script(msg, &llmScript{
			Steps:     []llmStep{fixedReply(llmReply{Content: "Nothing is due today.", In: 80, Out: 6})},
			SlowSteps: map[int]time.Duration{1: 2500 * time.Millisecond},
		})
		// LoadConfig refuses a stall bound this short (it must exceed the
		// model timeout plus 30s); set it directly to show that even a
		// reaper firing during the call does not start it again: the step's
		// claim holds for as long as the call may run.
		h := newLLMHarness(t, backend, llm, withEnv(map[string]string{"GATEWAY_MODEL_TIMEOUT": "10s"}),
			withConfig(func(c *Config) { c.StallAfter, c.GiveUpAfter = time.Second, time.Minute }))
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		p := h.await(c, h.send(c, msg))
		if p.Status != "resolved" {
			t.Fatalf("ended %s: %s", p.Status, p.Raw)
		}
		if calls := llm.callsFor(msg); len(calls) != 1 {
			t.Errorf("one model step took %d model calls (steps %v): the reaper resent RunModelStep while the first call was running",
				len(calls), stepsOf(calls))
		}
	})
}

// TestLLM_SloppyModels: what small local models send. A tool call without
// an id gets one, and its result comes back under it; arguments that are
// not JSON, or an unknown tool, are reported to the model, which can then
// recover; an empty answer fails the conversation clearly.
func TestLLM_SloppyModels(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const (
			sloppy = "Sloppy model: find the contact Zed"
			empty  = "Empty model: find the contact Zed"
		)
		llm.script(sloppy, &llmScript{Steps: []llmStep{
			fixedReply(llmReply{Calls: []llmToolCall{
				{ID: "", Name: "search_contacts", Args: map[string]any{"query": "Zed"}},
				{ID: "call_bad", Name: "search_contacts", Args: "query=Zed"},
				{ID: "call_unknown", Name: "find_people", Args: map[string]any{"q": "Zed"}},
			}}),
			func(req llmRequest) llmReply {
				msgs := req.Messages
				if len(msgs) != 6 || len(msgs[2].ToolCalls) != 3 {
					llm.problem("step 2: want the 3 calls and their 3 results, got %+v", msgs)
					return llmReply{Content: "SCRIPT ERROR"}
				}
				generated := msgs[2].ToolCalls[0].ID
				if generated == "" {
					llm.problem("step 2: the call without an id was sent back without one")
				}
				if args := msgs[2].ToolCalls[1].Function.Arguments; args != "query=Zed" {
					llm.problem("step 2: the malformed arguments were sent back as %q, want them as the model wrote them", args)
				}
				ok, _ := req.toolResult(generated)
				bad, _ := req.toolResult("call_bad")
				unknown, _ := req.toolResult("call_unknown")
				if _, has := ok["contacts"]; !has {
					llm.problem("step 2: the call without an id has no result under %q: %v", generated, ok)
				}
				if !strings.Contains(jstr(bad, "error"), "not valid JSON") || !strings.Contains(jstr(unknown, "error"), "no tool named") {
					llm.problem("step 2: the bad calls were not reported to the model: %v / %v", bad, unknown)
				}
				return llmReply{Content: "No contact named Zed."}
			},
		}})
		llm.script(empty, &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "  "})}})
		h := newLLMHarness(t, backend, llm)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		sloppyID, emptyID := h.send(c, sloppy), h.send(c, empty)

		p := h.await(c, sloppyID)
		if p.Status != "resolved" || p.reply() != "No contact named Zed." {
			t.Errorf("the sloppy model's conversation ended %s: %s", p.Status, p.Raw)
		}
		completed := byKey(t, recsOfType(h.convStream(sloppyID), "ToolCallCompleted"))
		for k, wantErr := range map[string]bool{"1.1": false, "1.2": true, "1.3": true} {
			if len(completed[k]) != 1 || (completed[k][0]["is_error"] == true) != wantErr {
				t.Errorf("ToolCallCompleted %s = %v; want one, is_error %v", k, completed[k], wantErr)
			}
		}

		p = h.await(c, emptyID)
		if p.Status != "failed" {
			t.Fatalf("the empty answer's conversation ended %s: %s", p.Status, p.Raw)
		}
		if code, message := p.failureOf(t); code != "EMPTY_REPLY" || message == "" {
			t.Errorf("error = %s %q, want EMPTY_REPLY", code, message)
		}
	})
}

// TestLLM_ModelFailures: transient failures are retried within the budget,
// honouring Retry-After; failures past the budget, and rejections that a
// retry cannot fix, fail the conversation with MODEL_ERROR and a message a
// person can act on (never holding the API key).
func TestLLM_ModelFailures(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const (
			flaky   = "Flaky model: what is on my plate today?"
			down    = "Model down: what is on my plate today?"
			pause   = "Model asks for a long pause: what is on my plate today?"
			wrongKy = "Wrong key: what is on my plate today?"
		)
		llm.script(flaky, &llmScript{
			Faults: []llmFault{
				{Status: 500, Message: "The server had an error while processing your request."},
				{Status: 500, Message: "The server had an error while processing your request."},
				{Status: 429, RetryAfter: "1", Message: "Rate limit reached for requests", Type: "requests"},
			},
			Steps: []llmStep{fixedReply(llmReply{Content: "Nothing is due today.", In: 90, Out: 7})},
		})
		llm.script(down, &llmScript{FailAlways: &llmFault{Status: 503, Message: "The engine is currently overloaded, please try again later"}})
		llm.script(pause, &llmScript{FailAlways: &llmFault{Status: 429, RetryAfter: "5", Message: "Rate limit reached for requests", Type: "requests"}})
		llm.script(wrongKy, &llmScript{FailAlways: &llmFault{Status: 401, Type: "invalid_request_error",
			Message: "Incorrect API key provided: " + llmAPIKey + ". You can find your API key at https://platform.openai.com/account/api-keys."}})

		// Four attempts and three seconds at most per model call.
		h := newLLMHarness(t, backend, llm, withConfig(func(c *Config) {
			c.Model.MaxAttempts = 4
			c.Model.MaxElapsed = 3 * time.Second
		}))
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		sent := map[string]time.Time{}
		ids := map[string]string{}
		for _, m := range []string{flaky, down, pause, wrongKy} {
			sent[m] = time.Now()
			ids[m] = h.send(c, m)
		}

		t.Run("transient failures are retried and Retry-After is honoured", func(t *testing.T) {
			h := h.on(t)
			p := h.await(c, ids[flaky])
			if p.Status != "resolved" || p.reply() != "Nothing is due today." {
				t.Fatalf("ended %s: %s", p.Status, p.Raw)
			}
			calls := llm.callsFor(flaky)
			var statuses []int
			for _, call := range calls {
				statuses = append(statuses, call.Status)
			}
			if !reflect.DeepEqual(statuses, []int{500, 500, 429, 200}) {
				t.Fatalf("the server answered %v, want [500 500 429 200]", statuses)
			}
			for i := 1; i <= 2; i++ {
				if gap := calls[i].At.Sub(calls[i-1].At); gap > 900*time.Millisecond {
					t.Errorf("retry %d waited %s; the configured backoff is 10-50ms", i, gap)
				}
			}
			if gap := calls[3].At.Sub(calls[2].At); gap < time.Second || gap > 2500*time.Millisecond {
				t.Errorf("after 429 with Retry-After: 1 the next attempt came %s later, want about 1s", gap)
			}
			steps := recsOfType(h.convStream(ids[flaky]), "ModelStepCompleted")
			if len(steps) != 1 {
				t.Fatalf("%d ModelStepCompleted, want 1", len(steps))
			}
			d := evData(t, steps[0])
			if jnum(d, "latency_ms") < 1000 || jnum(d, "usage", "input_tokens") != 90 || jstr(d, "model") != llmServedModel {
				t.Errorf("ModelStepCompleted = %s; want the retries in latency_ms and the last answer's usage", steps[0].Data)
			}
		})

		expectFailed := func(t *testing.T, h *harness, m string) string {
			t.Helper()
			p := h.await(c, ids[m])
			if p.Status != "failed" {
				t.Fatalf("ended %s, want failed: %s", p.Status, p.Raw)
			}
			code, message := p.failureOf(t)
			t.Logf("error.message: %s", message)
			if code != "MODEL_ERROR" {
				t.Errorf("error.code = %q, want MODEL_ERROR", code)
			}
			if !strings.HasPrefix(message, "The language model could not complete the request: the language model at "+llm.URL) {
				t.Errorf("error.message = %q; want it to say the language model at %s failed", message, llm.URL)
			}
			if strings.Contains(message, llmAPIKey) || strings.Contains(message, strings.TrimPrefix(llmAPIKey, "sk-")) {
				t.Errorf("error.message holds the API key: %q", message)
			}
			if n := len(recsOfType(h.convStream(ids[m]), "ModelStepCompleted")); n != 0 {
				t.Errorf("%d ModelStepCompleted on a failed call", n)
			}
			if r := p.reply(); r != "" {
				t.Errorf("a failed conversation has the reply %q", r)
			}
			return message
		}

		t.Run("a server failing past the attempts fails the conversation", func(t *testing.T) {
			h := h.on(t)
			message := expectFailed(t, h, down)
			if n := len(llm.callsFor(down)); n != 4 {
				t.Errorf("the server was called %d times, want MaxAttempts = 4", n)
			}
			if !hasAll(message, "failed after 4 attempts", "503 Service Unavailable", "overloaded") {
				t.Errorf("error.message = %q; want the attempts, the status and the server's words", message)
			}
		})

		t.Run("a Retry-After past the time budget fails at once", func(t *testing.T) {
			h := h.on(t)
			message := expectFailed(t, h, pause)
			if n := len(llm.callsFor(pause)); n != 1 {
				t.Errorf("the server was called %d times, want 1 (waiting 5s would pass MaxElapsed = 3s)", n)
			}
			if !hasAll(message, "failed after 1 attempt", "429 Too Many Requests", "asked to wait 5s") {
				t.Errorf("error.message = %q; want the attempt, the status and the wait asked for", message)
			}
		})

		t.Run("a rejected key is not retried", func(t *testing.T) {
			h := h.on(t)
			message := expectFailed(t, h, wrongKy)
			if n := len(llm.callsFor(wrongKy)); n != 1 {
				t.Errorf("the server was called %d times, want 1: a 401 does not go away by retrying", n)
			}
			if !hasAll(message, "rejected the request (401 Unauthorized)", "check OPENAI_API_KEY") {
				t.Errorf("error.message = %q; want the status and what to check", message)
			}
			// Loose: the call count above is the exact check; this one
			// only catches a wait as long as a retry backoff or the 60s
			// model timeout, on a loaded CI machine.
			if took := time.Since(sent[wrongKy]); took > 15*time.Second {
				t.Errorf("a 401 took %s to fail", took)
			}
		})
	})
}

// TestLLM_HungModelIsBounded: GATEWAY_MODEL_TIMEOUT bounds each attempt.
// An attempt that never answers is cut at it and tried again, so one hung
// connection costs a second, not the conversation; a model that never
// answers at all fails the conversation clearly once the retry budget is
// spent, instead of leaving it processing.
func TestLLM_HungModelIsBounded(t *testing.T) {
	t.Parallel()
	llm := newLLMServer(t)
	const (
		once   = "A model that hangs once: list my tasks"
		always = "A model that never answers: list my tasks"
	)
	llm.script(once, &llmScript{Faults: []llmFault{{Hang: true}}, Steps: []llmStep{fixedReply(llmReply{Content: "You have no tasks.", In: 50, Out: 5})}})
	llm.script(always, &llmScript{Faults: []llmFault{{Hang: true}, {Hang: true}, {Hang: true}, {Hang: true}, {Hang: true}},
		Steps: []llmStep{fixedReply(llmReply{Content: "unreachable"})}})
	h := newLLMHarness(t, "embedded", llm, withEnv(map[string]string{"GATEWAY_MODEL_TIMEOUT": "1s", "GATEWAY_MODEL_RETRY_BUDGET": "2s"}))
	owner := h.createWorkspace("Acme", "owner@acme.test")
	c := h.principal(owner)

	began := time.Now()
	p := h.await(c, h.send(c, once))
	if p.Status != "resolved" || p.reply() != "You have no tasks." {
		t.Fatalf("one hung attempt: ended %s: %s", p.Status, p.Raw)
	}
	// About 1s; loose for a loaded CI machine, far below a 60s default.
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("one hung attempt cost %s, want about GATEWAY_MODEL_TIMEOUT = 1s", took)
	}
	llm.awaitGone(t, once, 1)
	if calls := llm.callsFor(once); len(calls) != 2 {
		t.Errorf("%d model requests, want 2: the hung attempt, then the one that answered", len(calls))
	}

	began = time.Now()
	p = h.await(c, h.send(c, always))
	if p.Status != "failed" {
		t.Fatalf("a model that never answers: ended %s: %s", p.Status, p.Raw)
	}
	code, message := p.failureOf(t)
	t.Logf("error.message: %s", message)
	if code != "MODEL_ERROR" || !hasAll(message, "no answer within 1s", "GATEWAY_MODEL_TIMEOUT") {
		t.Errorf("error = %s %q; want MODEL_ERROR naming GATEWAY_MODEL_TIMEOUT", code, message)
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("the hung model held the conversation %s, want about the retry budget (2s) plus one attempt (1s)", took)
	}
	if calls := llm.callsFor(always); len(calls) < 2 || len(calls) > 5 {
		t.Errorf("%d model requests, want a retry or more within the budget, never more than 5 attempts", len(calls))
	}
}

// crashEnv: a Postgres-backed instance resumes another's unfinished work
// only after GATEWAY_STALL_AFTER without progress (the embedded one resumes
// everything at start). The bound is long enough that the first instance,
// however slow the machine, never resumes its own work in flight; crash
// restarts the gateway that much later on the test clock, as if the new
// instance came up after it.
var crashEnv = map[string]string{"GATEWAY_MODEL_TIMEOUT": "5s", "GATEWAY_MODEL_RETRY_BUDGET": "4s", "GATEWAY_STALL_AFTER": "40s", "GATEWAY_GIVE_UP_AFTER": "10m"}

// crash stops the gateway (work in flight is abandoned), runs between, and
// starts a new gateway on the same store past the stall bound.
func (h *harness) crash(between func()) {
	h.t.Helper()
	h.stop()
	if between != nil {
		between()
	}
	// Past the stall bound, and past the claim on a model step that was
	// running when the first instance died (model timeout + 30s).
	h.Clock.Advance(41 * time.Second)
	h.start()
}

// TestLLM_CrashMidLoop: the process dies in the middle of a conversation
// and a new one on the same store finishes it, with exactly one side
// effect per tool call.
func TestLLM_CrashMidLoop(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		t.Run("while the model call of step 2 is in flight", func(t *testing.T) {
			t.Parallel()
			llm := newLLMServer(t)
			const msg = "Add Ada Lovelace of Analytical Engines as a contact"
			llm.script(msg, &llmScript{
				Steps: []llmStep{
					fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_ada", Name: "create_contact",
						Args: map[string]any{"name": "Ada Lovelace", "company": "Analytical Engines"}}}, In: 200, Out: 20}),
					func(req llmRequest) llmReply {
						res, _ := req.toolResult("call_ada")
						return llmReply{Content: "Added Ada Lovelace (id " + jstr(res, "contact", "id") + ").", In: 260, Out: 15}
					},
				},
				HangSteps: map[int]bool{2: true},
			})
			h := newLLMHarness(t, backend, llm, withEnv(crashEnv))
			owner := h.createWorkspace("Acme", "owner@acme.test")
			c := h.principal(owner)
			id := h.send(c, msg)

			hung := llm.awaitHung(t)
			if hung.Step != 2 {
				t.Fatalf("step %d hung, want 2", hung.Step)
			}
			if n := len(byKey(t, recsOfType(h.convStream(id), "ToolCallCompleted"))["1.1"]); n != 1 {
				t.Fatalf("the tool of step 1 has %d results before the crash, want 1", n)
			}
			// The process dies: every request in flight is abandoned. The
			// model answers again only once it is gone.
			h.crash(func() { llm.setHang(msg, 2, false) })

			p := h.await(c, id)
			if p.Status != "resolved" {
				t.Fatalf("after the restart the conversation ended %s: %s\n%s", p.Status, p.Raw, h.diagnose(id))
			}
			contacts := h.logEventsOfType("ContactCreated")
			if len(contacts) != 1 {
				t.Fatalf("%d ContactCreated, want 1", len(contacts))
			}
			if want := "Added Ada Lovelace (id " + jstr(evData(t, contacts[0]), "contact_id") + ")."; p.reply() != want {
				t.Errorf("reply = %q, want %q", p.reply(), want)
			}
			recs := h.convStream(id)
			if n := len(byKey(t, recsOfType(recs, "ToolCallCompleted"))["1.1"]); n != 1 {
				t.Errorf("%d results for the tool call 1.1, want 1", n)
			}
			if n := len(recsOfType(recs, "ModelStepCompleted")); n != 2 {
				t.Errorf("%d ModelStepCompleted, want 2", n)
			}
			// The request in flight was abandoned by the stopped process and
			// step 2 was asked again by the new one.
			llm.awaitGone(t, msg, 1)
			answered := 0
			for _, call := range llm.answeredFor(msg) {
				if call.Step == 2 {
					answered++
				}
			}
			if answered < 1 {
				t.Errorf("step 2 was never answered")
			}
		})

		t.Run("between a tool's side effect and its result", func(t *testing.T) {
			t.Parallel()
			llm := newLLMServer(t)
			mail := newTestSMTP(t)
			const msg = "Add Grace Hopper (grace@navy.test) as a contact and email her a welcome"
			contactArgs := map[string]any{"name": "Grace Hopper", "email": "grace@navy.test"}
			mailArgs := map[string]any{"to": []string{"grace@navy.test"}, "subject": "Welcome aboard", "body": "Dear Grace, welcome!"}
			llm.script(msg, &llmScript{Steps: []llmStep{
				fixedReply(llmReply{Calls: []llmToolCall{
					{ID: "call_contact", Name: "create_contact", Args: contactArgs},
					{ID: "call_mail", Name: "send_email", Args: mailArgs},
				}, In: 300, Out: 40}),
				func(req llmRequest) llmReply {
					ct, _ := req.toolResult("call_contact")
					em, _ := req.toolResult("call_mail")
					return llmReply{Content: "Added Grace Hopper (id " + jstr(ct, "contact", "id") + ") and emailed her (" +
						jstr(em, "email", "status") + ").", In: 380, Out: 25}
				},
			}})

			// The first process runs each tool for real, then hangs until it
			// is stopped, before the result is recorded.
			var generation atomic.Int32
			ran := make(chan string, 16)
			h := newLLMHarness(t, backend, llm, withEnv(crashEnv), withEnv(map[string]string{"SMTP_URL": mail.url()}),
				withBeforeStart(func(app *App) {
					app.Cmds.Tools = &dyingTools{Tools: app.Cmds.Tools, die: generation.Add(1) == 1, ran: ran}
				}))
			owner := h.createWorkspace("Acme", "owner@acme.test")
			c := h.principal(owner)
			id := h.send(c, msg)

			seen := map[string]bool{}
			deadline := time.After(pollBudget)
			for len(seen) < 2 {
				select {
				case k := <-ran:
					seen[k] = true
				case <-deadline:
					t.Fatalf("the tools ran for %v within %s, want 1.1 and 1.2", seen, pollBudget)
				}
			}
			if n := len(recsOfType(h.convStream(id), "ToolCallCompleted")); n != 0 {
				t.Fatalf("%d tool results recorded before the crash, want none", n)
			}
			if n := len(mail.received()); n != 1 {
				t.Fatalf("%d mails sent before the crash, want 1", n)
			}
			h.crash(nil)

			p := h.await(c, id)
			if p.Status != "resolved" {
				t.Fatalf("after the restart the conversation ended %s: %s\n%s", p.Status, p.Raw, h.diagnose(id))
			}
			contacts := h.logEventsOfType("ContactCreated")
			queued, sentMail := h.logEventsOfType("EmailQueued"), h.logEventsOfType("EmailSent")
			if len(contacts) != 1 || len(queued) != 1 || len(sentMail) != 1 {
				t.Fatalf("ContactCreated %d, EmailQueued %d, EmailSent %d; want 1 each", len(contacts), len(queued), len(sentMail))
			}
			if got := mail.received(); len(got) != 1 {
				t.Errorf("the SMTP server received %d mails, want 1", len(got))
			}
			contactID := jstr(evData(t, contacts[0]), "contact_id")
			if want := "Added Grace Hopper (id " + contactID + ") and emailed her (sent)."; p.reply() != want {
				t.Errorf("reply = %q, want %q", p.reply(), want)
			}
			completed := byKey(t, recsOfType(h.convStream(id), "ToolCallCompleted"))
			if len(completed["1.1"]) != 1 || len(completed["1.2"]) != 1 || len(completed) != 2 {
				t.Fatalf("tool results by key: %v; want one for 1.1 and one for 1.2", completed)
			}
			if res := jstr(completed["1.1"][0], "result"); !strings.Contains(res, contactID) {
				t.Errorf("the resumed create_contact result %q does not name the contact created before the crash", res)
			}
			if res := jstr(completed["1.2"][0], "result"); !hasAll(res, jstr(evData(t, queued[0]), "email_id"), `"status":"sent"`, `"transport":"smtp"`) {
				t.Errorf("the resumed send_email result %q does not report the mail sent before the crash", res)
			}
		})
	})
}

// TestLLM_DuplicateToolCommandSendsOneEmail: ExecuteToolCall may be
// delivered twice (the reaper resuming a call it takes for stalled, another
// instance, a redelivered batch). A second delivery that arrives while the
// first is still talking to a slow SMTP server must not send the mail again:
// SendEmail documents that only a crash between the transport taking the
// mail and the sent fact sends it twice.
func TestLLM_DuplicateToolCommandSendsOneEmail(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		mail := newTestSMTP(t)
		const msg = "Email ops@acme.test that the deploy is done"
		llm.script(msg, &llmScript{Steps: []llmStep{
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_mail", Name: "send_email",
				Args: map[string]any{"to": []string{"ops@acme.test"}, "subject": "Deploy done", "body": "The deploy is done."}}}}),
			fixedReply(llmReply{Content: "Emailed ops@acme.test."}),
		}})
		h := newLLMHarness(t, backend, llm, withEnv(map[string]string{"SMTP_URL": mail.url()}))
		release := mail.holdData()
		defer release()
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		id := h.send(c, msg)
		if !mail.awaitData(pollBudget) {
			t.Fatalf("the mail never reached the SMTP server")
		}

		// The same command again, while the first send is in DATA.
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done <- h.App.Cmds.ExecuteToolCall(ctx, commands.ExecuteToolCall{ConversationID: id, Key: "1.1"})
		}()
		secondSend := mail.awaitData(time.Second)
		release()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the repeated ExecuteToolCall: %v", err)
			}
		case <-time.After(pollBudget):
			t.Fatalf("the repeated ExecuteToolCall did not return")
		}
		if p := h.await(c, id); p.Status != "resolved" {
			t.Fatalf("ended %s: %s", p.Status, p.Raw)
		}
		queued, sent := h.logEventsOfType("EmailQueued"), h.logEventsOfType("EmailSent")
		if len(queued) != 1 || len(sent) != 1 {
			t.Errorf("EmailQueued %d, EmailSent %d; want 1 each", len(queued), len(sent))
		}
		if got := mail.received(); secondSend || len(got) != 1 {
			t.Errorf("the SMTP server received %d copies of one email (the log records %d EmailSent)", len(got), len(sent))
		}
	})
}

// dyingTools runs each tool for real and then, when die is set, never
// returns its result: it waits until the process stops.
type dyingTools struct {
	commands.Tools
	die bool
	ran chan<- string
}

func (d *dyingTools) Execute(ctx context.Context, call commands.ToolCall) (string, bool) {
	res, isErr := d.Tools.Execute(ctx, call)
	if !d.die {
		return res, isErr
	}
	select {
	case d.ran <- call.Key:
	default:
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * pollBudget): // never hold a stuck test forever
	}
	return "", true
}

// TestLLM_ReportToSalesTeam: a request that takes the agent across the
// workspace (documents, teams, email) in five steps, with the mail going
// out through a real SMTP server.
func TestLLM_ReportToSalesTeam(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		mail := newTestSMTP(t)
		const (
			msg     = "Find the Q1 report, summarise it, and email the summary to the sales team"
			subject = "Q1 Sales Report summary"
			report  = "Q1 revenue reached 1.2 million EUR, up 18% on Q4. The Nordics grew fastest. Churn fell to 2%."
		)
		steps := []llmStep{
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_search", Name: "search_documents", Args: map[string]any{"query": "Q1 report"}}}, In: 700, Out: 20}),
			func(req llmRequest) llmReply {
				res, _ := req.toolResult("call_search")
				id := ""
				for i := range jnum(res, "count") {
					if jstr(res, "documents", i, "title") == "Q1 Sales Report" {
						id = jstr(res, "documents", i, "id")
					}
				}
				if id == "" {
					llm.problem("step 2: search_documents did not find the Q1 Sales Report: %v", res)
				}
				return llmReply{Calls: []llmToolCall{{ID: "call_read", Name: "read_document", Args: map[string]any{"id": id}}}, In: 800, Out: 20}
			},
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_teams", Name: "list_teams", Args: map[string]any{"name": "sales"}}}, In: 900, Out: 15}),
			func(req llmRequest) llmReply {
				doc, _ := req.toolResult("call_read")
				teams, _ := req.toolResult("call_teams")
				body := jstr(doc, "document", "body")
				if jnum(teams, "count") != 1 || jstr(teams, "teams", 0, "name") != "Sales" || body == "" {
					llm.problem("step 4: want the report's text and exactly the Sales team; got %v and %v", doc, teams)
				}
				return llmReply{Calls: []llmToolCall{{ID: "call_mail", Name: "send_email", Args: map[string]any{
					"team_id": jstr(teams, "teams", 0, "id"), "subject": subject, "body": "Summary of the Q1 Sales Report: " + body,
				}}}, In: 1000, Out: 80}
			},
			fixedReply(llmReply{Calls: []llmToolCall{{ID: "call_list", Name: "list_sent_emails", Args: map[string]any{"query": "Q1"}}}, In: 1100, Out: 10}),
			func(req llmRequest) llmReply {
				sent, _ := req.toolResult("call_mail")
				listed, _ := req.toolResult("call_list")
				return llmReply{Content: "I emailed the Q1 summary to the Sales team (" + strings.Join(toStrings(jdig(sent, "email", "to")), ", ") +
					"); status " + jstr(listed, "emails", 0, "status") + " via " + jstr(listed, "emails", 0, "transport") + ".", In: 1200, Out: 30}
			},
		}
		llm.script(msg, &llmScript{Steps: steps})
		h := newLLMHarness(t, backend, llm, withEnv(map[string]string{"SMTP_URL": mail.url()}))
		if !strings.HasPrefix(h.App.MailerName, "smtp://"+mail.addr) {
			t.Errorf("MailerName = %q, want the SMTP server", h.App.MailerName)
		}
		owner := h.createWorkspace("Acme", "owner@acme.test")
		sam := h.addUser(owner, "sam@acme.test", "member")
		sue := h.addUser(owner, "sue@acme.test", "member")
		sales := h.setupTeam(owner, "Sales")
		h.setupTeamMember(owner, sales, sam.UserID)
		h.setupTeamMember(owner, sales, sue.UserID)
		support := h.setupTeam(owner, "Support")
		h.setupTeamMember(owner, support, owner.UserID)
		h.setupDocument(owner, "Q1 Sales Report", "/Reports", report)
		h.setupDocument(owner, "Q2 hiring plan", "/Plans", "Hire two engineers in Q2.")
		c := h.principal(owner)

		id, p := h.ask(c, msg)
		if want := "I emailed the Q1 summary to the Sales team (sam@acme.test, sue@acme.test); status sent via smtp."; p.reply() != want {
			t.Errorf("reply = %q, want %q", p.reply(), want)
		}
		var names []string
		for _, call := range llm.answeredFor(msg) {
			for _, m := range call.Req.Messages[len(call.Req.Messages)-1:] {
				names = append(names, m.Name)
			}
		}
		if want := []string{"", "search_documents", "read_document", "list_teams", "send_email", "list_sent_emails"}; !reflect.DeepEqual(names, want) {
			t.Errorf("the model read the results of %v, want %v", names, want)
		}

		got := mail.received()
		if len(got) != 1 {
			t.Fatalf("the SMTP server received %d mails, want 1", len(got))
		}
		to := append([]string(nil), got[0].To...)
		sort.Strings(to)
		if !reflect.DeepEqual(to, []string{"sam@acme.test", "sue@acme.test"}) || got[0].From != "agent@gw.test" {
			t.Errorf("mail from %q to %v; want agent@gw.test to both Sales members", got[0].From, got[0].To)
		}
		if !hasAll(got[0].Data, "Subject: "+subject, "Q1 revenue reached 1.2 million EUR") {
			t.Errorf("mail data lacks the subject or the summary:\n%s", got[0].Data)
		}
		sentMail := h.logEventsOfType("EmailSent")
		if len(sentMail) != 1 || jstr(evData(t, sentMail[0]), "transport") != "smtp" {
			t.Fatalf("EmailSent events: %v; want one, by smtp", sentMail)
		}
		if got := sentMail[0].Metadata.CausationID; got != "toolcall:"+id+":4.1" {
			t.Errorf("EmailSent caused by %q", got)
		}
		queued := h.logEventsOfType("EmailQueued")
		if len(queued) != 1 || jstr(evData(t, queued[0]), "team_id") != sales {
			t.Errorf("EmailQueued: %v; want one, to the Sales team", queued)
		}
		if n := len(recsOfType(h.convStream(id), "ModelStepCompleted")); n != 6 {
			t.Errorf("%d model steps, want 6", n)
		}
	})
}

func stepsOf(calls []llmCall) []int {
	var out []int
	for _, c := range calls {
		out = append(out, c.Step)
	}
	return out
}

func toStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestLLM_StepLimit: a model that never stops asking for tools is stopped
// by GATEWAY_MAX_STEPS with a message naming the limit.
func TestLLM_StepLimit(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const msg = "Keep listing my tasks forever"
		llm.script(msg, &llmScript{Always: func(req llmRequest) llmReply {
			return llmReply{Calls: []llmToolCall{{ID: "call_" + strings.Repeat("x", req.step()), Name: "list_tasks", Args: map[string]any{}}}, In: 50, Out: 5}
		}})
		h := newLLMHarness(t, backend, llm, withEnv(map[string]string{"GATEWAY_MAX_STEPS": "3"}))
		if want := llmModel + " at " + llm.URL; h.App.ModelName != want {
			t.Errorf("ModelName = %q, want %q", h.App.ModelName, want)
		}
		owner := h.createWorkspace("Acme", "owner@acme.test")
		c := h.principal(owner)
		id := h.send(c, msg)
		p := h.await(c, id)
		if p.Status != "failed" {
			t.Fatalf("ended %s: %s", p.Status, p.Raw)
		}
		code, message := p.failureOf(t)
		if code != "STEP_LIMIT" || !hasAll(message, "3 model steps", "step limit") {
			t.Errorf("error = %s %q; want STEP_LIMIT naming the limit of 3", code, message)
		}
		if n := len(llm.callsFor(msg)); n != 3 {
			t.Errorf("the model was called %d times, want 3", n)
		}
		recs := h.convStream(id)
		if n := len(recsOfType(recs, "ModelStepCompleted")); n != 3 {
			t.Errorf("%d ModelStepCompleted, want 3", n)
		}
		if n := len(recsOfType(recs, "ToolCallCompleted")); n != 3 {
			t.Errorf("%d ToolCallCompleted, want 3 (each step's call ran before the cap)", n)
		}
	})
}

// TestLLM_OfflineIsTheDefault: without OPENAI_BASE_URL (or OPENAI_API_KEY)
// the gateway runs its offline model and mails to the outbox.
func TestLLM_OfflineIsTheDefault(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "embedded")
	if h.App.ModelName != offline.Name {
		t.Errorf("ModelName = %q, want offline", h.App.ModelName)
	}
	if h.App.MailerName != "outbox" {
		t.Errorf("MailerName = %q, want outbox", h.App.MailerName)
	}
	if h.cfg.ModelConfigured {
		t.Errorf("the model counts as configured without OPENAI_BASE_URL")
	}
	owner := h.createWorkspace("Acme", "owner@acme.test")
	c := h.principal(owner)
	id, _ := h.ask(c, "List my tasks")
	for _, s := range recsOfType(h.convStream(id), "ModelStepCompleted") {
		if m := jstr(evData(t, s), "model"); m != offline.Name {
			t.Errorf("a step was answered by %q, want the offline model", m)
		}
	}
}
