package mail

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// runMailerSuite is what every Mailer does alike, whichever transport is
// configured: the same receipts for the same messages, the same
// deterministic Message-IDs, the same messages refused.
func runMailerSuite(t *testing.T, m Mailer) {
	ctx := context.Background()

	t.Run("receipt names the message and its recipients", func(t *testing.T) {
		r, err := m.Send(ctx, Message{
			ID:      "toolcall:conv-1:2.1",
			From:    "Agent <agent@example.com>",
			To:      []string{"Ada Lovelace <ada@example.com>", "bob@example.com", "ADA@example.com", " "},
			Subject: "Hello",
			Body:    "Hi Ada,\nsee you Monday.\n",
		})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if r.Transport != TransportSMTP && r.Transport != TransportOutbox {
			t.Errorf("Transport = %q", r.Transport)
		}
		if r.MessageID != "<toolcall-conv-1-2.1@gateway>" {
			t.Errorf("MessageID = %q, want the ID made safe for a Message-ID", r.MessageID)
		}
		if want := []string{"ada@example.com", "bob@example.com"}; !slices.Equal(r.Accepted, want) {
			t.Errorf("Accepted = %q, want %q (addresses, each once)", r.Accepted, want)
		}
	})

	t.Run("a resent message keeps its Message-ID", func(t *testing.T) {
		msg := Message{ID: "5b0c7a7e-6c55-5d2e-9f55-1b2f4c1d0e11", From: "agent@example.com", To: []string{"ada@example.com"}, Subject: "Once", Body: "x"}
		a, err := m.Send(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Send(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if a.MessageID != "<5b0c7a7e-6c55-5d2e-9f55-1b2f4c1d0e11@gateway>" || a.MessageID != b.MessageID {
			t.Errorf("Message-IDs %q and %q", a.MessageID, b.MessageID)
		}
	})

	t.Run("a message without ID gets one from its content", func(t *testing.T) {
		msg := Message{From: "agent@example.com", To: []string{"ada@example.com"}, Subject: "No id", Body: "same"}
		a, err := m.Send(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Send(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		msg.Body = "different"
		c, err := m.Send(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if a.MessageID != b.MessageID || a.MessageID == c.MessageID || len(a.MessageID) < 20 {
			t.Errorf("derived Message-IDs: same content %q / %q, other content %q", a.MessageID, b.MessageID, c.MessageID)
		}
	})

	t.Run("invalid messages are refused", func(t *testing.T) {
		for name, msg := range map[string]Message{
			"no recipient":       {ID: "1", From: "agent@example.com", Subject: "s"},
			"blank recipients":   {ID: "1", From: "agent@example.com", To: []string{"", "  "}},
			"not an address":     {ID: "1", From: "agent@example.com", To: []string{"Ada Lovelace"}},
			"header injection":   {ID: "1", From: "agent@example.com", To: []string{"ada@example.com\r\nBcc: eve@example.com"}},
			"sender not address": {ID: "1", From: "agent at example", To: []string{"ada@example.com"}},
		} {
			if _, err := m.Send(ctx, msg); !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%s: err = %v, want ErrInvalidMessage", name, err)
			}
		}
	})

	t.Run("a cancelled context sends nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := m.Send(cctx, Message{ID: "c", From: "agent@example.com", To: []string{"ada@example.com"}, Subject: "s", Body: "b"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func TestOutboxMailer(t *testing.T) {
	runMailerSuite(t, Outbox{})
}

func TestSMTPMailer(t *testing.T) {
	ts := startServer(t, plain, "agent", "s3cret")
	m := mustFromURL(t, "smtp://agent:s3cret@"+ts.addr+"?from=agent@example.com")
	runMailerSuite(t, m)
	// The invalid messages and the cancelled send never reached the server.
	if n := len(ts.delivered()); n != 6 {
		t.Errorf("server received %d messages, want 6", n)
	}
}
