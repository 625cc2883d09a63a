package openai

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeServer is an OpenAI-compatible chat completions server for tests: it
// decodes each request as it arrived on the wire and lets the test answer.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	calls  []received
	answer func(n int, got received, w http.ResponseWriter)
}

// received is one request: decoded, raw (to check absent fields) and when.
type received struct {
	at      time.Time
	auth    string
	req     wireRequest
	raw     map[string]json.RawMessage
	rawBody []byte
	done    <-chan struct{} // closed when the client gives up on the request
}

// wireRequest is the chat completions request as the API documents it,
// declared here rather than borrowed from go-openai so that the tests check
// the JSON that was sent, not the library's view of it.
type wireRequest struct {
	Model               string        `json:"model"`
	Messages            []wireMessage `json:"messages"`
	Tools               []wireTool    `json:"tools"`
	MaxTokens           int           `json:"max_tokens"`
	MaxCompletionTokens int           `json:"max_completion_tokens"`
	Temperature         *float64      `json:"temperature"`
	Stream              bool          `json:"stream"`
}

type wireMessage struct {
	Role       string         `json:"role"`
	Content    *string        `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls"`
	ToolCallID string         `json:"tool_call_id"`
	Name       string         `json:"name"`
}

type wireToolCall struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

func newFakeServer(t *testing.T, answer func(n int, got received, w http.ResponseWriter)) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// baseURL is the server's /v1 base, as a user would configure it.
func (f *fakeServer) baseURL() string { return f.srv.URL + "/v1" }

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"no route","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	got := received{at: time.Now(), auth: r.Header.Get("Authorization"), rawBody: body, done: r.Context().Done()}
	if err := json.Unmarshal(body, &got.req); err != nil {
		f.t.Errorf("request body is not a chat completion request: %v\n%s", err, body)
	}
	if err := json.Unmarshal(body, &got.raw); err != nil {
		f.t.Errorf("request body is not a JSON object: %v", err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, got)
	n := len(f.calls)
	f.mu.Unlock()
	f.answer(n, got, w)
}

func (f *fakeServer) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.calls...)
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// wireReply is a chat completion answer.
type wireReply struct {
	model, content, finish string
	prompt, completion     int
	calls                  []wireToolCall
}

func toolCall(id, name, args string) wireToolCall {
	c := wireToolCall{ID: id, Type: "function"}
	c.Function.Name, c.Function.Arguments = name, args
	return c
}

func writeCompletion(w http.ResponseWriter, r wireReply) {
	msg := map[string]any{"role": "assistant", "content": nil}
	if r.content != "" {
		msg["content"] = r.content
	}
	if len(r.calls) > 0 {
		msg["tool_calls"] = r.calls
	}
	body := map[string]any{
		"id":      "chatcmpl-test",
		"object":  "chat.completion",
		"created": 1700000000,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": r.finish}},
		"usage": map[string]int{
			"prompt_tokens": r.prompt, "completion_tokens": r.completion, "total_tokens": r.prompt + r.completion,
		},
	}
	if r.model != "" {
		body["model"] = r.model
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// writeError answers with OpenAI's error shape.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": nil}})
}
