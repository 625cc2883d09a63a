// Package mail holds the adapters of the gateway's Mailer port: the agent
// sends e-mail through whichever one the environment selects.
//
//   - SMTP delivers through a submission server named by SMTP_URL
//     (smtp://user:pass@host:587?from=agent@example.com, or smtps:// for
//     implicit TLS).
//   - Outbox is used when SMTP_URL is unset: it sends nothing and returns an
//     "outbox" receipt, so the gateway records the mail in its events as
//     sent to the outbox and works the same without a mail server.
//
// Both check and normalise a message the same way (see the contract test
// suite), so switching adapters changes where mail goes and nothing else.
// A message's ID becomes its Message-ID header: the gateway derives it from
// the tool call that sends the mail, so a send retried after a crash
// carries the same Message-ID and recipients' systems can recognise the
// duplicate.
package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Message is one plain-text e-mail.
type Message struct {
	// ID identifies the message deterministically (the same logical mail
	// always has the same ID); it becomes the Message-ID <ID@gateway>.
	// Characters not allowed there are replaced by '-'. Empty derives an ID
	// from the message's content.
	ID string
	// From is the sender, "agent@example.com" or "Agent <agent@example.com>";
	// empty uses the adapter's default sender.
	From string
	// To are the recipients, in the same forms as From.
	To      []string
	Subject string
	Body    string
}

// Receipt says what became of a sent message.
type Receipt struct {
	// Transport is "smtp" or "outbox".
	Transport string
	// MessageID is the Message-ID header, angle brackets included.
	MessageID string
	// Accepted are the recipients' addresses (addr-spec, no display names)
	// that the transport took; every recipient, since a send is all or
	// nothing.
	Accepted []string
}

// Mailer sends e-mail.
type Mailer interface {
	Send(ctx context.Context, msg Message) (Receipt, error)
}

// Transports named in receipts.
const (
	TransportSMTP   = "smtp"
	TransportOutbox = "outbox"
)

// MessageIDDomain is the right-hand side of every Message-ID.
const MessageIDDomain = "gateway"

// ErrInvalidMessage is wrapped by the error for a message no adapter would
// send (no recipient, a malformed address): the caller's mistake, which
// resending will not fix.
var ErrInvalidMessage = errors.New("invalid e-mail message")

// FromEnv picks the adapter: SMTP when SMTP_URL is set, else the outbox.
func FromEnv(getenv func(string) string) (Mailer, error) {
	raw := strings.TrimSpace(getenv("SMTP_URL"))
	if raw == "" {
		return Outbox{}, nil
	}
	return FromURL(raw)
}

// prepared is a checked message: parsed addresses, the Message-ID, and the
// subject made safe for a header.
type prepared struct {
	from      *mail.Address // nil only for the outbox without any sender
	to        []*mail.Address
	messageID string
	subject   string
	body      string
}

// accepted is the recipients' addresses.
func (p prepared) accepted() []string {
	out := make([]string, len(p.to))
	for i, a := range p.to {
		out[i] = a.Address
	}
	return out
}

// prepare checks msg and fills in the defaults. Every adapter calls it, so
// they accept and reject the same messages.
func prepare(msg Message, defaultFrom string) (prepared, error) {
	var p prepared
	from := strings.TrimSpace(msg.From)
	if from == "" {
		from = defaultFrom
	}
	if from != "" {
		a, err := mail.ParseAddress(from)
		if err != nil {
			return p, fmt.Errorf("%w: the sender %q is not an e-mail address (%v)", ErrInvalidMessage, from, err)
		}
		p.from = a
	}
	seen := map[string]bool{}
	for _, raw := range msg.To {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		a, err := mail.ParseAddress(raw)
		if err != nil {
			return p, fmt.Errorf("%w: the recipient %q is not an e-mail address (%v)", ErrInvalidMessage, raw, err)
		}
		if key := strings.ToLower(a.Address); !seen[key] {
			seen[key] = true
			p.to = append(p.to, a)
		}
	}
	if len(p.to) == 0 {
		return p, fmt.Errorf("%w: it has no recipient", ErrInvalidMessage)
	}
	// A line break in the subject would start a new header (header
	// injection); it is a single line by definition.
	p.subject = strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(msg.Subject)), " ")
	p.body = msg.Body
	id := msg.ID
	if strings.TrimSpace(id) == "" {
		id = contentID(p)
	}
	p.messageID = "<" + idPart(id) + "@" + MessageIDDomain + ">"
	return p, nil
}

// contentID derives an ID from what the message says, so that even a
// message sent without an ID gets the same Message-ID when sent again.
func contentID(p prepared) string {
	h := sha256.New()
	if p.from != nil {
		h.Write([]byte(p.from.Address))
	}
	for _, a := range p.to {
		h.Write([]byte{0})
		h.Write([]byte(a.Address))
	}
	h.Write([]byte{0})
	h.Write([]byte(p.subject))
	h.Write([]byte{0})
	h.Write([]byte(p.body))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// idPart makes id a valid left-hand side of a Message-ID (RFC 5322
// dot-atom-text): characters outside atext become '-', and dots may only
// separate non-empty parts.
func idPart(id string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(id) {
		if isAtext(r) || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	parts := strings.Split(b.String(), ".")
	kept := parts[:0]
	for _, part := range parts {
		if part != "" {
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		return "-"
	}
	return strings.Join(kept, ".")
}

func isAtext(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}
