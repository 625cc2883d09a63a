package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// serve starts a loopback receiver running h and returns a function that
// delivers one webhook to path on it.
func serve(t *testing.T, h http.HandlerFunc, o Options) (*httptest.Server, func(path string) Attempt) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o.AllowPrivate = true
	c := testClient(t, o)
	secret := newSecret(t)
	return srv, func(path string) Attempt {
		return c.Deliver(context.Background(), Request{
			URL: srv.URL + path, ID: "msg_x", ConversationID: "conv-1",
			Body: []byte(`{"conversation_uuid":"conv-1","status":"failed","error":"boom"}`), Secrets: []string{secret},
		})
	}
}

func TestOutcomes(t *testing.T) {
	var redirectedTo atomic.Int64
	_, deliver := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/200":
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/202":
			w.WriteHeader(http.StatusAccepted)
		case "/301":
			http.Redirect(w, r, "/moved", http.StatusMovedPermanently)
		case "/307":
			http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
		case "/moved":
			redirectedTo.Add(1)
		case "/400":
			http.Error(w, "bad signature", http.StatusBadRequest)
		case "/410":
			http.Error(w, "endpoint deleted", http.StatusGone)
		case "/500":
			http.Error(w, "kaboom", http.StatusInternalServerError)
		case "/599":
			w.WriteHeader(599)
		}
	}, Options{})

	for path, want := range map[string]struct {
		status  int
		outcome Outcome
		err     string
		prefix  string
	}{
		"/200": {200, Delivered, "", `{"ok":true}`},
		"/204": {204, Delivered, "", ""},
		"/202": {202, Delivered, "", ""},
		"/301": {301, Retry, "answered 301 Moved Permanently and redirects are not followed (Location: /moved)", ""},
		"/307": {307, Retry, "answered 307 Temporary Redirect and redirects are not followed", ""},
		"/400": {400, Retry, "answered 400 Bad Request", "bad signature\n"},
		"/410": {410, Gone, "410 Gone", "endpoint deleted\n"},
		"/500": {500, Retry, "answered 500 Internal Server Error", "kaboom\n"},
		"/599": {599, Retry, "answered 599", ""},
	} {
		a := deliver(path)
		if a.StatusCode != want.status || a.Outcome != want.outcome || !strings.Contains(a.Error, want.err) ||
			(want.err == "") != (a.Error == "") || (want.prefix != "" && a.ResponsePrefix != want.prefix) {
			t.Errorf("%s: %+v, want status %d, outcome %s, error containing %q, prefix %q", path, a, want.status, want.outcome, want.err, want.prefix)
		}
		if a.Outcome != Delivered && a.Err == nil {
			t.Errorf("%s: failed attempt without Err", path)
		}
		if a.Duration <= 0 {
			t.Errorf("%s: no duration", path)
		}
	}
	if n := redirectedTo.Load(); n != 0 {
		t.Errorf("a redirect was followed %d times", n)
	}
}

func TestRetryAfter(t *testing.T) {
	_, deliver := serve(t, func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		switch r.URL.Path {
		case "/seconds":
			w.Header().Set("Retry-After", "120")
		case "/date":
			// Retry at the receiver's Date + 2 minutes.
			w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
			w.Header().Set("Retry-After", now.Add(2*time.Minute).UTC().Format(http.TimeFormat))
		case "/date-skewed":
			// The receiver's clock is an hour ahead: its Date header keeps
			// the wait at 2 minutes instead of an hour and 2 minutes.
			w.Header().Set("Date", now.Add(time.Hour).UTC().Format(http.TimeFormat))
			w.Header().Set("Retry-After", now.Add(time.Hour+2*time.Minute).UTC().Format(http.TimeFormat))
		case "/date-no-date":
			w.Header()["Date"] = nil // the server adds none: measured against our clock
			w.Header().Set("Retry-After", now.Add(2*time.Minute).UTC().Format(http.TimeFormat))
		case "/past":
			w.Header().Set("Retry-After", now.Add(-time.Hour).UTC().Format(http.TimeFormat))
		case "/junk":
			w.Header().Set("Retry-After", "soon")
		case "/negative":
			w.Header().Set("Retry-After", "-5")
		case "/huge":
			w.Header().Set("Retry-After", "99999999999999999999")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}, Options{})

	check := func(path string, lo, hi time.Duration) {
		t.Helper()
		a := deliver(path)
		if a.RetryAfter < lo || a.RetryAfter > hi || a.Outcome != Retry || a.StatusCode != 503 {
			t.Errorf("%s: RetryAfter = %s (%+v), want in [%s, %s]", path, a.RetryAfter, a, lo, hi)
		}
	}
	check("/seconds", 120*time.Second, 120*time.Second)
	check("/date", 120*time.Second, 120*time.Second)
	check("/date-skewed", 120*time.Second, 120*time.Second)
	check("/date-no-date", 115*time.Second, 120*time.Second)
	check("/past", 0, 0)
	check("/junk", 0, 0)
	check("/negative", 0, 0)
	check("/none", 0, 0)
	check("/huge", maxRetryAfter, maxRetryAfter)
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, deliver := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}, Options{Timeout: 200 * time.Millisecond})
	start := time.Now()
	a := deliver("/slow")
	if a.StatusCode != 0 || a.Outcome != Retry || !strings.Contains(a.Error, "timed out after 200ms") {
		t.Fatalf("attempt = %+v, want status 0, Retry, a timeout error", a)
	}
	if took := time.Since(start); took > 8*time.Second { // the receiver holds 10s
		t.Fatalf("the 200ms timeout took %s", took)
	}
}

func TestCancelledContext(t *testing.T) {
	srv, _ := captureServer(t, 200)
	c := testClient(t, Options{AllowPrivate: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := c.Deliver(ctx, Request{URL: srv.URL, ID: "m", Body: []byte(`{}`), Secrets: []string{newSecret(t)}})
	if a.StatusCode != 0 || a.Outcome != Retry || !strings.Contains(a.Error, "cancelled") {
		t.Fatalf("attempt = %+v", a)
	}
}

func TestResponsePrefix(t *testing.T) {
	var wrote atomic.Int64
	_, deliver := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/utf8":
			// "a" then 2-byte runes: the 1 KiB cut falls inside a rune.
			_, _ = io.WriteString(w, "a"+strings.Repeat("é", 2000))
		case "/binary":
			_, _ = w.Write(append([]byte("ok\x00\xff\xfe"), bytes.Repeat([]byte{0xff}, 2000)...))
		case "/endless":
			// 64 MiB on offer: the client must stop reading long before.
			chunk := bytes.Repeat([]byte("x"), 32<<10)
			for i := 0; i < 2048; i++ {
				n, err := w.Write(chunk)
				wrote.Add(int64(n))
				if err != nil {
					return
				}
			}
		}
	}, Options{})

	a := deliver("/utf8")
	if len(a.ResponsePrefix) > MaxResponsePrefix || len(a.ResponsePrefix) < MaxResponsePrefix-1 || !utf8.ValidString(a.ResponsePrefix) ||
		a.ResponsePrefix != "a"+strings.Repeat("é", (MaxResponsePrefix-1)/2) {
		t.Errorf("utf8 prefix: %d bytes, valid %v", len(a.ResponsePrefix), utf8.ValidString(a.ResponsePrefix))
	}
	a = deliver("/binary")
	if len(a.ResponsePrefix) > MaxResponsePrefix || !utf8.ValidString(a.ResponsePrefix) || strings.ContainsRune(a.ResponsePrefix, 0) ||
		!strings.HasPrefix(a.ResponsePrefix, "ok\uFFFD") {
		t.Errorf("binary prefix: %d bytes %q", len(a.ResponsePrefix), a.ResponsePrefix[:min(20, len(a.ResponsePrefix))])
	}
	start := time.Now()
	a = deliver("/endless")
	if a.Outcome != Delivered || a.ResponsePrefix != strings.Repeat("x", MaxResponsePrefix) {
		t.Errorf("endless: %+v", a.Outcome)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("an endless body kept Deliver busy for %s", took)
	}
	// The server is stopped by the closed connection; give its handler a
	// moment to notice, then check it never got to send everything.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if n := wrote.Load(); n > 0 && n < 64<<20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := wrote.Load(); n >= 64<<20 {
		t.Errorf("the client read the whole %d-byte body", n)
	}
}

func TestCleanPrefix(t *testing.T) {
	// A 3-byte rune cut after its first byte at the limit is dropped.
	b := append(bytes.Repeat([]byte("a"), MaxResponsePrefix-1), "€"[0])
	if s := cleanPrefix(b); s != strings.Repeat("a", MaxResponsePrefix-1) {
		t.Errorf("cut rune kept: %q", s[len(s)-4:])
	}
	// A complete 4-byte rune at the end is kept.
	b = append(bytes.Repeat([]byte("a"), MaxResponsePrefix-4), "😀"...)
	if s := cleanPrefix(b); !strings.HasSuffix(s, "😀") || len(s) != MaxResponsePrefix {
		t.Errorf("whole rune dropped")
	}
	// Replacements that grow the string are trimmed back under the limit.
	b = bytes.Repeat([]byte{'a', 0}, MaxResponsePrefix/2)
	if s := cleanPrefix(b); len(s) > MaxResponsePrefix || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		t.Errorf("NUL-laden prefix: %d bytes", len(s))
	}
}

func TestNetworkErrors(t *testing.T) {
	secret := newSecret(t)
	req := func(u string) Request {
		return Request{URL: u, ID: "m", Body: []byte(`{}`), Secrets: []string{secret}}
	}
	open := testClient(t, Options{AllowPrivate: true, Timeout: 5 * time.Second})

	// Connection refused: a port nobody listens on any more.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	l.Close()
	a := open.Deliver(context.Background(), req("http://"+addr+"/hook"))
	if a.StatusCode != 0 || a.Outcome != Retry || !strings.Contains(a.Error, "refused") || !strings.Contains(a.Error, addr) {
		t.Errorf("refused: %+v", a)
	}

	// TLS: a certificate we do not trust...
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	a = open.Deliver(context.Background(), req(tlsSrv.URL+"/hook"))
	if a.StatusCode != 0 || a.Outcome != Retry || !strings.HasPrefix(a.Error, "TLS error") || !strings.Contains(a.Error, "certificate") {
		t.Errorf("untrusted certificate: %+v", a)
	}
	// ...is fine once trusted (and https works end to end).
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	trusting := testClient(t, Options{AllowPrivate: true, RootCAs: pool})
	if a := trusting.Deliver(context.Background(), req(tlsSrv.URL+"/hook")); a.Outcome != Delivered {
		t.Errorf("trusted certificate: %+v", a)
	}

	// https:// to a plain-http port.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(plain.Close)
	a = open.Deliver(context.Background(), req(strings.Replace(plain.URL, "http://", "https://", 1)))
	if a.StatusCode != 0 || !strings.HasPrefix(a.Error, "TLS error") {
		t.Errorf("https to http: %+v", a)
	}

	// A receiver that hangs up without answering.
	hangup, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { hangup.Close() })
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			c.Close()
		}
	}()
	a = open.Deliver(context.Background(), req("http://"+hangup.Addr().String()+"/hook"))
	if a.StatusCode != 0 || a.Outcome != Retry || !(strings.Contains(a.Error, "closed the connection") || strings.Contains(a.Error, "reset")) {
		t.Errorf("hang-up: %+v", a)
	}

	// Unsignable: bad secret is Gone (retrying cannot fix it).
	a = open.Deliver(context.Background(), Request{URL: plain.URL, ID: "m", Body: []byte(`{}`), Secrets: []string{"whsec_%%%"}})
	if a.Outcome != Gone || !strings.Contains(a.Error, "cannot sign") {
		t.Errorf("bad secret: %+v", a)
	}
}
