package bolt

import (
	"bytes"
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// ReadStream returns the stream's events after afterVersion by walking the
// stream's range of the stream index.
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]es.Recorded, error) {
	from, ok := next(uint64(max(afterVersion, 0)))
	if !ok {
		return nil, nil
	}
	var out []es.Recorded
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketEvents)
		prefix := streamPrefix(stream)
		c := tx.Bucket(bucketStreamIndex).Cursor()
		for k, v := c.Seek(streamKey(stream, int64(from))); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			seq := readU64(v)
			rec, err := decodeRecord(seq, log.Get(v))
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// ReadAll returns up to limit events after the given position. The counter
// is assigned inside the single write transaction, so everything below the
// newest committed seq is final: no waiting is needed. Positions from a
// store that uses transaction ids (Tx > 0) lie after every event here.
func (s *Store) ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error) {
	if err := eventstore.ValidateLimit(limit); err != nil {
		return nil, err
	}
	from, ok := next(after.Seq)
	if after.Tx > 0 || !ok {
		return nil, nil
	}
	var out []es.Recorded
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(u64(from)); k != nil && len(out) < limit; k, v = c.Next() {
			rec, err := decodeRecord(readU64(k), v)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// ReadCorrelated returns up to limit events of one correlation id after
// the given position by walking the id's range of the correlation index,
// which is in log order. As for ReadAll, everything committed is final.
func (s *Store) ReadCorrelated(ctx context.Context, correlationID string, after es.Position, limit int) ([]es.Recorded, error) {
	if err := eventstore.ValidateLimit(limit); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateCorrelationID(correlationID); err != nil {
		return nil, fmt.Errorf("read correlated: %w", err)
	}
	from, ok := next(after.Seq)
	if after.Tx > 0 || !ok {
		return nil, nil
	}
	var out []es.Recorded
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketEvents)
		prefix := correlationPrefix(correlationID)
		c := tx.Bucket(bucketCorrelation).Cursor()
		for k, _ := c.Seek(correlationKey(correlationID, from)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			seq := readU64(k[len(prefix):])
			rec, err := decodeRecord(seq, log.Get(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Head is the position of the newest event.
func (s *Store) Head(ctx context.Context) (es.Position, error) {
	var head es.Position
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketEvents).Cursor().Last(); k != nil {
			head = es.Position{Seq: readU64(k)}
		}
		return nil
	})
	return head, err
}
