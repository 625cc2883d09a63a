// Package es holds the vocabulary every event-sourced part of the gateway
// shares: what an event looks like before and after it is stored, where it
// sits in the global log, and how optimistic concurrency is expressed. It is
// pure data: the stores that give these types life live in infra/eventstore.
package es

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Expected versions for Append. A stream's version is the number of events
// in it, so the first event of a stream has version 1.
const (
	// AnyVersion appends without a concurrency check.
	AnyVersion int64 = -1
	// NoStream requires that the stream has no events yet.
	NoStream int64 = 0
)

// ErrConcurrency is returned by Append when the stream is not at the expected
// version: someone else appended first. Callers reload and decide again.
var ErrConcurrency = errors.New("stream was changed by someone else")

// ConflictError says which version was expected and which one was found.
type ConflictError struct {
	Stream   string
	Expected int64
	Actual   int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("stream %s: expected version %d, found %d", e.Stream, e.Expected, e.Actual)
}

// Is lets errors.Is(err, ErrConcurrency) match a ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConcurrency }

// Actor says who caused an event: a user, an API key, the agent or the system.
type Actor struct {
	Kind string `json:"kind"` // "user", "api_key", "agent", "system", "admin"
	ID   string `json:"id,omitempty"`
}

// Metadata travels with every event. It never holds secrets.
type Metadata struct {
	// CorrelationID ties together everything one conversation (or one request) caused.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the event or request that directly caused this event.
	CausationID string `json:"causation_id,omitempty"`
	Actor       Actor  `json:"actor"`
	// Schema is the version of the event's data shape; a changed shape gets a
	// new number and old events keep loading.
	Schema int `json:"schema"`
	// OccurredAt comes from the command's Clock, so tests can move time.
	OccurredAt time.Time `json:"occurred_at"`
	// TraceParent is the W3C trace context of the work that recorded the
	// event, so the work it causes (sagas, commands, the webhook) goes on
	// in the same trace; empty without tracing.
	TraceParent string `json:"traceparent,omitempty"`
	// Hash is the event's link in its stream's hash chain (see ChainHash).
	// The store sets it when it appends the event, overwriting whatever
	// the caller put here, and returns it with every read. It is not part
	// of the hashed content itself.
	//
	// Fields added to Metadata later must be omitempty: the hash covers the
	// JSON encoding of Metadata, and an old event must encode as it did.
	Hash string `json:"hash,omitempty"`
}

// Event is a fact about to be appended.
type Event struct {
	ID       string          // UUID, unique across the store
	Type     string          // PascalCase past-tense fact, e.g. "ConversationOpened"
	Data     json.RawMessage // JSON object
	Metadata Metadata
}

// Position is a place in the global log. Events are totally ordered by
// (Tx, Seq). Adapters whose order is a single counter leave Tx at zero; the
// Postgres adapter puts the writing transaction's id in Tx so that a reader
// never passes an event whose transaction commits late.
type Position struct {
	Tx  uint64 `json:"tx"`
	Seq uint64 `json:"seq"`
}

// Start is the position before the first event.
var Start = Position{}

// Less reports whether p comes strictly before q.
func (p Position) Less(q Position) bool {
	if p.Tx != q.Tx {
		return p.Tx < q.Tx
	}
	return p.Seq < q.Seq
}

// String renders the position as "tx:seq", the form cursors and logs use.
func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Tx, p.Seq) }

// ParsePosition reads the "tx:seq" form back.
func ParsePosition(s string) (Position, error) {
	a, b, ok := strings.Cut(s, ":")
	tx, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Position{}, fmt.Errorf("position %q is not of the form tx:seq", s)
	}
	return Position{Tx: tx, Seq: seq}, nil
}

// Recorded is an event as the store returns it.
type Recorded struct {
	ID            string
	Stream        string
	StreamVersion int64 // 1 for the first event of a stream
	Position      Position
	Type          string
	Data          json.RawMessage
	Metadata      Metadata
}

// Guard makes an append depend on a stream it does not write: the append
// lands only while that stream is still at Version (the version the caller
// decided on), and fails with a *ConflictError naming the guarded stream
// otherwise. A command that decides on an API key's events and records a
// conversation uses it, so that a key revoked after the decision refuses
// the message without the command reading the key again on every call.
type Guard struct {
	Stream  string
	Version int64
}

// AppendResult tells where the last appended event landed.
type AppendResult struct {
	Version  int64    // the stream's version after the append
	Position Position // the global position of the last appended event
}
