package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"go.opentelemetry.io/otel/propagation"
)

// Defaults for Options' zero values.
const (
	// DefaultTimeout bounds one attempt from dialling to the end of the
	// response prefix. The Standard Webhooks spec asks for 15–30 s; the
	// low end keeps a slow receiver from tying up delivery workers.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxIdleConns and DefaultMaxIdleConnsPerHost keep connections
	// to busy receivers warm (one TLS handshake per burst, not per reply)
	// without holding sockets open to thousands of quiet ones.
	DefaultMaxIdleConns        = 100
	DefaultMaxIdleConnsPerHost = 8
	// DefaultIdleConnTimeout closes pooled connections receivers stopped using.
	DefaultIdleConnTimeout = 90 * time.Second
)

// MaxResponsePrefix is how much of a response body an Attempt keeps: enough
// to show a key owner why their endpoint refused us, too little to turn the
// gateway into a way of reading other people's pages.
const MaxResponsePrefix = 1024

// maxDrain is how much more of a response body is read (and thrown away)
// after the prefix so the connection can go back to the pool; past that
// the connection is closed instead, so a receiver streaming gigabytes
// costs us nothing.
const maxDrain = 64 << 10

// Options configure a Client. The zero value is the production setting.
type Options struct {
	// Timeout bounds each attempt (connect, TLS, request, response headers
	// and the response prefix). 0 means DefaultTimeout.
	Timeout time.Duration
	// AllowPrivate lifts the SSRF guard and allows plain http:// targets.
	// For development and tests against local receivers only: in
	// production it would let any API-key owner reach internal services.
	AllowPrivate bool
	// MaxIdleConns and MaxIdleConnsPerHost size the connection pool
	// (0 means DefaultMaxIdleConns / DefaultMaxIdleConnsPerHost).
	MaxIdleConns        int
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes idle pooled connections (0: DefaultIdleConnTimeout).
	IdleConnTimeout time.Duration
	// Resolver resolves target host names (nil: net.DefaultResolver). The
	// guard checks the addresses it returns at connect time, so a resolver
	// cannot weaken it.
	Resolver *net.Resolver
	// RootCAs verifies receivers' certificates (nil: the system roots).
	RootCAs *x509.CertPool

	// dialCheck, when set, runs after the guard on every address about to
	// be dialled (tests use it as a safety net that fails the test rather
	// than let a packet leave loopback).
	dialCheck func(network, address string) error
}

// Outcome is what the delivery saga should do after an attempt.
type Outcome string

const (
	// Delivered: the receiver answered 2xx. Done.
	Delivered Outcome = "delivered"
	// Retry: anything else that may work later: a non-2xx answer
	// (3xx included, since redirects are not followed), a timeout, a
	// refused or reset connection, a TLS failure, a host name that
	// resolved to a blocked address. Try again per the schedule.
	Retry Outcome = "retry"
	// Gone: stop retrying. The receiver answered 410 Gone (the Standard
	// Webhooks way of saying "stop sending"), or the request can never be
	// sent as it stands: the URL is invalid, uses a refused scheme
	// (http:// without AllowPrivate), names a blocked IP literally, or the
	// key's secrets cannot sign it. Retrying those for a day would only
	// delay telling the key owner.
	Gone Outcome = "gone"
)

// Request is one delivery attempt.
type Request struct {
	URL            string    // the key's response_url
	ID             string    // webhook-id: the same on every retry of one delivery
	ConversationID string    // X-Conversation-UUID
	Test           bool      // a test key's delivery: X-Sois-Mode: test
	Body           []byte    // the JSON body, sent and signed byte for byte
	Secrets        []string  // signing secrets, newest first (several during a rotation)
	Now            time.Time // this attempt's webhook-timestamp; zero means time.Now()
}

// Attempt is what happened to one Request, in a form the saga can record
// as an event and show in the poll response.
type Attempt struct {
	// StatusCode is the HTTP status, 0 when no response came back.
	StatusCode int
	// Duration is how long the exchange took (request to response prefix).
	Duration time.Duration
	// Error is one sentence a key owner can act on, empty when delivered.
	Error string
	// ResponsePrefix is the first MaxResponsePrefix bytes of the response
	// body, made valid UTF-8 without NUL bytes (so it can go into JSON,
	// jsonb and text columns as it is).
	ResponsePrefix string
	// RetryAfter is the receiver's Retry-After (delta-seconds or
	// HTTP-date), 0 when absent, unparseable or in the past. Feed it to
	// NextDelay, which bounds it.
	RetryAfter time.Duration
	// Outcome is what to do next.
	Outcome Outcome
	// Err is the underlying error for callers that want errors.As (for
	// example *BlockedError); nil when delivered. Not meant for storage.
	Err error `json:"-"`
}

// Client delivers webhooks. It is safe for concurrent use and should be
// shared: it pools connections per receiver.
type Client struct {
	hc           *http.Client
	tr           *http.Transport
	timeout      time.Duration
	allowPrivate bool
}

// New returns a Client. Unless opts.AllowPrivate is set, every connection
// goes through the SSRF guard (Control) and only https:// URLs are sent.
// Proxies from the environment are ignored on purpose: through a proxy the
// guard would only see the proxy's address, never the receiver's.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = DefaultMaxIdleConns
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.IdleConnTimeout <= 0 {
		opts.IdleConnTimeout = DefaultIdleConnTimeout
	}
	allowPrivate, dialCheck := opts.AllowPrivate, opts.dialCheck
	dialer := &net.Dialer{
		Timeout:   opts.Timeout,
		KeepAlive: 30 * time.Second,
		Resolver:  opts.Resolver,
		Control: func(network, address string, c syscall.RawConn) error {
			if !allowPrivate {
				if err := Control(network, address, c); err != nil {
					return err
				}
			}
			if dialCheck != nil {
				return dialCheck(network, address)
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs},
		TLSHandshakeTimeout:    opts.Timeout,
		MaxIdleConns:           opts.MaxIdleConns,
		MaxIdleConnsPerHost:    opts.MaxIdleConnsPerHost,
		IdleConnTimeout:        opts.IdleConnTimeout,
		DisableCompression:     true, // the prefix is the bytes the receiver sent
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Client{
		hc: &http.Client{
			Transport: tr,
			// Never follow: a redirect could point anywhere (the guard
			// would still check the address, but the signed body would go
			// to a URL the key owner never configured), and Standard
			// Webhooks counts 3xx as a failure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		tr:           tr,
		timeout:      opts.Timeout,
		allowPrivate: opts.AllowPrivate,
	}
}

// Refusal says why this client will never deliver to raw as it stands,
// or returns nil: not an absolute http(s) URL; without AllowPrivate, plain
// http:// or a literal address the guard blocks (a *BlockedError). A host
// name is only judged when an attempt resolves it, since what it points at
// can change. The API uses it to warn a key owner when the URL is set.
func (c *Client) Refusal(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("the webhook URL %q is not an absolute http(s) URL", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.allowPrivate {
			return &BlockedError{Addr: u.Host, Reason: "reached over plain http://; webhooks carry conversation data and go to https:// URLs only"}
		}
	default:
		return fmt.Errorf("the webhook URL scheme %q is not supported; use https://", u.Scheme)
	}
	if !c.allowPrivate {
		// A literal address is refused before any socket, and for good:
		// unlike a host name it cannot start pointing elsewhere.
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			if reason := BlockedReason(ip); reason != "" {
				return &BlockedError{Addr: u.Host, Reason: reason}
			}
		}
	}
	return nil
}

// Close releases pooled idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Deliver makes one attempt: it signs r with r.Now, POSTs it, reads at most
// MaxResponsePrefix bytes of the answer and says what happened. It never
// returns an error: every failure is an Attempt with StatusCode 0 (no
// response) or the receiver's status, an Error sentence and an Outcome.
// ctx cancels the attempt; the per-attempt timeout applies on top of it.
func (c *Client) Deliver(ctx context.Context, r Request) Attempt {
	if err := c.Refusal(r.URL); err != nil {
		return gone(err.Error(), err)
	}
	u, _ := url.Parse(r.URL) // Refusal parsed it
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	h, err := Headers(r.Secrets, r.ID, r.ConversationID, now, r.Body)
	if err != nil {
		return gone("cannot sign the webhook: "+err.Error(), err)
	}

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.String(), bytes.NewReader(r.Body))
	if err != nil {
		return gone(fmt.Sprintf("cannot build a request for %q: %v", r.URL, err), err)
	}
	req.Header = h
	// W3C traceparent: the receiver's trace continues the conversation's.
	commands.InjectTrace(ctx, propagation.HeaderCarrier(req.Header))
	if r.Test {
		req.Header.Set(HeaderMode, "test")
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return Attempt{
			Duration: time.Since(start),
			Error:    describe(ctx, err, u.Host, c.timeout),
			Outcome:  Retry,
			Err:      err,
		}
	}
	prefix, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponsePrefix))
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	_ = resp.Body.Close()

	a := Attempt{
		StatusCode:     resp.StatusCode,
		Duration:       time.Since(start),
		ResponsePrefix: cleanPrefix(prefix),
		RetryAfter:     retryAfter(resp.Header, time.Now()),
	}
	status := strconv.Itoa(resp.StatusCode)
	if text := http.StatusText(resp.StatusCode); text != "" {
		status += " " + text
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		a.Outcome = Delivered
	case code == http.StatusGone:
		a.Outcome = Gone
		a.Error = "the receiver answered 410 Gone, which asks us to stop sending to this URL; not retrying"
	case code >= 300 && code < 400:
		a.Outcome = Retry
		a.Error = "the receiver answered " + status + " and redirects are not followed"
		if loc := resp.Header.Get("Location"); loc != "" {
			a.Error += fmt.Sprintf(" (Location: %s); set the key's response_url to the final URL", truncate(strings.ToValidUTF8(loc, "\uFFFD"), 200))
		}
	default:
		a.Outcome = Retry
		a.Error = "the receiver answered " + status
	}
	if a.Outcome != Delivered {
		a.Err = errors.New(a.Error)
	}
	return a
}

func gone(msg string, err error) Attempt {
	if err == nil {
		err = errors.New(msg)
	}
	return Attempt{Error: msg, Outcome: Gone, Err: err}
}

// describe turns a transport error into one sentence naming the cause, so
// a key owner reading the poll response knows whether to open a port, fix
// a certificate or speed up their endpoint.
func describe(parent context.Context, err error, host string, timeout time.Duration) string {
	var blockedErr *BlockedError
	if errors.As(err, &blockedErr) {
		return blockedErr.Error()
	}
	if parent.Err() != nil {
		return "the delivery was cancelled before " + host + " answered (" + parent.Err().Error() + ")"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return "the host name " + dnsErr.Name + " was not found (DNS)"
		case dnsErr.IsTimeout:
			return "looking up " + dnsErr.Name + " in DNS timed out"
		default:
			return "looking up " + dnsErr.Name + " in DNS failed: " + dnsErr.Err
		}
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Sprintf("timed out after %s: %s did not answer in time", timeout, host)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "the connection to " + dialAddr(err, host) + " was refused (nothing is listening on that port)"
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return "the connection to " + host + " was reset by the receiver"
	}
	if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return host + " is unreachable from the gateway's network"
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return "TLS error: the certificate of " + host + " was not accepted: " + certErr.Err.Error()
	}
	var recErr tls.RecordHeaderError
	if errors.As(err, &recErr) {
		return "TLS error: " + host + " did not answer with TLS (is it serving plain http on this port?)"
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return "TLS error: the TLS handshake with " + host + " failed: " + alert.Error()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return host + " closed the connection without answering"
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") { // net/http's own errors.New
		return "TLS error: " + host + " answered with plain HTTP, not TLS (is it serving http on this port?)"
	}
	if strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") {
		return "TLS error with " + host + ": " + msg
	}
	return "the request to " + host + " failed: " + msg
}

// dialAddr is the ip:port a dial error names, or host when it names none.
func dialAddr(err error, host string) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return op.Addr.String()
	}
	return host
}

// cleanPrefix makes a body prefix safe to store: a rune cut at the 1 KiB
// boundary is dropped, invalid UTF-8 and NUL bytes become U+FFFD (Postgres
// text and jsonb reject NUL and invalid UTF-8), and the result is trimmed
// back under MaxResponsePrefix bytes if the replacements grew it.
func cleanPrefix(b []byte) string {
	if len(b) == MaxResponsePrefix {
		// Drop a trailing partial rune (at most 3 bytes) cut by the limit.
		for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
			r := b[len(b)-i]
			if utf8.RuneStart(r) {
				if !utf8.FullRune(b[len(b)-i:]) {
					b = b[:len(b)-i]
				}
				break
			}
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	for len(s) > MaxResponsePrefix {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// maxRetryAfter caps what retryAfter returns so absurd values cannot
// overflow; NextDelay bounds it much tighter anyway.
const maxRetryAfter = 365 * 24 * time.Hour

// retryAfter parses Retry-After as delta-seconds or an HTTP-date. A date is
// measured against the response's own Date header when there is one, so
// clock skew between us and the receiver does not distort it; otherwise
// against now.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	secs, err := strconv.ParseUint(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) || (err == nil && secs > uint64(maxRetryAfter/time.Second)) {
		return maxRetryAfter
	}
	if err == nil {
		return time.Duration(secs) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	wait := at.Sub(now)
	if wait <= 0 {
		return 0
	}
	return min(wait, maxRetryAfter)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
