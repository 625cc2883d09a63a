package mail

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestFromURL(t *testing.T) {
	ok := []struct {
		raw, addr, from, user, str string
		tls, skip                  bool
	}{
		{raw: "smtp://user:pass@mail.example.com?from=agent@example.com", addr: "mail.example.com:587", from: "agent@example.com", user: "user", str: "smtp://user@mail.example.com:587"},
		{raw: "smtps://user:pass@mail.example.com?from=agent@example.com", addr: "mail.example.com:465", from: "agent@example.com", user: "user", tls: true, str: "smtps://user@mail.example.com:465"},
		{raw: "smtp://relay:2525/?from=Agent%20%3Cagent@example.com%3E", addr: "relay:2525", from: "Agent <agent@example.com>", str: "smtp://relay:2525"},
		{raw: "smtp://agent%40example.com:p%40ss@[::1]:25", addr: "[::1]:25", from: "agent@example.com", user: "agent@example.com"},
		{raw: "smtp://u:p@127.0.0.1:1025?from=a@example.com&insecure_skip_verify=true", addr: "127.0.0.1:1025", from: "a@example.com", user: "u", skip: true},
	}
	for _, c := range ok {
		s, err := FromURL(c.raw)
		if err != nil {
			t.Errorf("FromURL(%q): %v", c.raw, err)
			continue
		}
		if s.Addr() != c.addr || s.from != c.from || s.username != c.user || s.implicitTLS != c.tls || s.insecureSkipVerify != c.skip {
			t.Errorf("FromURL(%q) = addr %q from %q user %q tls %v skip %v", c.raw, s.Addr(), s.from, s.username, s.implicitTLS, s.insecureSkipVerify)
		}
		if c.str != "" && s.String() != c.str {
			t.Errorf("String() = %q, want %q", s.String(), c.str)
		}
		if strings.Contains(s.String(), "pass") || strings.Contains(s.String(), "p%40ss") {
			t.Errorf("String() = %q shows the password", s.String())
		}
	}

	bad := []struct{ raw, want string }{
		{"http://mail.example.com?from=a@example.com", "must start with smtp:// or smtps://"},
		{"mail.example.com:587", "must start with smtp://"},
		{"smtp://?from=a@example.com", "no host"},
		{"smtp://mail.example.com:99999?from=a@example.com", "invalid port"},
		{"smtp://mail.example.com", "needs the sender"},
		{"smtp://mail.example.com?from=not-an-address", "not an e-mail address"},
		{"smtp://user@mail.example.com?from=a@example.com", "both a user name and a password"},
		{"smtp://mail.example.com?from=a@example.com&tls=on", `unknown parameter "tls"`},
		{"smtp://mail.example.com?from=a@example.com&insecure_skip_verify=maybe", "true or false"},
		{"smtp://mail.example.com/inbox?from=a@example.com", "must not have a path"},
		{"smtp://user:top secret%zz@mail.example.com", "not a valid URL"},
	}
	for _, c := range bad {
		_, err := FromURL(c.raw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromURL(%q) = %v, want an error containing %q", c.raw, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "top secret") {
			t.Errorf("FromURL error repeats the password: %v", err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	m, err := FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(Outbox); !ok {
		t.Errorf("without SMTP_URL: %T, want Outbox", m)
	}
	m, err = FromEnv(func(k string) string {
		if k == "SMTP_URL" {
			return "smtp://u:p@mail.example.com?from=a@example.com"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := m.(*SMTP); !ok || s.Addr() != "mail.example.com:587" {
		t.Errorf("with SMTP_URL: %T %v", m, m)
	}
	if _, err := FromEnv(func(string) string { return "smtp://nope" }); err == nil {
		t.Error("FromEnv accepted an SMTP_URL without a sender")
	}
}

func TestOutboxUsesItsDefaultSender(t *testing.T) {
	r, err := Outbox{From: "agent@example.com"}.Send(context.Background(), Message{ID: "o", To: []string{"ada@example.com"}})
	if err != nil || r.Transport != "outbox" || r.MessageID != "<o@gateway>" {
		t.Errorf("receipt %+v, err %v", r, err)
	}
	if _, err := (Outbox{From: "bad sender"}).Send(context.Background(), Message{ID: "o", To: []string{"ada@example.com"}}); err == nil {
		t.Error("an invalid default sender was accepted")
	}
}

func TestRenderKeepsHeadersSafe(t *testing.T) {
	p, err := prepare(Message{ID: "..a b..", From: "agent@example.com", To: []string{"ada@example.com"},
		Subject: "Hello\r\nBcc: eve@example.com", Body: "line one\r\nline two"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.messageID != "<a-b@gateway>" {
		t.Errorf("Message-ID = %q", p.messageID)
	}
	out := string(render(p, fixedDate))
	if strings.Contains(out, "\r\nBcc:") || !strings.Contains(out, "\r\nSubject: Hello Bcc: eve@example.com\r\n") {
		t.Errorf("subject with a line break was not flattened:\n%s", out)
	}
	if !strings.Contains(out, "Auto-Submitted: auto-generated\r\n") || !strings.HasSuffix(out, "\r\n\r\nline one\r\nline two\r\n") {
		t.Errorf("rendered message:\n%q", out)
	}
}

var fixedDate = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
