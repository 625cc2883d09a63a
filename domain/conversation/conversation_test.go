package conversation_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/es/estest"
)

var (
	t0  = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	lim = conversation.Limits{MaxSteps: 3, MaxToolCalls: 4}
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func opened() *conversation.Opened {
	return &conversation.Opened{ConversationID: "c-1", WorkspaceID: "ws-1", UserID: "u-1", APIKeyID: "k-1",
		Message: "Find Ada", OpenedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
}

func step(n int, content string, in, out int, d time.Duration) *conversation.ModelStepCompleted {
	return &conversation.ModelStepCompleted{Step: n, Model: "m", Content: content, FinishReason: "stop",
		Usage: agent.Usage{InputTokens: in, OutputTokens: out}, LatencyMS: 5, CompletedAt: at(d)}
}

func requested(key string, n int, callID, name, args string) *conversation.ToolCallRequested {
	return &conversation.ToolCallRequested{Key: key, Step: n, CallID: callID, Name: name, Arguments: json.RawMessage(args)}
}

func completed(key, name, result string, d time.Duration) *conversation.ToolCallCompleted {
	return &conversation.ToolCallCompleted{Key: key, Name: name, Result: result, DurationMS: 3, CompletedAt: at(d)}
}

func toolResp(calls ...agent.ToolCall) agent.Response {
	return agent.Response{Model: "m", ToolCalls: calls, FinishReason: "tool_calls", Usage: agent.Usage{InputTokens: 10, OutputTokens: 2}}
}

func params(msg string) conversation.OpenParams {
	return conversation.OpenParams{ConversationID: "c-1", WorkspaceID: "ws-1", UserID: "u-1", APIKeyID: "k-1", Message: msg, Now: t0}
}

func TestOpen(t *testing.T) {
	t.Run("records the message and when it expires", func(t *testing.T) {
		p := params("Find Ada")
		p.Context = &conversation.Context{EntityType: "contact", EntityID: "42"}
		p.Metadata = json.RawMessage(`{"ticket":7}`)
		p.ResponseURL = "https://hooks.example/in"
		facts, err := conversation.Open(p)
		want := opened()
		want.Context = &conversation.Context{EntityType: "contact", EntityID: "42"}
		want.Metadata = json.RawMessage(`{"ticket":7}`)
		want.ResponseURL = "https://hooks.example/in"
		estest.ThenFacts(t, facts, err, want)
		if got := facts[0].(*conversation.Opened).ExpiresAt; !got.Equal(t0.Add(24 * time.Hour)) {
			t.Fatalf("ExpiresAt = %v", got)
		}
	})
	t.Run("an empty context is dropped", func(t *testing.T) {
		p := params("Find Ada")
		p.Context = &conversation.Context{}
		facts, err := conversation.Open(p)
		estest.ThenFacts(t, facts, err, opened())
	})
	t.Run("message is required", func(t *testing.T) {
		for _, m := range []string{"", " ", "\n\t  \r\n"} {
			facts, err := conversation.Open(params(m))
			estest.ThenInvalid(t, facts, err, "message")
		}
	})
	t.Run("message length counts characters", func(t *testing.T) {
		max := strings.Repeat("日", conversation.MaxMessageChars) // 30,000 bytes
		if utf8.RuneCountInString(max) != 10000 {
			t.Fatal("bad fixture")
		}
		facts, err := conversation.Open(params(max))
		if err != nil || facts[0].(*conversation.Opened).Message != max {
			t.Fatalf("10,000 characters refused: %v", err)
		}
		facts, err = conversation.Open(params(max + "a"))
		estest.ThenInvalid(t, facts, err, "message")
		if !strings.Contains(err.Error(), "it has 10001") {
			t.Fatalf("error does not say the length: %v", err)
		}
	})
	t.Run("context hints are at most 200 characters", func(t *testing.T) {
		ok := strings.Repeat("ä", conversation.MaxHintChars)
		p := params("hi")
		p.Context = &conversation.Context{EntityType: ok, EntityID: ok, Action: ok}
		if _, err := conversation.Open(p); err != nil {
			t.Fatalf("200 characters refused: %v", err)
		}
		for field, c := range map[string]conversation.Context{
			"context.entity_type": {EntityType: ok + "x"},
			"context.entity_id":   {EntityID: ok + "x"},
			"context.action":      {Action: ok + "x"},
		} {
			p.Context = &c
			facts, err := conversation.Open(p)
			estest.ThenInvalid(t, facts, err, field)
		}
	})
}

func TestNext(t *testing.T) {
	cases := []struct {
		name  string
		given []es.Fact
		want  conversation.Next
	}{
		{"nothing yet", nil, conversation.Next{}},
		{"opened: step 1", []es.Fact{opened()}, conversation.Next{ModelStep: 1}},
		{"processing: still step 1", []es.Fact{opened(), &conversation.ProcessingStarted{StartedAt: at(1)}}, conversation.Next{ModelStep: 1}},
		{"tool calls pending", []es.Fact{opened(), step(1, "", 1, 1, 2), requested("1.1", 1, "a", "lookup", `{}`), requested("1.2", 1, "b", "lookup", `{}`)},
			conversation.Next{ToolCalls: []string{"1.1", "1.2"}}},
		{"one tool call left", []es.Fact{opened(), step(1, "", 1, 1, 2), requested("1.1", 1, "a", "lookup", `{}`), requested("1.2", 1, "b", "lookup", `{}`),
			completed("1.1", "lookup", "ok", 3)}, conversation.Next{ToolCalls: []string{"1.2"}}},
		{"all results in: step 2", []es.Fact{opened(), step(1, "", 1, 1, 2), requested("1.1", 1, "a", "lookup", `{}`), requested("1.2", 1, "b", "lookup", `{}`),
			completed("1.2", "lookup", "ok", 3), completed("1.1", "lookup", "ok", 4)}, conversation.Next{ModelStep: 2}},
		{"resolved: nothing", []es.Fact{opened(), step(1, "Hi", 1, 1, 2), &conversation.Resolved{Reply: "Hi", ResolvedAt: at(2)}}, conversation.Next{}},
		{"failed with tool calls pending: nothing", []es.Fact{opened(), step(1, "", 1, 1, 2), requested("1.1", 1, "a", "lookup", `{}`),
			&conversation.Failed{Code: conversation.CodeStalled, FailedAt: at(3)}}, conversation.Next{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := estest.Given[conversation.Conversation](c.given...).Next(); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Next() = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestStartProcessing(t *testing.T) {
	c := estest.Given[conversation.Conversation](opened())
	estest.ThenFacts(t, c.StartProcessing(at(1)), nil, &conversation.ProcessingStarted{StartedAt: at(1)})

	for name, facts := range map[string][]es.Fact{
		"twice":      {opened(), &conversation.ProcessingStarted{StartedAt: at(1)}},
		"resolved":   {opened(), step(1, "Hi", 1, 1, 2), &conversation.Resolved{Reply: "Hi", ResolvedAt: at(2)}},
		"failed":     {opened(), &conversation.Failed{Code: conversation.CodeStalled, FailedAt: at(2)}},
		"not opened": nil,
	} {
		if got := estest.Given[conversation.Conversation](facts...).StartProcessing(at(3)); got != nil {
			t.Fatalf("%s: StartProcessing = %s", name, estest.Render(got))
		}
	}
}

func TestRecordModelStep(t *testing.T) {
	processing := []es.Fact{opened(), &conversation.ProcessingStarted{StartedAt: at(1)}}

	t.Run("a step that is not due is nothing to do", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](processing...)
		for _, n := range []int{0, 2, -1} {
			facts, err := c.RecordModelStep(n, agent.Response{Content: "Hi"}, time.Second, nil, lim, at(2))
			estest.ThenError(t, facts, err, conversation.ErrNothingToDo)
		}
		c = estest.Given[conversation.Conversation](append(processing, step(1, "", 1, 1, 2), requested("1.1", 1, "a", "lookup", `{}`))...)
		for _, n := range []int{1, 2} {
			facts, err := c.RecordModelStep(n, agent.Response{Content: "Hi"}, time.Second, nil, lim, at(3))
			estest.ThenError(t, facts, err, conversation.ErrNothingToDo)
		}
		c = estest.Given[conversation.Conversation](append(processing, step(1, "Hi", 1, 1, 2), &conversation.Resolved{Reply: "Hi", ResolvedAt: at(2)})...)
		facts, err := c.RecordModelStep(2, agent.Response{Content: "Again"}, time.Second, nil, lim, at(3))
		estest.ThenError(t, facts, err, conversation.ErrNothingToDo)
	})

	t.Run("tool calls get keys of their own even when the model reuses call ids", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](processing...)
		resp := toolResp(
			agent.ToolCall{ID: "call_0", Name: "search_contacts", Arguments: json.RawMessage(`{"city":"Berlin"}`)},
			agent.ToolCall{ID: "call_0", Name: "create_task", Arguments: json.RawMessage(`{"title":"Call"}`)},
		)
		resp.Content = "Let me look."
		facts, err := c.RecordModelStep(1, resp, 1500*time.Millisecond, nil, lim, at(2))
		estest.ThenFacts(t, facts, err,
			&conversation.ModelStepCompleted{Step: 1, Model: "m", Content: "Let me look.", FinishReason: "tool_calls",
				Usage: agent.Usage{InputTokens: 10, OutputTokens: 2}, LatencyMS: 1500, CompletedAt: at(2)},
			requested("1.1", 1, "call_0", "search_contacts", `{"city":"Berlin"}`),
			requested("1.2", 1, "call_0", "create_task", `{"title":"Call"}`))

		// The second step's keys start with its number.
		c = estest.Given[conversation.Conversation](append(processing, facts...)...)
		c.Apply(completed("1.1", "search_contacts", "[]", 3))
		c.Apply(completed("1.2", "create_task", "ok", 3))
		facts, err = c.RecordModelStep(2, toolResp(agent.ToolCall{ID: "call_0", Name: "search_contacts", Arguments: json.RawMessage(`{}`)}), 0, nil, lim, at(4))
		estest.ThenFacts(t, facts, err,
			&conversation.ModelStepCompleted{Step: 2, Model: "m", FinishReason: "tool_calls",
				Usage: agent.Usage{InputTokens: 10, OutputTokens: 2}, CompletedAt: at(4)},
			requested("2.1", 2, "call_0", "search_contacts", `{}`))
	})

	t.Run("invalid arguments are kept as a JSON string", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](processing...)
		facts, err := c.RecordModelStep(1, toolResp(
			agent.ToolCall{ID: "a", Name: "search_contacts", Arguments: json.RawMessage(`{"city": "Berl`)},
			agent.ToolCall{ID: "b", Name: "search_contacts", Arguments: nil},
		), 0, nil, lim, at(2))
		estest.ThenFacts(t, facts, err,
			&conversation.ModelStepCompleted{Step: 1, Model: "m", FinishReason: "tool_calls",
				Usage: agent.Usage{InputTokens: 10, OutputTokens: 2}, CompletedAt: at(2)},
			requested("1.1", 1, "a", "search_contacts", `"{\"city\": \"Berl"`),
			requested("1.2", 1, "b", "search_contacts", `""`))
		for _, f := range facts[1:] {
			if !json.Valid(f.(*conversation.ToolCallRequested).Arguments) {
				t.Fatalf("arguments are not JSON: %s", f.(*conversation.ToolCallRequested).Arguments)
			}
		}
	})

	t.Run("a text answer resolves, trimmed", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](processing...)
		resp := agent.Response{Model: "m", Content: "\n  Ada lives in London.  \n", FinishReason: "stop", Usage: agent.Usage{InputTokens: 7, OutputTokens: 5}}
		facts, err := c.RecordModelStep(1, resp, 20*time.Millisecond, nil, lim, at(2))
		estest.ThenFacts(t, facts, err,
			&conversation.ModelStepCompleted{Step: 1, Model: "m", Content: "\n  Ada lives in London.  \n", FinishReason: "stop",
				Usage: agent.Usage{InputTokens: 7, OutputTokens: 5}, LatencyMS: 20, CompletedAt: at(2)},
			&conversation.Resolved{Reply: "Ada lives in London.", Outcome: agent.OutcomeCompleted, ResolvedAt: at(2)})
	})

	t.Run("an empty answer fails", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](processing...)
		facts, err := c.RecordModelStep(1, agent.Response{Model: "m", Content: " \n ", FinishReason: "stop"}, 0, nil, lim, at(2))
		estest.ThenFacts(t, facts, err,
			&conversation.ModelStepCompleted{Step: 1, Model: "m", Content: " \n ", FinishReason: "stop", CompletedAt: at(2)},
			&conversation.Failed{Code: conversation.CodeEmptyReply, Reason: "The language model returned an empty answer.", FailedAt: at(2)})
	})

	t.Run("the step cap ends the conversation", func(t *testing.T) {
		facts := append([]es.Fact{}, processing...)
		for n := 1; n <= lim.MaxSteps; n++ {
			facts = append(facts, step(n, "", 1, 1, time.Duration(n)), requested(stepKey(n), n, "x", "lookup", `{}`),
				completed(stepKey(n), "lookup", "ok", time.Duration(n)))
		}
		c := estest.Given[conversation.Conversation](facts...)
		if c.Next().ModelStep != lim.MaxSteps+1 {
			t.Fatalf("Next = %+v", c.Next())
		}
		want := &conversation.Failed{Code: conversation.CodeStepLimit, FailedAt: at(9),
			Reason: "The agent stopped after 3 model steps (the step limit) without finishing your request."}
		got, err := c.CheckModelStep(lim.MaxSteps+1, lim, at(9))
		estest.ThenFacts(t, got, err, want)
		got, err = c.RecordModelStep(lim.MaxSteps+1, agent.Response{Content: "Done"}, 0, nil, lim, at(9))
		estest.ThenFacts(t, got, err, want)

		// No cap: the step may run.
		got, err = c.CheckModelStep(lim.MaxSteps+1, conversation.Limits{}, at(9))
		estest.ThenFacts(t, got, err)
	})

	t.Run("the tool call cap ends the conversation", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](append(processing, step(1, "", 1, 1, 2),
			requested("1.1", 1, "a", "lookup", `{}`), requested("1.2", 1, "b", "lookup", `{}`), requested("1.3", 1, "c", "lookup", `{}`),
			completed("1.1", "lookup", "ok", 3), completed("1.2", "lookup", "ok", 3), completed("1.3", "lookup", "ok", 3))...)
		// 3 done + 1 more = 4 = the cap: allowed.
		one := toolResp(agent.ToolCall{ID: "d", Name: "lookup", Arguments: json.RawMessage(`{}`)})
		facts, err := c.RecordModelStep(2, one, 0, nil, lim, at(4))
		if err != nil || len(facts) != 2 {
			t.Fatalf("at the cap:%s %v", estest.Render(facts), err)
		}
		// 3 done + 2 more = 5 > 4: refused, no tool call is requested.
		two := toolResp(agent.ToolCall{ID: "d", Name: "lookup", Arguments: json.RawMessage(`{}`)},
			agent.ToolCall{ID: "e", Name: "lookup", Arguments: json.RawMessage(`{}`)})
		facts, err = c.RecordModelStep(2, two, 0, nil, lim, at(4))
		estest.ThenFacts(t, facts, err,
			&conversation.ModelStepCompleted{Step: 2, Model: "m", FinishReason: "tool_calls",
				Usage: agent.Usage{InputTokens: 10, OutputTokens: 2}, CompletedAt: at(4)},
			&conversation.Failed{Code: conversation.CodeToolCallLimit, FailedAt: at(4),
				Reason: "The agent asked for more than 4 tool calls (the tool call limit) without finishing your request."})
	})
}

func stepKey(n int) string { return string(rune('0'+n)) + ".1" }

func TestRecordToolResult(t *testing.T) {
	base := []es.Fact{opened(), &conversation.ProcessingStarted{StartedAt: at(1)}, step(1, "", 1, 1, 2),
		requested("1.1", 1, "call_a", "search_contacts", `{}`), requested("1.2", 1, "call_b", "create_task", `{}`)}

	t.Run("records the result under the call's name", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](base...)
		facts, err := c.RecordToolResult("1.2", `{"error":"bad"}`, true, 1234*time.Millisecond, nil, at(3))
		estest.ThenFacts(t, facts, err, &conversation.ToolCallCompleted{Key: "1.2", Name: "create_task", Result: `{"error":"bad"}`,
			IsError: true, DurationMS: 1234, CompletedAt: at(3)})
	})
	t.Run("unknown or finished calls are nothing to do", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](append(base, completed("1.1", "search_contacts", "[]", 3))...)
		for _, key := range []string{"1.1", "1.3", "2.1", "", "call_a"} {
			facts, err := c.RecordToolResult(key, "x", false, 0, nil, at(4))
			estest.ThenError(t, facts, err, conversation.ErrNothingToDo)
		}
		c = estest.Given[conversation.Conversation](append(base, &conversation.Failed{Code: conversation.CodeStalled, FailedAt: at(3)})...)
		facts, err := c.RecordToolResult("1.2", "x", false, 0, nil, at(4))
		estest.ThenError(t, facts, err, conversation.ErrNothingToDo)
	})
	t.Run("a result of exactly the limit is kept whole", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](base...)
		r := strings.Repeat("a", conversation.MaxToolResultBytes)
		facts, err := c.RecordToolResult("1.1", r, false, 0, nil, at(3))
		estest.ThenFacts(t, facts, err, &conversation.ToolCallCompleted{Key: "1.1", Name: "search_contacts", Result: r, CompletedAt: at(3)})

		facts, err = c.RecordToolResult("1.1", r+"b", false, 0, nil, at(3))
		estest.ThenFacts(t, facts, err, &conversation.ToolCallCompleted{Key: "1.1", Name: "search_contacts", Result: r, Truncated: true, CompletedAt: at(3)})
	})
	t.Run("a long result is cut on a character boundary", func(t *testing.T) {
		c := estest.Given[conversation.Conversation](base...)
		// "ab" then 3-byte characters: 16384 = 2 + 3*5460 + 2, so the
		// limit falls inside the 5461st "€".
		r := "ab" + strings.Repeat("€", conversation.MaxToolResultBytes/3+10)
		facts, err := c.RecordToolResult("1.1", r, false, 0, nil, at(3))
		if err != nil || len(facts) != 1 {
			t.Fatalf("%s %v", estest.Render(facts), err)
		}
		got := facts[0].(*conversation.ToolCallCompleted)
		want := "ab" + strings.Repeat("€", 5460)
		if got.Result != want || !got.Truncated || !utf8.ValidString(got.Result) {
			t.Fatalf("result of %d bytes (truncated=%v), want %d bytes", len(got.Result), got.Truncated, len(want))
		}
		if len(got.Result) != conversation.MaxToolResultBytes-2 {
			t.Fatalf("len = %d", len(got.Result))
		}
	})
}

func TestFail(t *testing.T) {
	c := estest.Given[conversation.Conversation](opened(), &conversation.ProcessingStarted{StartedAt: at(1)})
	facts, err := c.Fail(conversation.CodeModelError, "The model is down.", at(2))
	estest.ThenFacts(t, facts, err, &conversation.Failed{Code: conversation.CodeModelError, Reason: "The model is down.", FailedAt: at(2)})

	for name, past := range map[string][]es.Fact{
		"resolved":   {opened(), step(1, "Hi", 1, 1, 2), &conversation.Resolved{Reply: "Hi", ResolvedAt: at(2)}},
		"failed":     {opened(), &conversation.Failed{Code: conversation.CodeStalled, FailedAt: at(2)}},
		"not opened": nil,
	} {
		facts, err := estest.Given[conversation.Conversation](past...).Fail(conversation.CodeStalled, "late", at(3))
		if !errors.Is(err, conversation.ErrNothingToDo) || facts != nil {
			t.Fatalf("%s: %s %v", name, estest.Render(facts), err)
		}
	}
}

func TestApplyFoldsTheWholeLife(t *testing.T) {
	c := estest.Given[conversation.Conversation](opened(), &conversation.ProcessingStarted{StartedAt: at(1)},
		step(1, "Looking", 10, 3, 2), requested("1.1", 1, "call_a", "search_contacts", `{"q":"Ada"}`),
		completed("1.1", "search_contacts", "[Ada]", 3),
		step(2, "Ada is in London.", 20, 6, 4), &conversation.Resolved{Reply: "Ada is in London.", ResolvedAt: at(4)})
	if c.Status != conversation.StatusResolved || c.Steps != 2 || c.ToolCalls != 1 || c.Reply != "Ada is in London." ||
		c.Usage != (agent.Usage{InputTokens: 30, OutputTokens: 9}) || !c.EndedAt.Equal(at(4)) || !c.LastProgressAt.Equal(at(4)) ||
		len(c.Pending) != 0 || !c.Status.Terminal() {
		t.Fatalf("state = %+v", c)
	}
	if !conversation.StatusFailed.Terminal() || conversation.StatusOpen.Terminal() || conversation.StatusProcessing.Terminal() {
		t.Fatal("Terminal")
	}
	if conversation.Stream("c-1") != "conversation-c-1" {
		t.Fatal("Stream")
	}
}

func TestModelMessages(t *testing.T) {
	o := opened()
	o.Context = &conversation.Context{EntityType: "contact", EntityID: "42"}
	o.Metadata = json.RawMessage(`{"ticket":7}`)
	c := estest.Given[conversation.Conversation](o, &conversation.ProcessingStarted{StartedAt: at(1)},
		step(1, "Let me look.", 1, 1, 2),
		requested("1.1", 1, "call_0", "search_contacts", `{"name":"Ada"}`),
		requested("1.2", 1, "call_0", "list_tasks", `{}`),
		completed("1.2", "list_tasks", "[]", 3),
		completed("1.1", "search_contacts", `[{"name":"Ada"}]`, 3),
		step(2, "", 1, 1, 4),
		requested("2.1", 2, "call_1", "create_task", `{"title":"Call Ada"}`))
	if !c.IsPending("2.1") || c.IsPending("1.1") {
		t.Fatalf("pending = %v", c.Pending)
	}
	want := []agent.Message{
		{Role: agent.RoleUser, Content: "Find Ada\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"42\"}\nMetadata: {\"ticket\":7}"},
		{Role: agent.RoleAssistant, Content: "Let me look.", ToolCalls: []agent.ToolCall{
			{ID: "call_0", Name: "search_contacts", Arguments: json.RawMessage(`{"name":"Ada"}`)},
			{ID: "call_0", Name: "list_tasks", Arguments: json.RawMessage(`{}`)},
		}},
		{Role: agent.RoleTool, ToolCallID: "call_0", Name: "list_tasks", Content: "[]"},
		{Role: agent.RoleTool, ToolCallID: "call_0", Name: "search_contacts", Content: `[{"name":"Ada"}]`},
		{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{
			{ID: "call_1", Name: "create_task", Arguments: json.RawMessage(`{"title":"Call Ada"}`)},
		}},
	}
	if got := c.ModelMessages(); !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("ModelMessages =\n%s\nwant\n%s", g, w)
	}

	t.Run("empty metadata and no context add no lines", func(t *testing.T) {
		for _, md := range []string{"", "{}", "null"} {
			o := opened()
			o.Metadata = json.RawMessage(md)
			c := estest.Given[conversation.Conversation](o)
			if got := c.ModelMessages(); !reflect.DeepEqual(got, []agent.Message{{Role: agent.RoleUser, Content: "Find Ada"}}) {
				t.Fatalf("metadata %q: %+v", md, got)
			}
		}
	})
}

func TestEventsRoundTrip(t *testing.T) {
	o := opened()
	o.Context = &conversation.Context{Action: "follow_up"}
	o.Metadata = json.RawMessage(`{"a":[1,2]}`)
	all := []es.Fact{o, &conversation.ProcessingStarted{StartedAt: t0}, step(1, "x", 1, 2, 0),
		requested("1.1", 1, "c", "n", `{"k":"v"}`), completed("1.1", "n", "r", 0),
		&conversation.Resolved{Reply: "x", ResolvedAt: t0}, &conversation.Failed{Code: "C", Reason: "R", FailedAt: t0}}
	for _, f := range all {
		ev, err := es.NewEvent("id", f, es.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := conversation.Events.Decode(es.Recorded{Stream: "conversation-c-1", Type: ev.Type, Data: ev.Data})
		if err != nil || !reflect.DeepEqual(back, f) {
			t.Fatalf("round trip of %s = %+v, %v", f.EventType(), back, err)
		}
	}
}

// Cancelling ends a running conversation once; the step in flight then
// has its answer recorded as discarded, once, and no other step's.
func TestCancel(t *testing.T) {
	claimed := &conversation.ModelStepStarted{Step: 1, StartedAt: at(1)}
	c := estest.Given[conversation.Conversation](opened(), claimed)
	facts, err := c.Cancel(at(2))
	estest.ThenFacts(t, facts, err, &conversation.Failed{Code: conversation.CodeCancelled, FailedAt: at(2),
		Reason: "The conversation was cancelled at the caller's request; nothing more was done after that."})

	cancelled := estest.Given[conversation.Conversation](append([]es.Fact{opened(), claimed}, facts...)...)
	_, err = cancelled.Cancel(at(3))
	estest.ThenError(t, nil, err, conversation.ErrEnded)
	resp := toolResp(agent.ToolCall{ID: "call_1", Name: "create_contact", Arguments: json.RawMessage(`{}`)})
	if _, err := cancelled.RecordModelStep(1, resp, time.Second, nil, lim, at(4)); !errors.Is(err, conversation.ErrNothingToDo) {
		t.Fatalf("a cancelled conversation recorded a step: %v", err)
	}
	_, err = cancelled.DiscardModelStep(2, resp, time.Second, at(4))
	estest.ThenError(t, nil, err, conversation.ErrNothingToDo)
	discarded, err := cancelled.DiscardModelStep(1, resp, time.Second, at(4))
	estest.ThenFacts(t, discarded, err, &conversation.ModelStepDiscarded{Step: 1, Model: "m", Usage: resp.Usage,
		LatencyMS: 1000, DiscardedAt: at(4)})
	cancelled.Apply(discarded[0])
	_, err = cancelled.DiscardModelStep(1, resp, time.Second, at(5))
	estest.ThenError(t, nil, err, conversation.ErrNothingToDo)

	ended := estest.Given[conversation.Conversation](opened(), &conversation.Failed{Code: conversation.CodeStepLimit, FailedAt: at(1)})
	_, err = ended.Cancel(at(2))
	estest.ThenError(t, nil, err, conversation.ErrEnded)
}
