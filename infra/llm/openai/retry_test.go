package openai

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

var hello = agent.Request{System: "s", Messages: []agent.Message{{Role: agent.RoleUser, Content: "hello"}}}

func asError(err error, target **Error) bool { return errors.As(err, target) }

func mustError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error", err, err)
	}
	return e
}

func TestRetriesTransientFailuresHonouringRetryAfter(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		switch n {
		case 1:
			writeError(w, http.StatusInternalServerError, "server_error", "The server had an error")
		case 2:
			w.WriteHeader(http.StatusInternalServerError) // no body at all
		case 3:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit reached")
		default:
			writeCompletion(w, wireReply{model: "gpt-test", content: "made it", finish: "stop", prompt: 3, completion: 2})
		}
	})
	m := newModel(t, fastConfig(srv.baseURL()))
	start := time.Now()
	resp, err := m.Complete(context.Background(), hello)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Content != "made it" || resp.Usage.InputTokens != 3 {
		t.Errorf("response = %+v", resp)
	}
	calls := srv.received()
	if len(calls) != 4 {
		t.Fatalf("server saw %d calls, want 4", len(calls))
	}
	if gap := calls[1].at.Sub(calls[0].at); gap > 900*time.Millisecond {
		t.Errorf("backoff after the first 500 was %s, want milliseconds", gap)
	}
	if gap := calls[3].at.Sub(calls[2].at); gap < 950*time.Millisecond || gap > 3*time.Second {
		t.Errorf("wait after 429 with Retry-After: 1 was %s, want about 1s", gap)
	}
	if took > 5*time.Second {
		t.Errorf("Complete took %s", took)
	}
}

func TestGivesUpOnPersistentUnavailability(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		writeError(w, http.StatusServiceUnavailable, "server_error", "overloaded")
	})
	cfg := fastConfig(srv.baseURL())
	cfg.MaxAttempts = 4
	_, err := newModel(t, cfg).Complete(context.Background(), hello)
	e := mustError(t, err)
	if e.Attempts != 4 || !e.Transient || e.Status != http.StatusServiceUnavailable || srv.count() != 4 {
		t.Errorf("error = %+v after %d calls, want 4 transient attempts with status 503", e, srv.count())
	}
	msg := err.Error()
	for _, want := range []string{"the language model at " + srv.baseURL(), "failed after 4 attempts over", "503 Service Unavailable", "overloaded"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestRetryAfterBeyondMaxElapsedGivesUpAtOnce(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "slow down")
	})
	cfg := fastConfig(srv.baseURL())
	cfg.MaxElapsed = time.Second
	start := time.Now()
	_, err := newModel(t, cfg).Complete(context.Background(), hello)
	if time.Since(start) > 900*time.Millisecond { // a wait would be MaxElapsed (1s) or more
		t.Errorf("waited %s although the server asked for more than MaxElapsed", time.Since(start))
	}
	e := mustError(t, err)
	if e.Attempts != 1 || !e.Transient || !strings.Contains(err.Error(), "asked to wait 1m0s") {
		t.Errorf("err = %v (%+v)", err, e)
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	const key = "sk-proj-SECRETSECRET0123456789"
	cases := []struct {
		name   string
		status int
		typ    string
		msg    string
		want   []string
		raw    string // a body that is not OpenAI's error object
	}{
		{"unauthorized", 401, "invalid_request_error", "Incorrect API key provided: " + key + ". You can find your API key at https://platform.openai.com/account/api-keys.",
			[]string{"rejected the request (401 Unauthorized)", "check OPENAI_API_KEY"}, ""},
		{"forbidden", 403, "invalid_request_error", "Project does not have access to model", []string{"(403 Forbidden)", "may use the model"}, ""},
		{"unknown model", 404, "invalid_request_error", "The model `gpt-nope` does not exist", []string{"(404 Not Found)", "does not exist", "GATEWAY_MODEL"}, ""},
		{"bad request", 400, "invalid_request_error", "Invalid schema for function 'x'", []string{"(400 Bad Request)", "Invalid schema"}, ""},
		{"Ollama's unknown model", 404, "", "", []string{"(404 Not Found)", `model "llama9" not found, try pulling it first`, "GATEWAY_MODEL"},
			`{"error":"model \"llama9\" not found, try pulling it first"}`},
		{"no quota", 429, "insufficient_quota", "You exceeded your current quota", []string{"(429 Too Many Requests)", "no quota left"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
				if tc.raw != "" {
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(tc.raw))
					return
				}
				writeError(w, tc.status, tc.typ, tc.msg)
			})
			cfg := fastConfig(srv.baseURL())
			cfg.APIKey = key
			_, err := newModel(t, cfg).Complete(context.Background(), hello)
			e := mustError(t, err)
			if srv.count() != 1 || e.Attempts != 1 || e.Transient || e.Status != tc.status {
				t.Errorf("%d calls, error %+v: want one attempt, not transient, status %d", srv.count(), e, tc.status)
			}
			msg := err.Error()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, key) || strings.Contains(msg, "SECRETSECRET") {
				t.Errorf("message leaks the API key: %q", msg)
			}
		})
	}
}

func TestUnusableSuccessIsReported(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>captive portal</html>"))
	})
	_, err := newModel(t, fastConfig(srv.baseURL())).Complete(context.Background(), hello)
	e := mustError(t, err)
	if srv.count() != 1 || e.Transient || !strings.Contains(err.Error(), "cannot use") {
		t.Errorf("err = %v after %d calls", err, srv.count())
	}
}

// TestConnectionDroppedMidAnswerIsRetried: the server promises a body and
// hangs up halfway; the next attempt succeeds.
func TestConnectionDroppedMidAnswerIsRetried(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		if n == 1 {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"id\":\"chatcmpl-1\",\"choi")
			_ = buf.Flush()
			_ = conn.Close()
			return
		}
		writeCompletion(w, wireReply{model: "gpt-test", content: "second time lucky", finish: "stop"})
	})
	resp, err := newModel(t, fastConfig(srv.baseURL())).Complete(context.Background(), hello)
	if err != nil || resp.Content != "second time lucky" || srv.count() != 2 {
		t.Errorf("resp %+v, err %v after %d calls; want success on the second", resp, err, srv.count())
	}
}

func TestConnectionRefusedIsRetriedThenReported(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	base := closed.URL + "/v1"
	hostPort := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()

	cfg := fastConfig(base)
	cfg.MaxAttempts = 3
	start := time.Now()
	_, err := newModel(t, cfg).Complete(context.Background(), hello)
	e := mustError(t, err)
	if e.Attempts != 3 || !e.Transient || e.Status != 0 {
		t.Errorf("error = %+v, want 3 transient attempts without status", e)
	}
	if !errors.Is(err, errConnRefused(t)) && !strings.Contains(err.Error(), "refused") {
		t.Errorf("err = %v, want connection refused", err)
	}
	msg := err.Error()
	for _, want := range []string{"failed after 3 attempts", "cannot connect to " + hostPort, "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

// errConnRefused is the error a dial to a closed local port gives, for
// errors.Is through *Error.
func errConnRefused(t *testing.T) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, err = net.Dial("tcp", addr)
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

func TestCancellationStopsAtOnce(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
			select { // a model thinking for a long time
			case <-time.After(10 * time.Second):
			case <-got.done: // the client hung up
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := newModel(t, fastConfig(srv.baseURL())).Complete(ctx, hello)
		if took := time.Since(start); took > 5*time.Second { // the server holds 10s
			t.Errorf("Complete returned %s after cancel", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if e := mustError(t, err); e.Attempts != 1 || e.Transient || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("err = %v (%+v)", err, e)
		}
	})
	t.Run("while waiting to retry", func(t *testing.T) {
		srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
			w.Header().Set("Retry-After", "30")
			writeError(w, http.StatusServiceUnavailable, "server_error", "restarting")
		})
		cfg := fastConfig(srv.baseURL())
		cfg.MaxElapsed = time.Minute
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := newModel(t, cfg).Complete(ctx, hello)
		if took := time.Since(start); took > 5*time.Second { // the retry would wait 30s
			t.Errorf("Complete returned %s after the deadline", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "deadline") || !strings.Contains(msg, "503 Service Unavailable") || srv.count() != 1 {
			t.Errorf("message %q after %d calls", msg, srv.count())
		}
	})
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{http.Header{"Retry-After": {"2"}}, 2 * time.Second, true},
		{http.Header{"Retry-After": {"0"}}, 0, true},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, true},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0, true},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond, true},
		{http.Header{"Retry-After": {"soon"}}, 0, false},
		{http.Header{"Retry-After": {"-3"}}, 0, false},
		{http.Header{}, 0, false},
	}
	for _, c := range cases {
		got, ok := retryAfter(c.header, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%v) = %s, %v; want %s, %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

// TestAttemptTimeoutRetries: AttemptTimeout cuts an attempt that does not
// answer and the call tries again; the caller's own deadline still ends
// the whole call.
func TestAttemptTimeoutRetries(t *testing.T) {
	srv := newFakeServer(t, func(n int, got received, w http.ResponseWriter) {
		if n == 1 {
			time.Sleep(2 * time.Second) // longer than the attempt may take
			return
		}
		writeCompletion(w, wireReply{content: "Here.", finish: "stop", prompt: 10, completion: 2})
	})
	cfg := fastConfig(srv.baseURL())
	cfg.AttemptTimeout = 200 * time.Millisecond
	m := newModel(t, cfg)
	began := time.Now()
	resp, err := m.Complete(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "Hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "Here." || srv.count() != 2 {
		t.Errorf("content %q after %d requests, want the second attempt's answer", resp.Content, srv.count())
	}
	if took := time.Since(began); took > 1900*time.Millisecond {
		t.Errorf("the call took %s: the hung attempt was not cut at 200ms", took)
	}
}
