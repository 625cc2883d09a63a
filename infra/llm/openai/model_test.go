package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

const searchSchema = `{"type":"object","properties":{"query":{"type":"string","description":"free text"}},"required":["query"]}`

var crmTools = []agent.ToolSpec{
	{Name: "search_contacts", Description: "Find contacts by free text.", Parameters: json.RawMessage(searchSchema)},
	{Name: "list_tasks", Description: "List open tasks."}, // no parameters at all
}

// fastConfig is a Config for tests: millisecond backoffs.
func fastConfig(baseURL string) Config {
	return Config{
		BaseURL: baseURL, APIKey: "sk-test-key-0123456789", Model: "gpt-test",
		MaxAttempts: 5, InitialBackoff: 2 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		MaxElapsed: 10 * time.Second,
	}
}

func newModel(t *testing.T, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want %s is not JSON: %v", what, want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s = %s, want %s", what, gb, wb)
	}
}

func roles(msgs []wireMessage) string {
	var rs []string
	for _, m := range msgs {
		rs = append(rs, m.Role)
	}
	return strings.Join(rs, ",")
}

func content(m wireMessage) string {
	if m.Content == nil {
		return "<absent>"
	}
	return *m.Content
}

// TestToolConversation drives a two-round tool conversation the way the
// agent loop does: parallel tool calls, their results, one more call, then
// the final text.
func TestToolConversation(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		switch n {
		case 1:
			writeCompletion(w, wireReply{model: "gpt-test-0613", finish: "tool_calls", prompt: 50, completion: 12, calls: []wireToolCall{
				toolCall("call_1", "search_contacts", `{"query":"Ada"}`),
				toolCall("call_2", "list_tasks", `{}`),
			}})
		case 2:
			writeCompletion(w, wireReply{model: "gpt-test-0613", content: "Adding the task.", finish: "tool_calls", prompt: 80, completion: 9, calls: []wireToolCall{
				toolCall("call_3", "create_task", `{"title":"Call Ada","contact_id":"c-1"}`),
			}})
		default:
			// No model in the answer: the response falls back to the configured name.
			writeCompletion(w, wireReply{content: "I created the task “Call Ada”.", finish: "stop", prompt: 120, completion: 15})
		}
	})
	m := newModel(t, fastConfig(srv.baseURL()))
	ctx := context.Background()
	system := "You are the CRM agent."
	transcript := []agent.Message{{Role: agent.RoleUser, Content: "Find Ada and list my tasks"}}

	// Round 1: two parallel tool calls.
	resp, err := m.Complete(ctx, agent.Request{System: system, Messages: transcript, Tools: crmTools})
	if err != nil {
		t.Fatalf("round 1: %v", err)
	}
	if resp.Model != "gpt-test-0613" || resp.FinishReason != "tool_calls" || resp.Usage != (agent.Usage{InputTokens: 50, OutputTokens: 12}) {
		t.Errorf("round 1 response = %+v", resp)
	}
	if len(resp.ToolCalls) != 2 {
		t.Fatalf("round 1 tool calls = %+v, want 2", resp.ToolCalls)
	}
	if c := resp.ToolCalls[0]; c.ID != "call_1" || c.Name != "search_contacts" {
		t.Errorf("tool call 1 = %+v", c)
	}
	jsonEqual(t, "call 1 arguments", resp.ToolCalls[0].Arguments, []byte(`{"query":"Ada"}`))
	if c := resp.ToolCalls[1]; c.ID != "call_2" || c.Name != "list_tasks" || string(c.Arguments) != "{}" {
		t.Errorf("tool call 2 = %+v", c)
	}

	first := srv.received()[0]
	if first.auth != "Bearer sk-test-key-0123456789" {
		t.Errorf("Authorization = %q", first.auth)
	}
	if first.req.Model != "gpt-test" || first.req.MaxTokens != DefaultMaxTokens || first.req.Stream {
		t.Errorf("request model/max_tokens/stream = %q/%d/%v", first.req.Model, first.req.MaxTokens, first.req.Stream)
	}
	if got := roles(first.req.Messages); got != "system,user" {
		t.Errorf("round 1 roles = %s", got)
	}
	if content(first.req.Messages[0]) != system || content(first.req.Messages[1]) != "Find Ada and list my tasks" {
		t.Errorf("round 1 messages = %+v", first.req.Messages)
	}
	for _, absent := range []string{"tool_choice", "parallel_tool_calls", "functions", "temperature"} {
		if _, ok := first.raw[absent]; ok {
			t.Errorf("request has %q, want it left out: %s", absent, first.rawBody)
		}
	}
	if len(first.req.Tools) != 2 {
		t.Fatalf("tools = %+v", first.req.Tools)
	}
	tool := first.req.Tools[0]
	if tool.Type != "function" || tool.Function.Name != "search_contacts" || tool.Function.Description != "Find contacts by free text." {
		t.Errorf("tool 1 = %+v", tool)
	}
	jsonEqual(t, "search_contacts schema", tool.Function.Parameters, []byte(searchSchema))
	jsonEqual(t, "list_tasks schema", first.req.Tools[1].Function.Parameters, []byte(`{"type":"object","properties":{}}`))

	// Round 2: both results go back, each tied to its call.
	transcript = append(transcript,
		agent.Message{Role: agent.RoleAssistant, ToolCalls: resp.ToolCalls},
		agent.Message{Role: agent.RoleTool, ToolCallID: "call_1", Name: "search_contacts", Content: `[{"id":"c-1","name":"Ada Lovelace"}]`},
		agent.Message{Role: agent.RoleTool, ToolCallID: "call_2", Name: "list_tasks", Content: ""},
	)
	resp, err = m.Complete(ctx, agent.Request{System: system, Messages: transcript, Tools: crmTools, MaxTokens: 256})
	if err != nil {
		t.Fatalf("round 2: %v", err)
	}
	if resp.Content != "Adding the task." || len(resp.ToolCalls) != 1 || resp.ToolCalls[0].ID != "call_3" || resp.ToolCalls[0].Name != "create_task" {
		t.Errorf("round 2 response = %+v", resp)
	}
	second := srv.received()[1]
	if got := roles(second.req.Messages); got != "system,user,assistant,tool,tool" {
		t.Fatalf("round 2 roles = %s", got)
	}
	if second.req.MaxTokens != 256 {
		t.Errorf("max_tokens = %d, want the request's 256", second.req.MaxTokens)
	}
	asst := second.req.Messages[2]
	if len(asst.ToolCalls) != 2 {
		t.Fatalf("assistant message = %+v", asst)
	}
	for i, want := range []struct{ id, name, args string }{{"call_1", "search_contacts", `{"query":"Ada"}`}, {"call_2", "list_tasks", `{}`}} {
		c := asst.ToolCalls[i]
		if c.ID != want.id || c.Type != "function" || c.Function.Name != want.name {
			t.Errorf("assistant tool call %d = %+v", i, c)
		}
		jsonEqual(t, "assistant tool call arguments", []byte(c.Function.Arguments), []byte(want.args))
	}
	if tm := second.req.Messages[3]; tm.ToolCallID != "call_1" || tm.Name != "search_contacts" || content(tm) != `[{"id":"c-1","name":"Ada Lovelace"}]` {
		t.Errorf("tool message 1 = %+v (%s)", tm, content(tm))
	}
	if tm := second.req.Messages[4]; tm.ToolCallID != "call_2" || tm.Name != "list_tasks" || content(tm) != emptyToolResult {
		t.Errorf("tool message 2 = %+v (%s); an empty result must still have content", tm, content(tm))
	}

	// Round 3: the final answer.
	transcript = append(transcript,
		agent.Message{Role: agent.RoleAssistant, Content: resp.Content, ToolCalls: resp.ToolCalls},
		agent.Message{Role: agent.RoleTool, ToolCallID: "call_3", Name: "create_task", Content: `{"id":"t-9"}`},
	)
	resp, err = m.Complete(ctx, agent.Request{System: system, Messages: transcript, Tools: crmTools})
	if err != nil {
		t.Fatalf("round 3: %v", err)
	}
	want := agent.Response{Model: "gpt-test", Content: "I created the task “Call Ada”.", FinishReason: "stop", Usage: agent.Usage{InputTokens: 120, OutputTokens: 15}}
	if resp.Model != want.Model || resp.Content != want.Content || resp.FinishReason != want.FinishReason || resp.Usage != want.Usage || len(resp.ToolCalls) != 0 {
		t.Errorf("round 3 response = %+v, want %+v", resp, want)
	}
	third := srv.received()[2]
	if got := roles(third.req.Messages); got != "system,user,assistant,tool,tool,assistant,tool" {
		t.Errorf("round 3 roles = %s", got)
	}
	if a := third.req.Messages[5]; content(a) != "Adding the task." || len(a.ToolCalls) != 1 || a.ToolCalls[0].ID != "call_3" {
		t.Errorf("round 3 assistant message = %+v", a)
	}
	if srv.count() != 3 {
		t.Errorf("server saw %d calls, want 3", srv.count())
	}
}

// TestInvalidArgumentsPassThrough: a model's arguments that are not JSON
// reach the tool as a JSON string, and go back to the model unchanged.
func TestInvalidArgumentsPassThrough(t *testing.T) {
	const broken = `{"query": "Ada` // cut short, as small models do
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		if n == 1 {
			writeCompletion(w, wireReply{model: "llama3.1", finish: "tool_calls", calls: []wireToolCall{
				toolCall("call_a", "search_contacts", broken),
				toolCall("", "list_tasks", ""), // no id, no arguments (some local servers)
			}})
			return
		}
		writeCompletion(w, wireReply{model: "llama3.1", content: "ok", finish: "stop"})
	})
	m := newModel(t, fastConfig(srv.baseURL()))
	msgs := []agent.Message{{Role: agent.RoleUser, Content: "find Ada"}}
	resp, err := m.Complete(context.Background(), agent.Request{Messages: msgs, Tools: crmTools})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) != 2 {
		t.Fatalf("tool calls = %+v", resp.ToolCalls)
	}
	var s string
	if err := json.Unmarshal(resp.ToolCalls[0].Arguments, &s); err != nil || s != broken {
		t.Errorf("arguments = %s, want the JSON string %q", resp.ToolCalls[0].Arguments, broken)
	}
	if c := resp.ToolCalls[1]; c.ID != "call_1_2" || string(c.Arguments) != "{}" {
		t.Errorf("call without id/arguments = %+v, want id call_1_2 and {}", c)
	}

	msgs = append(msgs, agent.Message{Role: agent.RoleAssistant, ToolCalls: resp.ToolCalls},
		agent.Message{Role: agent.RoleTool, ToolCallID: "call_a", Name: "search_contacts", Content: `{"error":"arguments are not JSON"}`},
		agent.Message{Role: agent.RoleTool, ToolCallID: "call_1_2", Name: "list_tasks", Content: `[]`})
	if _, err := m.Complete(context.Background(), agent.Request{Messages: msgs, Tools: crmTools}); err != nil {
		t.Fatal(err)
	}
	echoed := srv.received()[1].req.Messages[1].ToolCalls
	if len(echoed) != 2 || echoed[0].Function.Arguments != broken || echoed[1].ID != "call_1_2" {
		t.Errorf("echoed tool calls = %+v, want the model's own text back", echoed)
	}
}

// TestLocalServerOptions: no key means no Authorization header (Ollama,
// vLLM, llama.cpp), and the sampling options reach the wire.
func TestLocalServerOptions(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		writeCompletion(w, wireReply{model: got.req.Model, content: "hi", finish: "stop"})
	})
	zero := float32(0)
	cfg := fastConfig(srv.baseURL() + "/") // a trailing slash is tolerated
	cfg.APIKey, cfg.Model, cfg.Temperature, cfg.MaxTokens = "", "llama3.1:8b", &zero, 300
	m := newModel(t, cfg)
	if m.Name() != "llama3.1:8b" {
		t.Errorf("Name = %q", m.Name())
	}
	resp, err := m.Complete(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "hi" || resp.Model != "llama3.1:8b" {
		t.Errorf("response = %+v", resp)
	}
	got := srv.received()[0]
	if got.auth != "" {
		t.Errorf("Authorization = %q, want none without a key", got.auth)
	}
	if _, ok := got.raw["tools"]; ok {
		t.Errorf("tools sent without tools: %s", got.rawBody)
	}
	if got.req.Temperature == nil || *got.req.Temperature < 0 || *got.req.Temperature > 1e-6 {
		t.Errorf("temperature = %v, want (nearly) 0 sent", got.req.Temperature)
	}
	if got.req.MaxTokens != 300 || got.req.MaxCompletionTokens != 0 {
		t.Errorf("max_tokens = %d, max_completion_tokens = %d", got.req.MaxTokens, got.req.MaxCompletionTokens)
	}
	if got.req.Messages[0].Role != "user" {
		t.Errorf("no system prompt given, yet messages = %+v", got.req.Messages)
	}

	// OpenAI's reasoning models take max_completion_tokens instead.
	cfg.Model, cfg.Temperature = "o4-mini", nil
	m = newModel(t, cfg)
	if _, err := m.Complete(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hello"}}}); err != nil {
		t.Fatal(err)
	}
	if got := srv.received()[1]; got.req.MaxTokens != 0 || got.req.MaxCompletionTokens != 300 {
		t.Errorf("reasoning model: max_tokens = %d, max_completion_tokens = %d", got.req.MaxTokens, got.req.MaxCompletionTokens)
	}
}

func TestInvalidRequestIsNotSent(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) { writeCompletion(w, wireReply{content: "x"}) })
	m := newModel(t, fastConfig(srv.baseURL()))
	for name, req := range map[string]agent.Request{
		"schema not JSON": {Messages: []agent.Message{{Role: agent.RoleUser, Content: "x"}}, Tools: []agent.ToolSpec{{Name: "t", Parameters: json.RawMessage(`{nope`)}}},
		"unknown role":    {Messages: []agent.Message{{Role: "robot", Content: "x"}}},
	} {
		_, err := m.Complete(context.Background(), req)
		var e *Error
		if !asError(err, &e) || e.Attempts != 0 || e.Transient || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: err = %v, want an invalid-request *Error", name, err)
		}
	}
	if srv.count() != 0 {
		t.Errorf("server saw %d calls for invalid requests", srv.count())
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{BaseURL: "http://localhost:11434/v1"}); err == nil || !strings.Contains(err.Error(), "GATEWAY_MODEL") {
		t.Errorf("New without a model: err = %v", err)
	}
	if _, err := New(Config{BaseURL: "localhost:11434", Model: "m"}); err == nil {
		t.Error("New accepted a base URL without a scheme")
	}
	m, err := New(Config{Model: " gpt-4o-mini "})
	if err != nil {
		t.Fatal(err)
	}
	if m.endpoint != DefaultBaseURL || m.Name() != "gpt-4o-mini" || m.cfg.MaxAttempts != DefaultMaxAttempts ||
		m.cfg.InitialBackoff != DefaultInitialBackoff || m.cfg.MaxBackoff != DefaultMaxBackoff ||
		m.cfg.MaxElapsed != DefaultMaxElapsed || m.cfg.MaxTokens != DefaultMaxTokens {
		t.Errorf("defaults not applied: %+v", m.cfg)
	}
	m, err = New(Config{BaseURL: "https://user:secret@gw.example.com/openai/v1", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if m.endpoint != "https://gw.example.com/openai/v1" || m.hostPort != "gw.example.com:443" {
		t.Errorf("endpoint %q, hostPort %q: credentials must not be shown", m.endpoint, m.hostPort)
	}
}

// TestRefusedBeforeSending: go-openai refuses some requests itself (here a
// sampling option OpenAI's reasoning models reject); that is reported as an
// invalid request, not as a network problem, and not retried.
func TestRefusedBeforeSending(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) { writeCompletion(w, wireReply{content: "x"}) })
	cfg := fastConfig(srv.baseURL())
	temp := float32(0.5)
	cfg.Model, cfg.Temperature = "o3-mini", &temp
	_, err := newModel(t, cfg).Complete(context.Background(), hello)
	e := mustError(t, err)
	if srv.count() != 0 || e.Attempts != 1 || e.Transient || !strings.Contains(err.Error(), "the request for the language model is invalid") || !strings.Contains(err.Error(), `"o3-mini"`) {
		t.Errorf("err = %v (%+v) after %d calls", err, e, srv.count())
	}
}
