package eventstore

import "errors"

// ErrDuplicateEvent is returned by Append when an event's ID is already in the
// store (in any stream) or appears twice in one call. Event IDs make an append
// idempotent: a retried command that produced the same IDs must not land
// twice. It is deliberately not es.ErrConcurrency, because reloading the stream
// and deciding again would not help.
var ErrDuplicateEvent = errors.New("event id already stored")

// ErrInvalidAppend is returned by Append for a call that no store could
// accept (no events, an empty stream name, an ID that is not a UUID, data
// that is not JSON). It is a programming error, not a race.
var ErrInvalidAppend = errors.New("invalid append")
