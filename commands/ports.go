// Package commands holds the write side: each command loads the streams it
// needs, lets the domain decide, and appends the facts with the version it
// read. Ports are declared here, beside their only consumer; adapters live
// in infra and are wired in cmd/gateway.
package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// EventStore is the part of an event store commands use.
type EventStore interface {
	Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error)
	AppendGuarded(ctx context.Context, stream string, expected int64, guards []es.Guard, events ...es.Event) (es.AppendResult, error)
	ReadStream(ctx context.Context, stream string, afterVersion int64) ([]es.Recorded, error)
}

// Clock gives the time, so tests can move it.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock, in UTC with microsecond precision (what
// every store keeps).
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Model is a tool-calling language model.
type Model interface {
	Complete(ctx context.Context, req agent.Request) (agent.Response, error)
}

// Sealer encrypts secrets the server must reuse later (webhook signing
// secrets) so that they never sit in an event in plaintext.
type Sealer interface {
	Seal(plaintext string) (string, error)
	Open(sealed string) (string, error)
}

// ToolCall is one tool invocation with everything needed to scope it.
type ToolCall struct {
	WorkspaceID    string
	UserID         string
	ConversationID string
	// Key is the conversation's own id for the call; EffectID derives from
	// it so that a retried call has the same side effect, once.
	Key       string
	Name      string
	Arguments []byte
	// Sandbox: the call works for a test API key (see Cause.Sandbox).
	Sandbox bool
}

// Observer hears of what the commands record, after it is in the log:
// metrics count from it. Its methods must be quick and must not fail.
type Observer interface {
	// Recorded is called with the facts of a successful append.
	Recorded(stream string, facts []es.Fact)
	// Appended is called after every append, with its size and time.
	Appended(events int, took time.Duration, err error)
}

// EffectID is the deterministic id of the entity a tool call creates.
func (c ToolCall) EffectID() string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("tool-effect:"+c.ConversationID+":"+c.Key)).String()
}

// CauseID names the tool call as the cause of the facts it records.
func (c ToolCall) CauseID() string { return "toolcall:" + c.ConversationID + ":" + c.Key }

// Tools runs the agent's tools.
type Tools interface {
	Specs() []agent.ToolSpec
	// Execute returns the result the model will read; isError marks a
	// result that reports a failure (bad arguments, nothing found...).
	Execute(ctx context.Context, call ToolCall) (result string, isError bool)
}

// MailMessage is one e-mail to send; ID becomes its Message-ID, so a
// resent mail is recognisable as the same one.
type MailMessage struct {
	ID, From string
	To       []string
	Subject  string
	Body     string
}

// MailReceipt says which transport took the mail ("smtp" or "outbox").
type MailReceipt struct {
	Transport, MessageID string
}

// Mailer sends e-mail.
type Mailer interface {
	Send(ctx context.Context, m MailMessage) (MailReceipt, error)
}

// Streamer is a model that hands out its answer's text as it writes it
// (attempt numbers the try; a retried call writes its text again).
type Streamer interface {
	CompleteStreaming(ctx context.Context, req agent.Request, delta func(attempt int, text string)) (agent.Response, error)
}

// Relay carries the text of running model steps to the event streams of
// their conversations, on every instance, outside the log. It is best
// effort: what it loses, a stream takes from the log once the step is
// recorded, so no reply ever misses text.
type Relay interface {
	Publish(d Delta)
}

// Delta is a window on the text a model step has written so far (its
// leading spaces left out): Text starts Offset bytes into it and runs to
// what has been written. Each one stands alone, so a relay may drop all
// but the latest.
type Delta struct {
	ConversationID string `json:"c"`
	Step           int    `json:"s"`
	// Writer names the worker writing the text (two may run one step when
	// a claim went stale); Attempt numbers its tries.
	Writer  string `json:"w"`
	Attempt int    `json:"a"`
	Offset  int    `json:"o"`
	Text    string `json:"t"`
}
