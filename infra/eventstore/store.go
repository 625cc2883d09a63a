// Package eventstore declares what every event-store adapter offers (the
// embedded bbolt store, Postgres, and later EventStoreDB) so that one contract
// suite (eventstoretest) can hold them all to the same rules.
package eventstore

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Store is the full surface of an event-store adapter.
type Store interface {
	// Append adds events to the end of a stream if the stream is at the
	// expected version (es.AnyVersion skips the check, es.NoStream requires a
	// new stream). All events land or none do. A mismatch returns an error
	// that matches es.ErrConcurrency. The store sets each event's
	// Metadata.Hash to its link in the stream's hash chain (es.ChainHash),
	// computed in the append's transaction from the stream's previous event,
	// and returns it with every read, so es.VerifyChain can check them.
	Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error)
	// AppendGuarded is Append that also requires each guarded stream to be
	// at its version when the events land (see es.Guard); a guard that
	// fails is a *es.ConflictError on the guarded stream, and nothing lands.
	AppendGuarded(ctx context.Context, stream string, expected int64, guards []es.Guard, events ...es.Event) (es.AppendResult, error)
	// ReadStream returns the stream's events with a version greater than
	// afterVersion, oldest first. A missing stream is an empty slice.
	ReadStream(ctx context.Context, stream string, afterVersion int64) ([]es.Recorded, error)
	// ReadAll returns up to limit events of the global log that come after
	// the given position, in log order. An event is only returned once no
	// event can appear before it any more, so a reader that checkpoints the
	// last position it saw never misses one.
	ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
	// ReadCorrelated returns up to limit events whose
	// Metadata.CorrelationID is correlationID (everything one conversation
	// caused, in every stream) that come after the given position, in log
	// order and under the same rule as ReadAll: an event is only returned
	// once no event can appear before it any more. An empty correlationID
	// is refused.
	ReadCorrelated(ctx context.Context, correlationID string, after es.Position, limit int) ([]es.Recorded, error)
	// Head is the position of the last event ReadAll would return now.
	Head(ctx context.Context) (es.Position, error)
	// Changed returns a channel that is closed after the next append made
	// through this store value. It only wakes local readers early; readers
	// must still poll to see appends made by other processes.
	Changed() <-chan struct{}
	// Known is the furthest position this store value knows the log to
	// reach: its own appends, and other processes' where it hears of them.
	// A reader behind it knows there is something to read even when a
	// read returns nothing yet.
	Known() es.Position
	// Checkpoints keep the place of durable subscribers (sagas).
	LoadCheckpoint(ctx context.Context, name string) (es.Position, error)
	SaveCheckpoint(ctx context.Context, name string, pos es.Position) error
	Close() error
}
