package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// This file holds what the LLM end-to-end tests (agent_llm_test.go) share:
// an OpenAI-compatible chat completions server that answers from a script,
// a real SMTP server, and small readers of the event log.

// ---- the scripted OpenAI-compatible server ----

const (
	// llmModel is the model name the gateway is configured with
	// (GATEWAY_MODEL) and sends in every request.
	llmModel = "scripted-model"
	// llmServedModel is the exact model the server says answered; the
	// gateway records it on each ModelStepCompleted.
	llmServedModel = "scripted-model-2026-01-15"
	// llmAPIKey is the bearer token the server expects.
	llmAPIKey = "sk-test-llm-0123456789abcdefABCDEF"
)

// llmRequest is the chat completions request as it arrived on the wire,
// declared here (not borrowed from go-openai) so the tests check the JSON
// the gateway sent.
type llmRequest struct {
	Model     string       `json:"model"`
	Messages  []llmMessage `json:"messages"`
	Tools     []llmTool    `json:"tools"`
	MaxTokens int          `json:"max_tokens"`
	Stream    bool         `json:"stream"`
}

type llmMessage struct {
	Role       string            `json:"role"`
	Content    *string           `json:"content"`
	ToolCalls  []llmWireToolCall `json:"tool_calls"`
	ToolCallID string            `json:"tool_call_id"`
	Name       string            `json:"name"`
}

func (m llmMessage) text() string {
	if m.Content == nil {
		return ""
	}
	return *m.Content
}

type llmWireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type llmTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// firstUser is the first user message: the key of the conversation's script.
func (r llmRequest) firstUser() string {
	for _, m := range r.Messages {
		if m.Role == "user" {
			return m.text()
		}
	}
	return ""
}

// step is the number of the model step this request is for: one more than
// the assistant turns already in the transcript.
func (r llmRequest) step() int {
	n := 1
	for _, m := range r.Messages {
		if m.Role == "assistant" {
			n++
		}
	}
	return n
}

// toolResult decodes the content of the last tool message with the
// given tool_call_id ("" for the last tool message of all).
func (r llmRequest) toolResult(callID string) (map[string]any, bool) {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := r.Messages[i]
		if m.Role != "tool" || (callID != "" && m.ToolCallID != callID) {
			continue
		}
		var v map[string]any
		if json.Unmarshal([]byte(m.text()), &v) != nil {
			return nil, false
		}
		return v, true
	}
	return nil, false
}

// tool returns the definition of the named tool.
func (r llmRequest) tool(name string) (llmTool, bool) {
	for _, t := range r.Tools {
		if t.Function.Name == name {
			return t, true
		}
	}
	return llmTool{}, false
}

// llmCall is one request the server received and what it did with it.
type llmCall struct {
	At     time.Time
	Script string // the first user message
	Step   int
	Auth   string
	Req    llmRequest
	Raw    map[string]json.RawMessage
	Status int  // what the server answered (0: it hung)
	Gone   bool // the client gave up on a hung request
}

// llmReply is one scripted answer.
type llmReply struct {
	Content string
	Calls   []llmToolCall
	In, Out int // usage: prompt and completion tokens
	// Finish overrides the finish reason ("length", "content_filter").
	Finish string
}

// llmToolCall is a tool call the scripted model makes; Args is marshalled
// to the arguments string.
type llmToolCall struct {
	ID, Name string
	Args     any
}

// llmFault is a failure the server answers instead of a completion, or,
// with Hang, a request it never answers (until the client gives up).
type llmFault struct {
	Status     int
	RetryAfter string // the Retry-After header, "" for none
	Message    string
	Type       string
	Hang       bool
}

// llmStep answers one model step; it may fail the test through s.problem
// when the request is not what the script expects.
type llmStep func(req llmRequest) llmReply

// fixedReply is a step with a fixed answer.
func fixedReply(r llmReply) llmStep { return func(llmRequest) llmReply { return r } }

// llmScript is how the model behaves in one conversation.
type llmScript struct {
	// Steps answer step 1, 2, ...; Always answers every step (when set).
	Steps  []llmStep
	Always llmStep
	// Faults are answered, one per request and in order, before any
	// completion; FailAlways is answered to every request.
	Faults     []llmFault
	FailAlways *llmFault
	// HangSteps holds requests for these steps until the client gives up
	// (the gateway stops) or the server closes; see setHang.
	HangSteps map[int]bool
	// SlowSteps delays the answer to these steps (a model thinking).
	SlowSteps map[int]time.Duration
	// TokenGap paces a streamed answer: the pause between its pieces.
	TokenGap time.Duration
	// NoStreamUsage leaves the usage out of a streamed answer, as servers
	// that ignore stream_options do.
	NoStreamUsage bool
}

// llmServer is an OpenAI-compatible /v1/chat/completions endpoint that
// answers each conversation (keyed by its first user message) from a script.
type llmServer struct {
	t   *testing.T
	srv *httptest.Server
	URL string // the /v1 base

	quit chan struct{} // closed at cleanup: hung requests end

	mu       sync.Mutex
	scripts  map[string]*llmScript
	faultAt  map[string]int // next fault index per script
	calls    []llmCall
	problems []string
	hung     chan llmCall // one value per request that starts hanging
}

// newLLMServer starts the server. Create it before the harness, so that it
// stops after the gateway (cleanups run last-registered first).
func newLLMServer(t *testing.T) *llmServer {
	t.Helper()
	s := &llmServer{t: t, quit: make(chan struct{}), scripts: map[string]*llmScript{},
		faultAt: map[string]int{}, hung: make(chan llmCall, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.serve)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/v1"
	t.Cleanup(func() {
		close(s.quit)
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Errorf("scripted model: %s", p)
		}
	})
	return s
}

// env points the gateway at this server.
func (s *llmServer) env() map[string]string {
	return map[string]string{"OPENAI_BASE_URL": s.URL, "OPENAI_API_KEY": llmAPIKey, "GATEWAY_MODEL": llmModel}
}

// script sets how the model answers the conversation opened by message.
func (s *llmServer) script(message string, sc *llmScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[message] = sc
}

// setHang turns hanging of a step's requests on or off.
func (s *llmServer) setHang(message string, step int, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scripts[message]
	if sc.HangSteps == nil {
		sc.HangSteps = map[int]bool{}
	}
	sc.HangSteps[step] = on
}

// problem records a mismatch between what the script expects and what
// came; it is reported when the test ends (a handler must not call
// t.Fatal, and may outlive the test's body).
func (s *llmServer) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// callsFor lists the requests of one conversation, in arrival order.
func (s *llmServer) callsFor(message string) []llmCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []llmCall
	for _, c := range s.calls {
		if c.Script == message {
			out = append(out, c)
		}
	}
	return out
}

// answeredFor lists the requests of one conversation that got a completion.
func (s *llmServer) answeredFor(message string) []llmCall {
	var out []llmCall
	for _, c := range s.callsFor(message) {
		if c.Status == http.StatusOK {
			out = append(out, c)
		}
	}
	return out
}

// awaitGone waits (bounded) until n requests of a conversation were
// abandoned by the client while hanging (the server notices a closed
// connection a moment after the client gives up).
func (s *llmServer) awaitGone(t *testing.T, message string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		gone := 0
		for _, c := range s.callsFor(message) {
			if c.Gone {
				gone++
			}
		}
		if gone >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d requests of %q were abandoned by the gateway within 5s, want %d", gone, message, n)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitHung waits (bounded) for a request to start hanging.
func (s *llmServer) awaitHung(t *testing.T) llmCall {
	t.Helper()
	select {
	case c := <-s.hung:
		return c
	case <-time.After(pollBudget):
		t.Fatalf("no model request started hanging within %s", pollBudget)
		return llmCall{}
	}
}

func (s *llmServer) serve(w http.ResponseWriter, r *http.Request) {
	call := llmCall{At: time.Now(), Auth: r.Header.Get("Authorization")}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The client went away while sending (a gateway killed mid-request
		// in the crash tests): nothing to answer, and not the script's
		// business.
		return
	}
	if err == nil {
		err = json.Unmarshal(body, &call.Req)
	}
	if err == nil {
		err = json.Unmarshal(body, &call.Raw)
	}
	if err != nil {
		s.problem("undecodable request: %v\n%s", err, body)
		writeLLMError(w, llmFault{Status: 400, Message: "bad request"})
		return
	}
	call.Script, call.Step = call.Req.firstUser(), call.Req.step()

	s.mu.Lock()
	sc := s.scripts[call.Script]
	var fault *llmFault
	hang := false
	switch {
	case sc == nil:
	case sc.FailAlways != nil:
		f := *sc.FailAlways
		fault = &f
	case s.faultAt[call.Script] < len(sc.Faults):
		f := sc.Faults[s.faultAt[call.Script]]
		s.faultAt[call.Script]++
		fault = &f
	case sc.HangSteps[call.Step]:
		hang = true
	}
	if call.Auth != "Bearer "+llmAPIKey {
		s.problems = append(s.problems, fmt.Sprintf("request for %q step %d has Authorization %q", call.Script, call.Step, call.Auth))
	}
	idx := len(s.calls)
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	setStatus := func(status int, gone bool) {
		s.mu.Lock()
		s.calls[idx].Status, s.calls[idx].Gone = status, gone
		s.mu.Unlock()
	}
	switch {
	case sc == nil:
		s.problem("no script for the conversation %q", call.Script)
		setStatus(400, false)
		writeLLMError(w, llmFault{Status: 400, Message: "no script for this conversation"})
		return
	case fault != nil && fault.Hang:
		hang = true
	}
	switch {
	case hang:
		s.hung <- call
		select {
		case <-r.Context().Done():
			setStatus(0, true)
		case <-s.quit:
		}
		return
	case fault != nil:
		setStatus(fault.Status, false)
		writeLLMError(w, *fault)
		return
	}

	var step llmStep
	switch {
	case sc.Always != nil:
		step = sc.Always
	case call.Step <= len(sc.Steps):
		step = sc.Steps[call.Step-1]
	default:
		s.problem("%q: no answer scripted for step %d", call.Script, call.Step)
		setStatus(400, false)
		writeLLMError(w, llmFault{Status: 400, Message: "no answer scripted for this step"})
		return
	}
	if d := sc.SlowSteps[call.Step]; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			setStatus(0, true)
			return
		case <-s.quit:
			return
		}
	}
	ans := step(call.Req)
	setStatus(http.StatusOK, false)
	if call.Req.Stream {
		writeStream(w, r, ans, idx, sc.TokenGap, !sc.NoStreamUsage)
		return
	}
	writeCompletion(w, ans, idx)
}

// writeStream answers as a streaming chat completion: the content in
// pieces of a few bytes (as tokens come), each tool call's arguments in two
// pieces, the finish reason, the usage, and [DONE].
func writeStream(w http.ResponseWriter, r *http.Request, ans llmReply, n int, gap time.Duration, usage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(v map[string]any) bool {
		v["id"], v["object"], v["model"] = fmt.Sprintf("chatcmpl-%d", n), "chat.completion.chunk", llmServedModel
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	choice := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	if !send(choice(map[string]any{"role": "assistant"}, nil)) {
		return
	}
	for rest := ans.Content; rest != ""; {
		cut := min(len(rest), 4)
		for cut < len(rest) && !utf8.RuneStart(rest[cut]) {
			cut++
		}
		if !send(choice(map[string]any{"content": rest[:cut]}, nil)) {
			return
		}
		rest = rest[cut:]
		if gap > 0 {
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
		}
	}
	finish := "stop"
	for i, c := range ans.Calls {
		finish = "tool_calls"
		args, ok := c.Args.(string)
		if !ok {
			b, _ := json.Marshal(c.Args)
			args = string(b)
		}
		half := len(args) / 2
		send(choice(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": c.ID, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": args[:half]}}}}, nil))
		send(choice(map[string]any{"tool_calls": []any{map[string]any{"index": i,
			"function": map[string]any{"arguments": args[half:]}}}}, nil))
	}
	if ans.Finish != "" {
		finish = ans.Finish
	}
	send(choice(map[string]any{}, finish))
	if usage {
		send(map[string]any{"choices": []any{},
			"usage": map[string]int{"prompt_tokens": ans.In, "completion_tokens": ans.Out, "total_tokens": ans.In + ans.Out}})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func writeCompletion(w http.ResponseWriter, ans llmReply, n int) {
	type fn struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	type toolCall struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}
	msg := map[string]any{"role": "assistant", "content": ans.Content}
	finish := "stop"
	if len(ans.Calls) > 0 {
		var calls []toolCall
		for _, c := range ans.Calls {
			args, ok := c.Args.(string)
			if !ok {
				b, _ := json.Marshal(c.Args)
				args = string(b)
			}
			calls = append(calls, toolCall{ID: c.ID, Type: "function", Function: fn{Name: c.Name, Arguments: args}})
		}
		msg["tool_calls"] = calls
		finish = "tool_calls"
		if ans.Content == "" {
			msg["content"] = nil
		}
	}
	if ans.Finish != "" {
		finish = ans.Finish
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(),
		"model":   llmServedModel,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]int{"prompt_tokens": ans.In, "completion_tokens": ans.Out, "total_tokens": ans.In + ans.Out},
	})
}

func writeLLMError(w http.ResponseWriter, f llmFault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	typ := f.Type
	if typ == "" {
		typ = "server_error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": f.Message, "type": typ, "code": nil}})
}

// ---- a real SMTP server ----

// testSMTP is an SMTP server on 127.0.0.1 (github.com/emersion/go-smtp,
// as infra/mail's tests use) that records every accepted message.
type testSMTP struct {
	addr string
	mu   sync.Mutex
	mail []testSMTPMail
	// gate, when set, holds every DATA until it is closed (bounded);
	// inData gets a value as each held DATA starts.
	gate   chan struct{}
	inData chan struct{}
}

// testSMTPMail is one accepted message.
type testSMTPMail struct {
	From string
	To   []string
	Data string
}

func newTestSMTP(t *testing.T) *testSMTP {
	t.Helper()
	ss := &testSMTP{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &testSMTPSession{srv: ss}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.EnableSMTPUTF8 = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ss
}

// url is the gateway's SMTP_URL for this server.
func (ss *testSMTP) url() string { return "smtp://" + ss.addr + "?from=agent@gw.test" }

// holdData makes every DATA wait until release is called (or 10s pass),
// as a slow mail server does.
func (ss *testSMTP) holdData() (release func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	gate := make(chan struct{})
	ss.gate, ss.inData = gate, make(chan struct{}, 16)
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// awaitData waits (bounded) for a held DATA to start; false if none did.
func (ss *testSMTP) awaitData(within time.Duration) bool {
	ss.mu.Lock()
	ch := ss.inData
	ss.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(within):
		return false
	}
}

func (ss *testSMTP) received() []testSMTPMail {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return append([]testSMTPMail(nil), ss.mail...)
}

type testSMTPSession struct {
	srv *testSMTP
	cur testSMTPMail
}

func (s *testSMTPSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = testSMTPMail{From: from}
	return nil
}

func (s *testSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *testSMTPSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(b)
	s.srv.mu.Lock()
	gate, inData := s.srv.gate, s.srv.inData
	s.srv.mu.Unlock()
	if gate != nil {
		inData <- struct{}{}
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
		}
	}
	s.srv.mu.Lock()
	s.srv.mail = append(s.srv.mail, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *testSMTPSession) Reset()        { s.cur = testSMTPMail{} }
func (s *testSMTPSession) Logout() error { return nil }

// ---- the event log ----

// logEventsOfType lists the log's events of one type, in log order.
func (h *harness) logEventsOfType(typ string) []es.Recorded {
	h.t.Helper()
	var out []es.Recorded
	for _, ev := range h.allEvents() {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// convStream reads one conversation's stream.
func (h *harness) convStream(id string) []es.Recorded {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := h.App.Store.ReadStream(ctx, "conversation-"+id, 0)
	if err != nil {
		h.t.Fatalf("ReadStream conversation-%s: %v", id, err)
	}
	return recs
}

// recsOfType keeps the records of one type.
func recsOfType(recs []es.Recorded, typ string) []es.Recorded {
	var out []es.Recorded
	for _, r := range recs {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// evData decodes an event's data into a generic map.
func evData(t *testing.T, rec es.Recorded) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Data, &m); err != nil {
		t.Fatalf("event %s (%s) data: %v", rec.ID, rec.Type, err)
	}
	return m
}

// failureOf decodes a failed poll's error object.
func (p poll) failureOf(t *testing.T) (code, message string) {
	t.Helper()
	var e struct{ Code, Message string }
	if len(p.Error) == 0 || json.Unmarshal(p.Error, &e) != nil {
		t.Fatalf("poll has no error object: %s", p.Raw)
	}
	return e.Code, e.Message
}

// ---- workspace setup through the owner's API ----

func (h *harness) setupTeam(owner member, name string) string {
	h.t.Helper()
	r := h.do(req{Method: "POST", Path: "/api/teams", Auth: bearerOf(owner.Token), Body: map[string]string{"name": name}})
	expectStatus(h.t, r, http.StatusCreated)
	id, _ := r.JSON(h.t)["id"].(string)
	if id == "" {
		h.t.Fatalf("team without id: %s", r.Raw)
	}
	return id
}

func (h *harness) setupTeamMember(owner member, teamID, userID string) {
	h.t.Helper()
	r := h.do(req{Method: "POST", Path: "/api/teams/" + teamID + "/members", Auth: bearerOf(owner.Token),
		Body: map[string]string{"user_id": userID}})
	expectStatus(h.t, r, http.StatusOK)
}

func (h *harness) setupDocument(owner member, title, folder, body string) string {
	h.t.Helper()
	r := h.do(req{Method: "POST", Path: "/api/documents", Auth: bearerOf(owner.Token),
		Body: map[string]string{"title": title, "folder": folder, "body": body}})
	expectStatus(h.t, r, http.StatusCreated)
	id, _ := r.JSON(h.t)["id"].(string)
	if id == "" {
		h.t.Fatalf("document without id: %s", r.Raw)
	}
	return id
}

// hasAll reports whether s contains every part (for messages).
func hasAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
