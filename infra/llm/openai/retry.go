package openai

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	goopenai "github.com/sashabaranov/go-openai"
)

// exchange is what the server answered to one attempt. go-openai turns an
// HTTP failure into an error carrying the status but not the headers, so
// recordingDoer notes the headers that steer retrying here, in a value the
// attempt puts in its request's context: one per attempt, no shared state.
type exchange struct {
	sent        bool // the request reached the HTTP client
	status      int
	retryAfter  time.Duration
	hasRetry    bool
	shouldRetry string // x-should-retry: "true", "false" or ""
}

type exchangeKey struct{}

// recordingDoer is the HTTP client go-openai uses: it forwards each request
// and records the answer's status and retry headers in the attempt's
// exchange.
type recordingDoer struct{ next *http.Client }

func (d recordingDoer) Do(req *http.Request) (*http.Response, error) {
	ex, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if ex != nil {
		ex.sent = true
	}
	resp, err := d.next.Do(req)
	if ex != nil && resp != nil {
		ex.status = resp.StatusCode
		ex.retryAfter, ex.hasRetry = retryAfter(resp.Header, time.Now())
		ex.shouldRetry = strings.ToLower(strings.TrimSpace(resp.Header.Get("X-Should-Retry")))
	}
	return resp, err
}

// retryAfter reads how long the server asked to wait: OpenAI's
// retry-after-ms, else Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// failure is why one attempt failed, classified.
type failure struct {
	status    int    // HTTP status; 0 when no response came
	detail    string // what the server or the network said
	hint      string // what the operator should check
	transient bool
	malformed bool // the server answered 2xx with something unreadable
	invalid   bool // go-openai refused the request before sending it
	wait      time.Duration
	hasWait   bool
	err       error
}

func (f *failure) Error() string { return f.detail }
func (f *failure) Unwrap() error { return f.err }

// As lets backoff.Retry see the server's Retry-After as a
// *backoff.RetryAfterError, so the next wait is the one the server asked for.
func (f *failure) As(target any) bool {
	if t, ok := target.(**backoff.RetryAfterError); ok && f.hasWait {
		*t = &backoff.RetryAfterError{Duration: f.wait}
		return true
	}
	return false
}

// call sends creq, retrying transient failures.
func (m *Model) call(ctx context.Context, creq goopenai.ChatCompletionRequest) (goopenai.ChatCompletionResponse, error) {
	return m.retrying(ctx, func(ctx context.Context, _ int) (goopenai.ChatCompletionResponse, error) {
		return m.client.CreateChatCompletion(ctx, creq)
	})
}

// retrying runs attempt (numbered from 1) until it succeeds, fails for
// good, or the retry bounds are spent.
func (m *Model) retrying(ctx context.Context, attempt func(ctx context.Context, n int) (goopenai.ChatCompletionResponse, error)) (goopenai.ChatCompletionResponse, error) {
	start := time.Now()
	attempts := 0
	var last *failure // the last attempt that failed on its own, not by ctx
	op := func() (goopenai.ChatCompletionResponse, error) {
		attempts++
		ex := &exchange{}
		actx := context.WithValue(ctx, exchangeKey{}, ex)
		if m.cfg.AttemptTimeout > 0 {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(actx, m.cfg.AttemptTimeout)
			defer cancel()
		}
		resp, err := attempt(actx, attempts)
		switch {
		case err == nil && len(resp.Choices) == 0:
			last = &failure{detail: "the answer is not a chat completion (it has no choices)", malformed: true}
			return resp, backoff.Permanent(last)
		case err == nil:
			return resp, nil
		case ctx.Err() != nil:
			return resp, backoff.Permanent(err)
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			// The attempt, not the call, ran out of time: a hung
			// connection or a stalled stream is tried again.
			last = &failure{transient: true, err: err,
				detail: fmt.Sprintf("no answer within %s (GATEWAY_MODEL_TIMEOUT, which bounds each attempt)", m.cfg.AttemptTimeout)}
			return resp, last
		}
		last = m.classify(err, ex)
		if !last.transient {
			return resp, backoff.Permanent(last)
		}
		return resp, last
	}
	eb := &backoff.ExponentialBackOff{
		InitialInterval:     m.cfg.InitialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         m.cfg.MaxBackoff,
	}
	resp, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(capped{eb, m.cfg.MaxBackoff}),
		backoff.WithMaxTries(uint(m.cfg.MaxAttempts)),
		backoff.WithMaxElapsedTime(m.cfg.MaxElapsed),
	)
	if err == nil {
		return resp, nil
	}
	e := &Error{Attempts: attempts, Endpoint: m.endpoint, Elapsed: time.Since(start), cause: err}
	if cerr := ctx.Err(); cerr != nil {
		// Cancelled by the caller (shutdown, the loop's model timeout):
		// reported as such, with what the server last said if it failed.
		e.cancelled, e.cause = true, cerr
		e.Msg = "it was cancelled"
		if errors.Is(cerr, context.DeadlineExceeded) {
			e.Msg = "the caller's deadline passed"
		}
		if last != nil {
			e.Status = last.status
			e.Msg += "; an earlier attempt failed with " + last.describe()
		}
		e.Msg = redact(e.Msg, m.cfg.APIKey)
		return goopenai.ChatCompletionResponse{}, e
	}
	if last == nil { // cannot happen: every failed attempt sets last
		last = &failure{detail: err.Error(), err: err}
	}
	e.Status, e.Transient, e.Hint, e.malformed = last.status, last.transient, last.hint, last.malformed
	e.Msg = redact(last.describe(), m.cfg.APIKey)
	if last.invalid {
		e.invalid = true
		e.Msg = "the request for the language model is invalid: " + e.Msg
	}
	if last.transient && last.hasWait {
		e.Msg += fmt.Sprintf(" (the server asked to wait %s)", roundDuration(last.wait))
	}
	e.Hint = redact(e.Hint, m.cfg.APIKey)
	return goopenai.ChatCompletionResponse{}, e
}

// describe is the failure in a few words: the status and what was said.
func (f *failure) describe() string {
	if f.status == 0 {
		return f.detail
	}
	s := statusText(f.status)
	if f.detail != "" {
		s += ": " + f.detail
	}
	return s
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("HTTP %d", code)
}

// classify decides whether an attempt's failure is worth another attempt.
// Worth it: the server is busy, overloaded, restarting or the network
// dropped the exchange. Not worth it: the request or the credentials are
// wrong, which the same request would meet again.
func (m *Model) classify(err error, ex *exchange) *failure {
	f := &failure{err: err, status: ex.status}
	if !ex.sent {
		// go-openai checks some requests itself (e.g. parameters OpenAI's
		// reasoning models refuse); nothing went over the network.
		f.invalid = true
		f.detail = err.Error()
		f.hint = fmt.Sprintf("the model %q may not support this request through chat completions", m.cfg.Model)
		return f
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	switch {
	// go-openai nests an empty *APIError (status 0) in a *RequestError when
	// the body is not OpenAI's error object (Ollama's {"error": "text"}).
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode != 0:
		f.status = apiErr.HTTPStatusCode
		f.detail = strings.TrimSpace(apiErr.Message)
		if code, _ := apiErr.Code.(string); code == "insufficient_quota" || apiErr.Type == "insufficient_quota" {
			// A 429 that waiting does not fix: the account is out of credit.
			f.hint = "the account behind OPENAI_API_KEY has no quota left"
			return f
		}
	case errors.As(err, &reqErr):
		f.status = reqErr.HTTPStatusCode
		f.detail = bodySnippet(reqErr.Body)
	}
	if f.status != 0 && (f.status < 200 || f.status > 299) {
		f.transient = retryableStatus(f.status)
		switch ex.shouldRetry { // the server's own verdict wins (OpenAI sends it)
		case "true":
			f.transient = true
		case "false":
			f.transient = false
		}
		if f.transient {
			// Retry-After is a minimum; "0" is not an invitation to spin.
			f.wait, f.hasWait = max(ex.retryAfter, m.cfg.InitialBackoff), ex.hasRetry
		} else {
			f.hint = m.hintFor(f.status)
		}
		return f
	}
	if ex.status != 0 {
		// 2xx, but the body could not be read or decoded.
		f.status = 0
		f.malformed = true
		f.transient = transientNetwork(err)
		if f.transient {
			f.detail = "the connection broke while reading the answer (" + m.describeNetwork(err) + ")"
		} else {
			f.detail = "the answer is not a chat completion (" + unwrapURL(err).Error() + ")"
		}
		return f
	}
	f.transient = transientNetwork(err)
	f.detail = m.describeNetwork(err)
	if !f.transient {
		f.hint = "check OPENAI_BASE_URL"
	}
	return f
}

// retryableStatus: 408 (request timeout), 409 (OpenAI's lock timeout), 429
// (rate limit) and every 5xx (the server or a proxy in front of it is
// failing or restarting). The same set OpenAI's own SDKs retry.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusConflict ||
		code == http.StatusTooManyRequests || code >= 500
}

func (m *Model) hintFor(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "check OPENAI_API_KEY"
	case http.StatusForbidden:
		return fmt.Sprintf("check that OPENAI_API_KEY may use the model %q", m.cfg.Model)
	case http.StatusNotFound:
		return fmt.Sprintf("check GATEWAY_MODEL (%q) and that OPENAI_BASE_URL is the API's /v1 base", m.cfg.Model)
	case http.StatusRequestEntityTooLarge:
		return "the conversation is too long for the model"
	}
	return ""
}

// transientNetwork reports network failures that a new connection may not
// meet: refused or reset connections (a server restarting), timeouts, and a
// connection closed mid-answer. A certificate problem or an unknown host
// name is not among them.
func transientNetwork(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	if isCertificateError(err) {
		return false
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

func isCertificateError(err error) bool {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// describeNetwork says what went wrong on the way, naming host:port and
// not the URL (which could carry credentials).
func (m *Model) describeNetwork(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot connect to %s (connection refused): is the server running?", m.hostPort)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return fmt.Sprintf("the connection to %s was reset", m.hostPort)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("%s closed the connection before the answer was complete", m.hostPort)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve the host name %q", dnsErr.Name)
	case isCertificateError(err):
		return fmt.Sprintf("the TLS certificate of %s is not trusted (%v)", m.hostPort, unwrapURL(err))
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("%s did not answer in time", m.hostPort)
	}
	return fmt.Sprintf("talking to %s failed (%v)", m.hostPort, unwrapURL(err))
}

// unwrapURL drops net/http's `Post "https://…":` prefix.
func unwrapURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// bodySnippet is the start of an error body that is not OpenAI's error
// JSON, when it reads as text (not a proxy's HTML page).
func bodySnippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" || strings.HasPrefix(s, "<") {
		return ""
	}
	var obj map[string]any
	if json.Unmarshal([]byte(s), &obj) == nil {
		// Some servers (Ollama, llama.cpp) answer {"error": "text"}.
		if msg, ok := obj["error"].(string); ok {
			return msg
		}
		if msg, ok := obj["message"].(string); ok {
			return msg
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// capped keeps jittered waits within MaxBackoff: ExponentialBackOff caps
// the interval before randomising it, so a wait could otherwise be 50%
// longer than configured.
type capped struct {
	backoff.BackOff
	max time.Duration
}

func (c capped) NextBackOff() time.Duration {
	d := c.BackOff.NextBackOff()
	if d == backoff.Stop {
		return d
	}
	return min(d, c.max)
}
