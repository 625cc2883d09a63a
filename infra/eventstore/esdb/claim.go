package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// Event-id claims
//
// The port promises that an event id is stored at most once in the whole
// store, so that a retried command cannot land twice. EventStoreDB does not:
// it only makes a repeated write idempotent when the same ids come again at
// the same place of the same stream (for an exact expected revision; for
// "any" only as far as a cache of recent writes reaches), and it has no
// index by event id and no write across streams. The adapter therefore
// claims every id in a stream of its own, "_gateway-eventid-<id>", before
// appending the event:
//
//  1. Append an EventIDClaimed event {stream, revision, attempt} to the
//     claim stream with expected revision NoStream. Success: the id is ours.
//  2. On WrongExpectedVersion, read the claim stream's last event:
//     - EventIDReleased: the id is free; claim again at exactly that
//       revision (step 1 with the revision instead of NoStream).
//     - a claim whose stream holds this very id at the claimed revision:
//       the event is stored; ErrDuplicateEvent.
//     - a claim whose stream holds another event at that revision: its
//       append failed for good (the revision is taken); claim over it.
//     - a claim whose revision is not written yet: its append is in
//       flight, or its writer died between claiming and appending. Within
//       claimTTL (2 minutes, measured from the claim's server timestamp
//       with this process's clock) that is ErrDuplicateEvent; after it, the
//       claim is taken over.
//  3. Claims of a write that the server refused (wrong expected version)
//     are released with an EventIDReleased event at the claim's revision.
//     Claims of a write whose outcome is unknown (timeout, lost
//     connection) stay: if the events landed, the claim says where.
//
// Every step is an optimistic write to the one claim stream, so of two
// appends racing with the same id exactly one proceeds. What this does not
// give, next to a database with unique indexes:
//
//   - An id can only be reused claimTTL after a writer died between its
//     claim and its append (during that time, appending it again is
//     answered ErrDuplicateEvent although it is not stored). Appends are
//     bounded by appendTimeout, well below claimTTL, so a slow but living
//     writer does not lose its claim.
//   - An event removed by deleting or truncating its stream ($maxCount,
//     $maxAge, $tb, scavenging) frees its id claimTTL after that.
//   - Events written to the server by anything but this adapter (or by it
//     in another namespace) are not known to it.
//   - Cost: one claim event (and stream) per event, doubling the writes;
//     they are hidden from ReadAll.

const (
	claimedType  = "EventIDClaimed"
	releasedType = "EventIDReleased"
	// claimTries bounds the rounds of step 2 under contention.
	claimTries = 16
	// releaseTimeout bounds releasing claims, which goes on when the
	// caller's context has ended.
	releaseTimeout = 10 * time.Second
)

// claimData is the content of an EventIDClaimed event.
type claimData struct {
	Stream   string `json:"stream"`   // EventStoreDB name of the stream
	Revision uint64 `json:"revision"` // revision the event is to take there
	Attempt  string `json:"attempt"`  // the Append call that claimed it
}

// claim is one claim made: the claim stream and our claim's revision in it.
type claim struct {
	stream string
	rev    uint64
}

// claimAll claims the ids of events, which are to take the revisions from
// base on in raw. held are the claims an earlier round of the same Append
// made (nil in the first round): they are moved to the new revisions in
// place, at their own revision of the claim stream, so that nobody can
// slip in between. On failure claimAll releases what is claimed and
// returns the error, an ErrDuplicateEvent one if any id is taken.
func (s *Store) claimAll(ctx context.Context, raw string, base int64, events []es.Event, attempt string, held []claim) ([]claim, error) {
	claims := make([]claim, len(events))
	errs := make([]error, len(events))
	one := func(i int) {
		want := claimData{Stream: raw, Revision: uint64(base) + uint64(i), Attempt: attempt}
		if held == nil {
			claims[i], errs[i] = s.claim(ctx, events[i].ID, want)
			return
		}
		rev, err := s.appendInternal(ctx, held[i].stream, esdbclient.StreamRevision{Value: held[i].rev}, claimedType, want)
		switch {
		case err == nil:
			claims[i] = claim{stream: held[i].stream, rev: rev}
		case errorCode(err) == esdbclient.ErrorCodeWrongExpectedVersion:
			// Taken over (our claim looked dead to another append of
			// the same id): judge the claim stream afresh.
			claims[i], errs[i] = s.claim(ctx, events[i].ID, want)
		default:
			claims[i], errs[i] = held[i], fmt.Errorf("claim event id %s: %w", events[i].ID, err)
		}
	}
	if len(events) == 1 {
		one(0)
	} else {
		var wg sync.WaitGroup
		for i := range events {
			wg.Go(func() { one(i) })
		}
		wg.Wait()
	}
	var (
		got   []claim
		first error
	)
	for i, err := range errs {
		if claims[i].stream != "" {
			got = append(got, claims[i])
		}
		if err != nil && (first == nil || errors.Is(err, eventstore.ErrDuplicateEvent) && !errors.Is(first, eventstore.ErrDuplicateEvent)) {
			first = err
		}
	}
	if first != nil {
		s.release(got)
		return nil, first
	}
	return got, nil
}

// claim claims one id for want (steps 1 and 2 above).
func (s *Store) claim(ctx context.Context, id string, want claimData) (claim, error) {
	stream := s.raw(claimPrefix + id)
	var expected esdbclient.ExpectedRevision = esdbclient.NoStream{}
	for range claimTries {
		rev, err := s.appendInternal(ctx, stream, expected, claimedType, want)
		if err == nil {
			return claim{stream: stream, rev: rev}, nil
		}
		if errorCode(err) != esdbclient.ErrorCodeWrongExpectedVersion {
			return claim{}, fmt.Errorf("claim event id %s: %w", id, err)
		}
		page, err := s.readStreamRaw(ctx, stream, esdbclient.Backwards, esdbclient.End{}, 1)
		if err != nil {
			return claim{}, fmt.Errorf("claim event id %s: %w", id, err)
		}
		if len(page) == 0 {
			expected = esdbclient.NoStream{}
			continue
		}
		last := page[0]
		taken, err := s.holds(ctx, last, id, want.Attempt)
		if err != nil {
			return claim{}, fmt.Errorf("claim event id %s: %w", id, err)
		}
		if taken != "" {
			return claim{}, fmt.Errorf("%w: event %s %s", eventstore.ErrDuplicateEvent, id, taken)
		}
		expected = esdbclient.StreamRevision{Value: last.EventNumber}
	}
	return claim{}, fmt.Errorf("claim event id %s: still contended after %d rounds", id, claimTries)
}

// holds judges the last event of an id's claim stream: it returns why the
// id is taken, or "" if it may be claimed over.
func (s *Store) holds(ctx context.Context, last *esdbclient.RecordedEvent, id, attempt string) (string, error) {
	if last.EventType == releasedType {
		return "", nil
	}
	var d claimData
	if last.EventType != claimedType || json.Unmarshal(last.Data, &d) != nil {
		return "", fmt.Errorf("claim stream %s holds an event (%s) this adapter did not write", last.StreamID, last.EventType)
	}
	if d.Attempt == attempt {
		return "", nil
	}
	page, err := s.readStreamRaw(ctx, d.Stream, esdbclient.Forwards, esdbclient.Revision(d.Revision), 1)
	if err != nil {
		return "", err
	}
	if len(page) == 1 && page[0].EventNumber == d.Revision {
		if page[0].EventID.String() == id {
			return fmt.Sprintf("is already stored in stream %s at version %d", strings.TrimPrefix(d.Stream, s.ns), d.Revision+1), nil
		}
		// Another event took the revision: that append failed for good.
		return "", nil
	}
	if age := s.now().Sub(last.CreatedDate); age < s.claimTTL {
		return fmt.Sprintf("is being appended to stream %s by another call (claimed %s ago; an abandoned claim expires after %s)",
			strings.TrimPrefix(d.Stream, s.ns), age.Round(time.Millisecond), s.claimTTL), nil
	}
	return "", nil
}

// release gives claims back (step 3), also after the caller's context has
// ended. A release that finds the claim taken over changes nothing. One
// that fails leaves a claim on a revision its event never took: harmless
// once another event takes that revision, and until then (a write refused
// for a stream shorter than expected) it blocks the id for claimTTL.
func (s *Store) release(claims []claim) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range claims {
		wg.Go(func() {
			_, _ = s.appendInternal(ctx, c.stream, esdbclient.StreamRevision{Value: c.rev}, releasedType, struct{}{})
		})
	}
	wg.Wait()
}
