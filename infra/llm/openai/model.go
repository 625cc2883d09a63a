// Package openai is the gateway's model port (commands.Model) on any
// OpenAI-compatible chat completions endpoint: OpenAI itself, gateways that
// speak its API (Azure's /openai/v1, LiteLLM, OpenRouter), and local servers
// (Ollama at http://localhost:11434/v1, vLLM, llama.cpp's server, LM Studio).
//
// The wire protocol is delegated to github.com/sashabaranov/go-openai; this
// package adds what the agent loop needs around it:
//
//   - mapping the gateway's transcript and tool specs (domain/agent) to the
//     chat completions shape and back, without losing tool calls a model
//     produced with malformed arguments;
//   - retrying what is worth retrying (rate limits, overloaded or restarting
//     servers, dropped connections) with capped exponential backoff and
//     jitter, honouring Retry-After, and failing at once on what a retry
//     cannot fix (a wrong key, an unknown model, a malformed request);
//   - one error type, *Error, whose message tells an operator what happened
//     and what to check, and never contains the API key.
//
// Only what every compatible server accepts is sent: no tool_choice (Ollama
// rejects it), no parallel_tool_calls. Streaming (CompleteStreaming) asks
// for usage in the stream (stream_options), which the servers above accept.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// Defaults applied by New to a zero Config field.
const (
	DefaultBaseURL        = "https://api.openai.com/v1"
	DefaultModel          = "gpt-4o-mini"
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxElapsed     = 2 * time.Minute
	DefaultMaxTokens      = 1024
)

// Config configures a Model. Zero fields take the defaults above.
type Config struct {
	// BaseURL is the API's /v1 base, e.g. https://api.openai.com/v1 or
	// http://localhost:11434/v1; "/chat/completions" is appended to it.
	BaseURL string
	// APIKey is sent as a bearer token. Empty sends no Authorization header,
	// which is what local servers expect.
	APIKey string
	// Model is the model name the server knows (required).
	Model string
	// HTTPClient carries the requests; nil uses a client of its own. Its
	// Timeout, if any, bounds each attempt; the caller's context bounds the
	// whole call.
	HTTPClient *http.Client

	// MaxAttempts bounds the attempts of one Complete call, first included.
	MaxAttempts int
	// InitialBackoff is the first wait between attempts; each further wait
	// doubles, randomised by ±50% so that many gateways hitting one server
	// do not retry in step, and never exceeds MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// A Retry-After (or OpenAI's retry-after-ms) on a retryable answer
	// replaces the computed wait. MaxElapsed stops retrying once the next
	// wait would end past it, counted from the start of the call, so a
	// server asking for a long pause fails the call at once instead.
	MaxElapsed time.Duration
	// AttemptTimeout bounds each attempt (GATEWAY_MODEL_TIMEOUT): an
	// attempt that gets no whole answer in time is cut and, like a dropped
	// connection, tried again within the bounds above. Zero: no bound but
	// the caller's context.
	AttemptTimeout time.Duration

	// Temperature is sent when set (nil leaves the server's default).
	Temperature *float32
	// MaxTokens caps each reply when the request does not say.
	MaxTokens int
}

// Model calls an OpenAI-compatible chat completions endpoint. It is safe for
// concurrent use.
type Model struct {
	cfg      Config
	endpoint string // BaseURL without credentials or query, for messages
	hostPort string // host:port of BaseURL, for connection messages
	client   *goopenai.Client
}

// New checks cfg, fills in defaults and returns a ready Model. It does not
// contact the server: a model that is down at start-up is reported by the
// first Complete, which retries it.
func New(cfg Config) (*Model, error) {
	cfg.Model = strings.TrimSpace(cfg.Model)
	if cfg.Model == "" {
		return nil, errors.New("openai: no model name: set GATEWAY_MODEL to a model the endpoint serves")
	}
	cfg.BaseURL = strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("openai: the base URL %w", err)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = DefaultInitialBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.InitialBackoff {
		cfg.MaxBackoff = cfg.InitialBackoff
	}
	if cfg.MaxElapsed <= 0 {
		cfg.MaxElapsed = DefaultMaxElapsed
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// No overall timeout: a local model on a CPU may take minutes to
		// answer, and the caller's context already bounds the call.
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}

	cc := goopenai.DefaultConfig(cfg.APIKey)
	cc.BaseURL = cfg.BaseURL
	cc.HTTPClient = recordingDoer{next: hc}

	return &Model{
		cfg:      cfg,
		endpoint: displayURL(u),
		hostPort: hostPort(u),
		client:   goopenai.NewClientWithConfig(cc),
	}, nil
}

// Name is the configured model name (what the gateway reports before the
// server has said which exact model answered).
func (m *Model) Name() string { return m.cfg.Model }

// Complete runs one model step: it sends the transcript and tool specs and
// returns the reply's text, tool calls, finish reason and token usage.
// Transient failures are retried within Config's bounds; the error, if any,
// is an *Error.
func (m *Model) Complete(ctx context.Context, req agent.Request) (agent.Response, error) {
	creq, err := m.buildRequest(req)
	if err != nil {
		return agent.Response{}, &Error{
			Endpoint: m.endpoint,
			Msg:      redact(err.Error(), m.cfg.APIKey),
			invalid:  true,
			cause:    err,
		}
	}
	resp, err := m.call(ctx, creq)
	if err != nil {
		return agent.Response{}, err
	}
	return withOutcome(m.response(resp, creq, len(req.Messages)), req.Messages), nil
}

// parseBaseURL accepts an absolute http(s) URL with a host. Errors never
// repeat the URL, which may carry credentials.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("is not a valid URL (%v)", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("must start with http:// or https://, like https://api.openai.com/v1 or http://localhost:11434/v1")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("has no host; expected something like https://api.openai.com/v1")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not have a query or fragment; give only the /v1 base, like https://api.openai.com/v1")
	}
	return u, nil
}

// displayURL is u as it may appear in messages and logs: no user
// information (a password in the URL stays out of them).
func displayURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery, c.Fragment = "", ""
	return c.String()
}

func hostPort(u *url.URL) string {
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	default:
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
