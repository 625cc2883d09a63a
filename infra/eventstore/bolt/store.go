// Package bolt is the embedded event store: one bbolt file, no server. It is
// what a single gateway process runs on when there is no Postgres. Because
// bbolt allows one writer at a time, the global order is simply a counter
// incremented inside the write transaction, so a reader can never see a gap
// that fills in later.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// Buckets. Every key is chosen so that a cursor walks it in the order
// readers need; integers are big-endian for that reason.
var (
	// events: seq -> record (JSON). The bucket's sequence is the last seq.
	bucketEvents = []byte("events")
	// streams: stream name -> current version.
	bucketStreams = []byte("streams")
	// streamIndex: len(stream) | stream | version -> seq.
	bucketStreamIndex = []byte("stream_index")
	// eventIDs: event id -> seq, so a retried command cannot land twice.
	bucketEventIDs = []byte("event_ids")
	// checkpoints: subscriber name -> tx | seq.
	bucketCheckpoints = []byte("checkpoints")
)

// batchDelay is how long an append waits for others to share its commit.
// bbolt's default of 10ms makes a lone append pay 10ms on top of its fsync;
// at 1ms a lone append costs about 2ms while 32 concurrent callers still
// share commits (about 0.1ms per append on the development machine).
const batchDelay = time.Millisecond

// lockTimeout bounds the wait for the file lock. bbolt would otherwise block
// forever when a second process opens the same file.
const lockTimeout = 2 * time.Second

// Store is an eventstore.Store over a single bbolt file.
type Store struct {
	db      *bbolt.DB
	changed eventstore.Signal
}

var _ eventstore.Store = (*Store)(nil)

// Open opens the event store file at path (conventionally
// <dataDir>/events.db), creating it and its directory if needed.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create event store directory: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open event store %s: the file is locked, is another gateway process using it?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketStreams, bucketStreamIndex, bucketEventIDs, bucketCheckpoints} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return &Store{db: db}, nil
}

// Changed returns a channel closed after the next successful append.
func (s *Store) Changed() <-chan struct{} { return s.changed.Wait() }

// Close releases the file after any running write transaction. Appends
// still waiting to join a batch then fail.
func (s *Store) Close() error { return s.db.Close() }

// view runs a read-only transaction unless ctx is already done; bbolt itself
// does not take a context, and its reads are short.
func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}
