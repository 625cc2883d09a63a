// Package webhook is the delivery aggregate: every attempt to hand a
// finished conversation's reply to the caller's response_url, and how each
// delivery ended. One stream per conversation holds all its deliveries
// (the first one, and any the caller asks to redeliver), so they share one
// webhook id and receivers can deduplicate.
package webhook

import (
	"errors"
	"fmt"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Stream names the delivery stream of a conversation.
func Stream(conversationID string) string { return "webhook-" + conversationID }

// ID is the Standard Webhooks message id: stable across retries and
// redeliveries of one turn's reply, and different for each turn of a
// conversation (the first keeps the id it always had), so receivers that
// deduplicate by it take every turn once.
func ID(conversationID string, turn int) string {
	if turn <= 1 {
		return "msg_" + conversationID
	}
	return fmt.Sprintf("msg_%s_%d", conversationID, turn)
}

// Outcome of one attempt.
type Outcome string

const (
	OutcomeDelivered Outcome = "delivered"
	OutcomeFailed    Outcome = "failed"
	OutcomeGone      Outcome = "gone" // 410: the receiver asked us to stop
)

// Started opens a delivery: what is sent, and where.
type Started struct {
	Delivery       int    `json:"delivery"`
	ConversationID string `json:"conversation_id"`
	// Turn is the conversation turn whose ending this delivery carries
	// (0 in deliveries recorded before follow-ups: the first).
	Turn      int       `json:"turn,omitempty"`
	APIKeyID  string    `json:"api_key_id"`
	URL       string    `json:"url"`
	WebhookID string    `json:"webhook_id"`
	Body      string    `json:"body"` // the exact bytes signed and sent on every attempt
	Reason    string    `json:"reason"`
	StartedAt time.Time `json:"started_at"`
}

// AttemptStarted claims an attempt, so that only one worker sends it.
type AttemptStarted struct {
	Delivery  int       `json:"delivery"`
	Attempt   int       `json:"attempt"`
	StartedAt time.Time `json:"started_at"`
}

// AttemptCompleted records what one attempt got back.
type AttemptCompleted struct {
	Delivery       int        `json:"delivery"`
	Attempt        int        `json:"attempt"`
	URL            string     `json:"url"`
	Outcome        Outcome    `json:"outcome"`
	StatusCode     int        `json:"status_code"` // 0: no HTTP response
	DurationMS     int64      `json:"duration_ms"`
	Error          string     `json:"error,omitempty"`
	ResponsePrefix string     `json:"response_prefix,omitempty"` // first KiB of the body
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	CompletedAt    time.Time  `json:"completed_at"`
}

// Delivered ends a delivery successfully.
type Delivered struct {
	Delivery    int       `json:"delivery"`
	Attempt     int       `json:"attempt"`
	DeliveredAt time.Time `json:"delivered_at"`
}

// Abandoned ends a delivery without success.
type Abandoned struct {
	Delivery    int       `json:"delivery"`
	Reason      string    `json:"reason"`
	AbandonedAt time.Time `json:"abandoned_at"`
}

func (Started) EventType() string          { return "WebhookDeliveryStarted" }
func (AttemptStarted) EventType() string   { return "WebhookAttemptStarted" }
func (AttemptCompleted) EventType() string { return "WebhookAttemptCompleted" }
func (Delivered) EventType() string        { return "WebhookDelivered" }
func (Abandoned) EventType() string        { return "WebhookAbandoned" }

// Events decodes this aggregate's facts.
var Events = es.Registered(
	es.Of[Started], es.Of[AttemptStarted], es.Of[AttemptCompleted], es.Of[Delivered], es.Of[Abandoned],
)

// Deliveries is the state of a conversation's webhook stream.
type Deliveries struct {
	Current   Started
	Count     int // deliveries started
	Turn      int // the latest turn a delivery started for
	Attempts  int // attempts of the current delivery, claimed or completed
	Completed int // attempts of the current delivery with a result
	Claimed   *AttemptStarted
	Done      bool // the current delivery ended (delivered or abandoned)
	NextAt    *time.Time
	Version   int64
}

// Apply folds one fact.
func (d *Deliveries) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Started:
		d.Current, d.Count, d.Turn = *e, e.Delivery, max(e.Turn, 1)
		d.Attempts, d.Completed, d.Claimed, d.Done, d.NextAt = 0, 0, nil, false, nil
	case *AttemptStarted:
		d.Attempts = e.Attempt
		c := *e
		d.Claimed = &c
	case *AttemptCompleted:
		d.Completed = e.Attempt
		d.Claimed = nil
		d.NextAt = e.NextAttemptAt
	case *Delivered, *Abandoned:
		d.Done, d.NextAt, d.Claimed = true, nil, nil
	}
}

// Errors callers act on.
var (
	ErrInProgress  = errors.New("a delivery of this conversation is still in progress")
	ErrNothingToDo = errors.New("nothing to do")
)

// Start decides a new delivery; a second one of the same turn only after
// the last ended. A later turn's ending supersedes a delivery still
// retrying: it is abandoned, saying why, and the new one carries the
// conversation as it is now (its usage includes the turn before).
func (d *Deliveries) Start(s Started) ([]es.Fact, error) {
	s.Delivery = d.Count + 1
	if d.Count > 0 && !d.Done {
		if max(s.Turn, 1) <= d.Turn {
			return nil, ErrInProgress
		}
		return []es.Fact{&Abandoned{Delivery: d.Count, AbandonedAt: s.StartedAt,
			Reason: fmt.Sprintf("Superseded: turn %d of the conversation ended before this delivery succeeded.", s.Turn)}, &s}, nil
	}
	return []es.Fact{&s}, nil
}

// Claim decides whether attempt n of delivery may start now. A claim left
// by a worker that died (older than stale) is closed as a failed attempt
// first, so the history says what happened, and the next attempt starts
// at once.
func (d *Deliveries) Claim(delivery, n int, now time.Time, stale time.Duration) ([]es.Fact, error) {
	if delivery < 1 || d.Count != delivery || d.Done {
		return nil, ErrNothingToDo
	}
	if c := d.Claimed; c != nil {
		if now.Sub(c.StartedAt) < stale {
			return nil, ErrNothingToDo // someone is on it
		}
		return []es.Fact{
			&AttemptCompleted{Delivery: delivery, Attempt: c.Attempt, URL: d.Current.URL, Outcome: OutcomeFailed,
				Error: "The attempt was interrupted: the gateway stopped before it finished.", CompletedAt: now},
			&AttemptStarted{Delivery: delivery, Attempt: c.Attempt + 1, StartedAt: now},
		}, nil
	}
	if n != d.Completed+1 || (d.NextAt != nil && now.Before(*d.NextAt)) {
		return nil, ErrNothingToDo // already done, or not due yet
	}
	return []es.Fact{&AttemptStarted{Delivery: delivery, Attempt: n, StartedAt: now}}, nil
}

// Complete records an attempt's result and, when it ends the delivery, the
// outcome. next is the time of the next attempt (nil: no more attempts).
func (d *Deliveries) Complete(a AttemptCompleted, next *time.Time, now time.Time) ([]es.Fact, error) {
	if d.Claimed == nil || d.Claimed.Attempt != a.Attempt || d.Count != a.Delivery || d.Done {
		return nil, ErrNothingToDo
	}
	a.CompletedAt = now
	switch a.Outcome {
	case OutcomeDelivered:
		return []es.Fact{&a, &Delivered{Delivery: a.Delivery, Attempt: a.Attempt, DeliveredAt: now}}, nil
	case OutcomeGone:
		reason := "The receiver answered 410 Gone, which asks us to stop."
		if a.StatusCode != 410 {
			reason = "The delivery cannot succeed as configured: " + a.Error
		}
		return []es.Fact{&a, &Abandoned{Delivery: a.Delivery, AbandonedAt: now, Reason: reason}}, nil
	}
	if next == nil {
		return []es.Fact{&a, &Abandoned{Delivery: a.Delivery, AbandonedAt: now,
			Reason: "Every attempt of the retry schedule failed."}}, nil
	}
	a.NextAttemptAt = next
	return []es.Fact{&a}, nil
}
