package openai

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// sseChunks answers a streaming request with these raw data lines.
func sseChunks(w http.ResponseWriter, lines ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, l := range lines {
		fmt.Fprintf(w, "data: %s\n\n", l)
		w.(http.Flusher).Flush()
	}
}

// TestStreamingPutsTheAnswerTogether: text comes to the caller piece by
// piece, tool calls whose arguments arrive in pieces are put together, and
// the usage of the last chunk is the step's.
func TestStreamingPutsTheAnswerTogether(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		if string(got.raw["stream"]) != "true" || string(got.raw["stream_options"]) != `{"include_usage":true}` {
			t.Errorf("request stream %s, stream_options %s", got.raw["stream"], got.raw["stream_options"])
		}
		sseChunks(w,
			`{"id":"c","model":"gpt-test-1","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me "}}]}`,
			`{"id":"c","choices":[{"index":0,"delta":{"content":"check."}}]}`,
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_7","type":"function","function":{"name":"search_contacts","arguments":"{\"na"}}]}}]}`,
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"me\":\"Ada\"}"}}]}}]}`,
			`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
			`{"id":"c","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":17,"total_tokens":137}}`,
			`[DONE]`)
	})
	m := newModel(t, fastConfig(srv.baseURL()))
	var pieces []string
	resp, err := m.CompleteStreaming(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "Find Ada"}}},
		func(attempt int, text string) { pieces = append(pieces, fmt.Sprintf("%d:%s", attempt, text)) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, "|") != "1:Let me |1:check." || resp.Content != "Let me check." {
		t.Errorf("pieces %v, content %q", pieces, resp.Content)
	}
	if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].ID != "call_7" || string(resp.ToolCalls[0].Arguments) != `{"name":"Ada"}` {
		t.Errorf("tool calls %+v", resp.ToolCalls)
	}
	if resp.Usage != (agent.Usage{InputTokens: 120, OutputTokens: 17}) || resp.Model != "gpt-test-1" || resp.FinishReason != "tool_calls" {
		t.Errorf("usage %+v, model %q, finish %q", resp.Usage, resp.Model, resp.FinishReason)
	}
}

// TestStreamingRetriesAndCountsWithoutUsage: a stream that breaks off is
// tried again, its text starting over under a new attempt number; a
// server that sends no usage is counted by bytes, never as free.
func TestStreamingRetriesAndCountsWithoutUsage(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Ada li\"}}]}\n\n")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-answer
		}
		sseChunks(w, `{"choices":[{"index":0,"delta":{"content":"Ada lives in London."},"finish_reason":"stop"}]}`, `[DONE]`)
	})
	m := newModel(t, fastConfig(srv.baseURL()))
	var pieces []string
	resp, err := m.CompleteStreaming(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "Where does Ada live?"}}},
		func(attempt int, text string) { pieces = append(pieces, fmt.Sprintf("%d:%s", attempt, text)) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, "|") != "1:Ada li|2:Ada lives in London." || resp.Content != "Ada lives in London." {
		t.Errorf("pieces %v, content %q", pieces, resp.Content)
	}
	if resp.Usage.InputTokens <= 0 || resp.Usage.OutputTokens <= 0 {
		t.Errorf("usage without a count from the server = %+v, want an estimate", resp.Usage)
	}
}
