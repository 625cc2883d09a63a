package mail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustFromURL(t *testing.T, raw string) *SMTP {
	t.Helper()
	s, err := FromURL(raw)
	if err != nil {
		t.Fatalf("FromURL: %v", err)
	}
	s.DialTimeout, s.SendTimeout = 2*time.Second, 5*time.Second
	return s
}

// parseDelivered reads a received message as a mail client would.
func parseDelivered(t *testing.T, d delivered) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(d.data))
	if err != nil {
		t.Fatalf("received data is not an RFC 5322 message: %v\n%s", err, d.data)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	return msg, strings.ReplaceAll(string(body), "\r\n", "\n")
}

func TestSMTPDeliversTheMessageIntact(t *testing.T) {
	ts := startServer(t, plain, "agent@example.com", "pä$$ wörd")
	// The user name is an address (its @ percent-encoded) and serves as the
	// default sender; the password has characters that need encoding.
	m := mustFromURL(t, "smtp://agent%40example.com:p%C3%A4$$%20w%C3%B6rd@"+ts.addr)
	m.now = func() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }

	subject := "Rendez-vous à Zürich — 会议 on Monday, with a subject long enough to need more than one encoded word"
	body := "Bonjour Zoë,\n\n" +
		".a line starting with a dot\n" +
		"trailing spaces   \n" +
		strings.Repeat("a long line of text that goes on ", 5) + "\n" +
		"=3D is not an escape here, and naïve UTF-8 survives: 你好 👋\n"
	r, err := m.Send(context.Background(), Message{
		ID:      "toolcall:conv-7:3.1",
		To:      []string{"Zoë Smith <zoe@example.com>", "ada@example.com"},
		Subject: subject,
		Body:    body,
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r.Transport != "smtp" || r.MessageID != "<toolcall-conv-7-3.1@gateway>" || !slices.Equal(r.Accepted, []string{"zoe@example.com", "ada@example.com"}) {
		t.Errorf("receipt = %+v", r)
	}

	got := ts.delivered()
	if len(got) != 1 {
		t.Fatalf("server received %d messages", len(got))
	}
	d := got[0]
	if d.from != "agent@example.com" || !slices.Equal(d.to, []string{"zoe@example.com", "ada@example.com"}) {
		t.Errorf("envelope from %q to %q", d.from, d.to)
	}
	if d.user != "agent@example.com" {
		t.Errorf("authenticated as %q", d.user)
	}
	for _, line := range strings.Split(string(d.data), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78 characters: %q", line)
		}
	}

	msg, gotBody := parseDelivered(t, d)
	h := msg.Header
	dec := new(mime.WordDecoder)
	if s, err := dec.DecodeHeader(h.Get("Subject")); err != nil || s != subject {
		t.Errorf("Subject = %q (%v), want %q", s, err, subject)
	}
	if h.Get("Message-ID") != "<toolcall-conv-7-3.1@gateway>" {
		t.Errorf("Message-ID = %q", h.Get("Message-ID"))
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "agent@example.com" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != "Zoë Smith" || to[0].Address != "zoe@example.com" || to[1].Address != "ada@example.com" {
		t.Errorf("To = %q → %v (%v)", h.Get("To"), to, err)
	}
	if date, err := h.Date(); err != nil || !date.Equal(m.now()) {
		t.Errorf("Date = %q (%v)", h.Get("Date"), err)
	}
	if h.Get("MIME-Version") != "1.0" || h.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("MIME headers: %q, %q", h.Get("MIME-Version"), h.Get("Content-Type"))
	}
	if gotBody != body {
		t.Errorf("body =\n%q\nwant\n%q", gotBody, body)
	}
	if bytes.ContainsAny(d.data, "\x80\xff") || !isASCII(string(d.data)) {
		t.Errorf("message is not 7-bit clean:\n%s", d.data)
	}
}

func TestSMTPWithoutAuth(t *testing.T) {
	ts := startServer(t, plain, "", "")
	m := mustFromURL(t, "smtp://"+ts.addr+"?from=Gateway%20Agent%20%3Cagent@example.com%3E")
	if _, err := m.Send(context.Background(), Message{ID: "x", To: []string{"ada@example.com"}, Subject: "Hi", Body: "Hello"}); err != nil {
		t.Fatal(err)
	}
	d := ts.delivered()
	if len(d) != 1 || d[0].from != "agent@example.com" || d[0].user != "" {
		t.Fatalf("delivered = %+v", d)
	}
	msg, _ := parseDelivered(t, d[0])
	if from, _ := msg.Header.AddressList("From"); len(from) != 1 || from[0].Name != "Gateway Agent" {
		t.Errorf("From = %q", msg.Header.Get("From"))
	}
}

func TestSMTPWrongPassword(t *testing.T) {
	ts := startServer(t, plain, "agent", "right-password")
	m := mustFromURL(t, "smtp://agent:wrong-password@"+ts.addr+"?from=agent@example.com")
	_, err := m.Send(context.Background(), Message{ID: "x", To: []string{"ada@example.com"}, Subject: "s", Body: "b"})
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *SendError", err, err)
	}
	msg := err.Error()
	for _, want := range []string{ts.addr, "rejected the user name or password", `"agent"`, "535", "SMTP_URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "wrong-password") || strings.Contains(m.String(), "wrong-password") {
		t.Errorf("password leaked: %q / %q", msg, m.String())
	}
	if se.Temporary || se.Addr != ts.addr {
		t.Errorf("SendError = %+v, want permanent, naming %s", se, ts.addr)
	}
	if len(ts.delivered()) != 0 {
		t.Error("a message was delivered without authentication")
	}
}

func TestSMTPServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	m := mustFromURL(t, "smtp://agent:hunter2@"+addr+"?from=agent@example.com")
	_, err = m.Send(context.Background(), Message{ID: "x", To: []string{"ada@example.com"}, Subject: "s", Body: "b"})
	var se *SendError
	if !errors.As(err, &se) || !se.Temporary {
		t.Fatalf("err = %v, want a temporary *SendError", err)
	}
	want := "mail: cannot connect to the SMTP server at " + addr + ": connection refused"
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("message %q, want it to start with %q", err, want)
	}
}

func TestSMTPRefusedRecipientSendsNothing(t *testing.T) {
	ts := startServer(t, plain, "", "")
	ts.refuse = "nobody@example.com"
	m := mustFromURL(t, "smtp://"+ts.addr+"?from=agent@example.com")
	_, err := m.Send(context.Background(), Message{ID: "x", To: []string{"ada@example.com", "nobody@example.com"}, Subject: "s", Body: "b"})
	var se *SendError
	if !errors.As(err, &se) || se.Temporary {
		t.Fatalf("err = %v, want a permanent *SendError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `refused the recipient "nobody@example.com"`) || !strings.Contains(msg, "550 no such mailbox") {
		t.Errorf("message %q", msg)
	}
	if n := len(ts.delivered()); n != 0 {
		t.Errorf("%d messages delivered, want none: a send is all or nothing", n)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	ts := startServer(t, startTLS, "agent", "s3cret")
	m := mustFromURL(t, "smtp://agent:s3cret@"+ts.addr+"?from=agent@example.com&insecure_skip_verify=true")
	if _, err := m.Send(context.Background(), Message{ID: "tls", To: []string{"ada@example.com"}, Subject: "s", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if d := ts.delivered(); len(d) != 1 || !d[0].tls || d[0].user != "agent" {
		t.Fatalf("delivered = %+v, want one message over TLS", d)
	}

	// Verifying the certificate (the default) refuses the self-signed one,
	// and the password is not sent in the clear instead.
	strict := mustFromURL(t, "smtp://agent:s3cret@"+ts.addr+"?from=agent@example.com")
	_, err := strict.Send(context.Background(), Message{ID: "tls2", To: []string{"ada@example.com"}, Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "TLS with the SMTP server at "+ts.addr) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v, want a certificate failure naming the server", err)
	}
	if len(ts.delivered()) != 1 {
		t.Error("a message went through an unverified connection")
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	ts := startServer(t, implicit, "agent", "s3cret")
	m := mustFromURL(t, "smtps://agent:s3cret@"+ts.addr+"?from=agent@example.com&insecure_skip_verify=1")
	if _, err := m.Send(context.Background(), Message{ID: "smtps", To: []string{"ada@example.com"}, Subject: "s", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if d := ts.delivered(); len(d) != 1 || !d[0].tls {
		t.Fatalf("delivered = %+v", d)
	}
	strict := mustFromURL(t, "smtps://agent:s3cret@"+ts.addr+"?from=agent@example.com")
	_, err := strict.Send(context.Background(), Message{ID: "smtps2", To: []string{"ada@example.com"}, Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "TLS with the SMTP server at "+ts.addr) {
		t.Errorf("err = %v, want a TLS failure", err)
	}
}

func TestSMTPCredentialsForAServerWithoutAuth(t *testing.T) {
	ts := startServer(t, plainNoAuth, "", "")
	m := mustFromURL(t, "smtp://agent:s3cret@"+ts.addr+"?from=agent@example.com")
	_, err := m.Send(context.Background(), Message{ID: "x", To: []string{"ada@example.com"}, Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "does not offer authentication") || !strings.Contains(err.Error(), ts.addr) {
		t.Errorf("err = %v", err)
	}
}

func TestSMTPSendTimeout(t *testing.T) {
	// A server that accepts the connection and never says a word.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	m := mustFromURL(t, "smtp://"+l.Addr().String()+"?from=agent@example.com")
	m.SendTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err = m.Send(context.Background(), Message{ID: "x", To: []string{"ada@example.com"}, Subject: "s", Body: "b"})
	if took := time.Since(start); took > 5*time.Second { // the server never answers
		t.Errorf("Send took %s with a 200ms limit", took)
	}
	var se *SendError
	if !errors.As(err, &se) || !se.Temporary || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("err = %v", err)
	}
}
