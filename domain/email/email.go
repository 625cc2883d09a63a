// Package email is the sent-mail aggregate: one stream per email the agent
// sends, so a retried "send" finds its own earlier send and does not mail
// twice.
package email

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Stream names an email's stream.
func Stream(id string) string { return "email-" + id }

// Limits.
const (
	MaxRecipients = 50
	MaxSubject    = 300
	MaxBody       = 64 * 1024
)

// Queued claims the send: the mail about to go out, and to whom.
type Queued struct {
	EmailID     string   `json:"email_id"`
	WorkspaceID string   `json:"workspace_id"`
	From        string   `json:"from"`
	To          []string `json:"to"`
	Subject     string   `json:"subject"`
	Body        string   `json:"body"`
	ContactIDs  []string `json:"contact_ids,omitempty"`
	TeamID      string   `json:"team_id,omitempty"`
	// Sandbox marks a mail written under a test API key: it is recorded,
	// never handed to a mail server, and only test keys see it.
	Sandbox  bool      `json:"sandbox,omitempty"`
	QueuedAt time.Time `json:"queued_at"`
}

// Sent records that the mail left through a transport ("smtp") or was
// recorded in the outbox because no SMTP server is configured.
type Sent struct {
	Transport string    `json:"transport"`
	MessageID string    `json:"message_id"`
	SentAt    time.Time `json:"sent_at"`
}

// Failed records that the transport refused the mail.
type Failed struct {
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failed_at"`
}

func (Queued) EventType() string { return "EmailQueued" }
func (Sent) EventType() string   { return "EmailSent" }
func (Failed) EventType() string { return "EmailFailed" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Queued], es.Of[Sent], es.Of[Failed])

// Status of an email.
type Status string

const (
	StatusQueued Status = "queued"
	StatusSent   Status = "sent"
	StatusOutbox Status = "outbox"
	StatusFailed Status = "failed"
	// StatusSandbox: a mail written under a test key, recorded and never
	// handed to a mail server.
	StatusSandbox Status = "sandbox"
)

// Transports an EmailSent names besides a mail server's.
const (
	TransportOutbox  = "outbox"  // no SMTP server is configured
	TransportSandbox = "sandbox" // a test key's mail: never sent
)

// Email is the state folded from its stream.
type Email struct {
	Queued
	Status    Status
	Transport string
	MessageID string
	Reason    string
	Version   int64
}

// Apply folds one fact.
func (m *Email) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Queued:
		m.Queued, m.Status = *e, StatusQueued
	case *Sent:
		m.Transport, m.MessageID = e.Transport, e.MessageID
		m.Status = StatusSent
		switch e.Transport {
		case TransportOutbox:
			m.Status = StatusOutbox
		case TransportSandbox:
			m.Status = StatusSandbox
		}
	case *Failed:
		m.Status, m.Reason = StatusFailed, e.Reason
	}
}

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

// ErrNoRecipients means nobody would receive the mail.
var ErrNoRecipients = errors.New("the email has no recipient with an email address")

// Compose decides the facts of a mail to send.
func Compose(q Queued) ([]es.Fact, error) {
	q.Subject = strings.TrimSpace(q.Subject)
	if q.Subject == "" {
		return nil, &ValidationError{Field: "subject", Reason: "is required"}
	}
	if utf8.RuneCountInString(q.Subject) > MaxSubject {
		return nil, &ValidationError{Field: "subject", Reason: fmt.Sprintf("must be at most %d characters", MaxSubject)}
	}
	if strings.TrimSpace(q.Body) == "" {
		return nil, &ValidationError{Field: "body", Reason: "is required"}
	}
	if len(q.Body) > MaxBody {
		return nil, &ValidationError{Field: "body", Reason: fmt.Sprintf("must be at most %d KiB", MaxBody/1024)}
	}
	seen := map[string]bool{}
	var to []string
	for _, a := range q.To {
		a = strings.TrimSpace(a)
		p, err := mail.ParseAddress(a)
		if err != nil || p.Address != a {
			return nil, &ValidationError{Field: "to", Reason: fmt.Sprintf("%q is not a valid email address", a)}
		}
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			to = append(to, a)
		}
	}
	if len(to) == 0 {
		return nil, ErrNoRecipients
	}
	if len(to) > MaxRecipients {
		return nil, &ValidationError{Field: "to", Reason: fmt.Sprintf("must list at most %d recipients", MaxRecipients)}
	}
	q.To = to
	return []es.Fact{&q}, nil
}
