package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// Append adds events to a stream (see AppendGuarded).
func (s *Store) Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error) {
	return s.AppendGuarded(ctx, stream, expected, nil, events...)
}

// Group commit, as on Postgres: appends wait in one queue, and one
// goroutine writes whatever has queued up in one write transaction, with
// one fsync, while the next batch gathers. A lone append pays no wait (it
// commits at once), and many concurrent ones share a commit. Each append
// is still checked on its own, in order, against what the appends before
// it in the same transaction wrote: a refused one (a conflict, a guard, a
// duplicate id) is refused before it writes anything, so its neighbours
// commit; anything else that fails aborts the transaction, and its
// appends are then committed one by one, so that only the culprit fails.

type appendReq struct {
	stream   string
	expected int64
	guards   []es.Guard
	events   []es.Event
	digests  []string
	res      es.AppendResult
	err      error
	done     chan struct{}
}

type committer struct {
	mu      sync.Mutex
	queue   []*appendReq
	running bool
}

// maxBatch bounds the appends of one transaction.
const maxBatch = 1000

// AppendGuarded is Append that also checks the guarded streams' versions
// in the same write transaction.
func (s *Store) AppendGuarded(ctx context.Context, stream string, expected int64, guards []es.Guard, events ...es.Event) (es.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return es.AppendResult{}, err
	}
	if err := eventstore.ValidateGuards(stream, guards); err != nil {
		return es.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return es.AppendResult{}, err
	}
	// The expensive part of the hash is done here, in the caller's
	// goroutine, not in the single writer.
	digests, err := eventstore.Digests(stream, events)
	if err != nil {
		return es.AppendResult{}, err
	}
	r := &appendReq{stream: stream, expected: expected, guards: guards, events: events, digests: digests, done: make(chan struct{})}
	s.commits.mu.Lock()
	s.commits.queue = append(s.commits.queue, r)
	if !s.commits.running {
		s.commits.running = true
		go s.commitLoop()
	}
	s.commits.mu.Unlock()
	<-r.done // the commit does not stop for one caller; it is quick
	if r.err != nil {
		return es.AppendResult{}, r.err
	}
	s.changed.Advance(r.res.Position)
	return r.res, nil
}

func (s *Store) commitLoop() {
	for {
		s.commits.mu.Lock()
		n := min(len(s.commits.queue), maxBatch)
		if n == 0 {
			s.commits.running = false
			s.commits.mu.Unlock()
			return
		}
		batch := s.commits.queue[:n:n]
		s.commits.queue = s.commits.queue[n:]
		s.commits.mu.Unlock()
		s.commitBatch(batch)
	}
}

// refusal marks an append refused before it wrote anything.
type refusal struct{ error }

func (r refusal) Unwrap() error { return r.error }

func (s *Store) commitBatch(batch []*appendReq) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, r := range batch {
			r.res, r.err = appendChecked(tx, r)
			var rf refusal
			if r.err != nil && !errors.As(r.err, &rf) {
				return r.err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.res, r.err = es.AppendResult{}, nil
			s.commitBatch([]*appendReq{r})
		}
		return
	}
	for _, r := range batch {
		if err != nil {
			r.res, r.err = es.AppendResult{}, err
		}
		var rf refusal
		if errors.As(r.err, &rf) {
			r.err = rf.error
		}
		close(r.done)
	}
}

// appendChecked checks an append's guards, then appends it; refusals come
// back as a refusal (nothing written).
func appendChecked(tx *bbolt.Tx, r *appendReq) (es.AppendResult, error) {
	for _, g := range r.guards {
		if v, _ := readStreamHead(tx.Bucket(bucketStreams).Get([]byte(g.Stream))); v != g.Version {
			return es.AppendResult{}, refusal{&es.ConflictError{Stream: g.Stream, Expected: g.Version, Actual: v}}
		}
	}
	return appendTx(tx, r.stream, r.expected, r.events, r.digests)
}

// appendTx writes the events with their chain hashes, linked to the hash
// of the stream's last event that the streams bucket keeps beside its
// version, and indexes them by correlation id.
func appendTx(tx *bbolt.Tx, stream string, expected int64, events []es.Event, digests []string) (es.AppendResult, error) {
	streams, index := tx.Bucket(bucketStreams), tx.Bucket(bucketStreamIndex)
	ids, log := tx.Bucket(bucketEventIDs), tx.Bucket(bucketEvents)
	correlations := tx.Bucket(bucketCorrelation)
	// Keys only ever grow at the end of the log, so full pages waste nothing.
	log.FillPercent = 1.0

	version, prevHash := readStreamHead(streams.Get([]byte(stream)))
	if expected != es.AnyVersion && expected != version {
		return es.AppendResult{}, refusal{&es.ConflictError{Stream: stream, Expected: expected, Actual: version}}
	}
	for _, ev := range events {
		if ids.Get([]byte(ev.ID)) != nil {
			return es.AppendResult{}, refusal{fmt.Errorf("append to %s: event %s: %w", stream, ev.ID, eventstore.ErrDuplicateEvent)}
		}
	}

	hashes := eventstore.Link(prevHash, stream, version, digests)
	var seq uint64
	for i, ev := range events {
		var err error
		if seq, err = log.NextSequence(); err != nil {
			return es.AppendResult{}, err
		}
		version++
		md := ev.Metadata
		md.Hash = hashes[i]
		v, err := encodeRecord(ev.ID, stream, version, ev.Type, ev.Data, md)
		if err != nil {
			return es.AppendResult{}, fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
		// bbolt keeps references to keys and values until commit, so every
		// Put gets freshly allocated slices.
		if err := log.Put(u64(seq), v); err != nil {
			return es.AppendResult{}, err
		}
		if err := index.Put(streamKey(stream, version), u64(seq)); err != nil {
			return es.AppendResult{}, err
		}
		if err := ids.Put([]byte(ev.ID), u64(seq)); err != nil {
			return es.AppendResult{}, err
		}
		if id := md.CorrelationID; id != "" {
			if err := correlations.Put(correlationKey(id, seq), []byte{}); err != nil {
				return es.AppendResult{}, err
			}
		}
	}
	if err := streams.Put([]byte(stream), streamHead(version, hashes[len(hashes)-1])); err != nil {
		return es.AppendResult{}, err
	}
	return es.AppendResult{Version: version, Position: es.Position{Seq: seq}}, nil
}
