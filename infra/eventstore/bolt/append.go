package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// Append adds events to a stream. Concurrent appends are group-committed
// with bbolt's Batch: one write transaction and one fsync for many callers,
// each still checked against its own expected version. Batch may run the
// function more than once (it replays a batch without a call that failed),
// so the function only writes to the transaction and to its own result.
func (s *Store) Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error) {
	return s.AppendGuarded(ctx, stream, expected, nil, events...)
}

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
	var res es.AppendResult
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		var err error
		for _, g := range guards {
			if v, _ := readStreamHead(tx.Bucket(bucketStreams).Get([]byte(g.Stream))); v != g.Version {
				return &es.ConflictError{Stream: g.Stream, Expected: g.Version, Actual: v}
			}
		}
		res, err = appendTx(tx, stream, expected, events, digests)
		return err
	})
	if err != nil {
		return es.AppendResult{}, err
	}
	s.changed.Advance(res.Position)
	return res, nil
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
		return es.AppendResult{}, &es.ConflictError{Stream: stream, Expected: expected, Actual: version}
	}
	for _, ev := range events {
		if ids.Get([]byte(ev.ID)) != nil {
			return es.AppendResult{}, fmt.Errorf("append to %s: event %s: %w", stream, ev.ID, eventstore.ErrDuplicateEvent)
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
		v, err := json.Marshal(record{ID: ev.ID, Stream: stream, Version: version, Type: ev.Type, Data: ev.Data, Metadata: md})
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
