package eventstore

import (
	"fmt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Digests returns es.EventDigest of every event. Adapters call it before
// their append transaction, so the transaction (which holds the stream's
// lock, and for bbolt the only writer slot) only runs the cheap
// es.LinkHash. An event that cannot be hashed is an invalid append.
func Digests(stream string, events []es.Event) ([]string, error) {
	out := make([]string, len(events))
	for i, ev := range events {
		d, err := es.EventDigest(ev)
		if err != nil {
			return nil, fmt.Errorf("%w: stream %s: %w", ErrInvalidAppend, stream, err)
		}
		out[i] = d
	}
	return out, nil
}

// Link returns the chain hashes of events with the given digests appended
// to stream after version base, whose event has hash prevHash ("" when base
// is 0): hashes[i] belongs to version base+1+i.
func Link(prevHash, stream string, base int64, digests []string) []string {
	hashes := make([]string, len(digests))
	for i, d := range digests {
		prevHash = es.LinkHash(prevHash, stream, base+int64(i)+1, d)
		hashes[i] = prevHash
	}
	return hashes
}
