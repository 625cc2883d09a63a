// Package bolt is the embedded event store: one bbolt file, no server. It is
// what a single gateway process runs on when there is no Postgres. Because
// bbolt allows one writer at a time, the global order is simply a counter
// incremented inside the write transaction, so a reader can never see a gap
// that fills in later.
package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// Buckets. Every key is chosen so that a cursor walks it in the order
// readers need; integers are big-endian for that reason.
var (
	// events: seq -> record (JSON). The bucket's sequence is the last seq.
	bucketEvents = []byte("events")
	// streams: stream name -> current version | hash of its last event.
	// Code from before format 2 expects the version alone and would take
	// every stream for empty: it must not open an upgraded file.
	bucketStreams = []byte("streams")
	// streamIndex: len(stream) | stream | version -> seq.
	bucketStreamIndex = []byte("stream_index")
	// eventIDs: event id -> seq, so a retried command cannot land twice.
	bucketEventIDs = []byte("event_ids")
	// checkpoints: subscriber name -> tx | seq.
	bucketCheckpoints = []byte("checkpoints")
	// correlation: len(id) | correlation id | seq -> nothing, so that
	// ReadCorrelated walks one conversation's events in log order.
	bucketCorrelation = []byte("correlation")
	// meta: "format" -> the layout version of the file (see upgrade).
	bucketMeta = []byte("meta")
)

// format is the file layout this code writes. 1 (no meta bucket) is the
// layout from before hash chains and the correlation index.
const format = 2

var keyFormat = []byte("format")

// lockTimeout bounds the wait for the file lock. bbolt would otherwise block
// forever when a second process opens the same file.
const lockTimeout = 2 * time.Second

// Store is an eventstore.Store over a single bbolt file.
type Store struct {
	db      *bbolt.DB
	changed eventstore.Tail
	commits committer
}

var _ eventstore.Store = (*Store)(nil)

// Open opens the event store file at path (conventionally
// <dataDir>/events.db), creating it and its directory if needed.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create event store directory: %w", err)
	}
	// The free-page list is not written at every commit (it is rebuilt
	// from the file when it opens) and is kept as a map: written and
	// scanned as a list, it makes each commit cost more the larger the
	// file grows, so appends slowed with the store's history.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, NoFreelistSync: true,
		FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open event store %s: the file is locked, is another gateway process using it?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketStreams, bucketStreamIndex, bucketEventIDs, bucketCheckpoints, bucketCorrelation, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return upgrade(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Changed returns a channel closed after the next successful append.
func (s *Store) Changed() <-chan struct{} { return s.changed.Wait() }

// Known is the furthest position this store value has seen appended.
func (s *Store) Known() es.Position { return s.changed.Known() }

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

// upgrade brings a file written by an older version of this code to the
// current format, in the transaction that opens it. A new file is trivially
// upgraded (its log is empty). A format-1 file has neither hash chains nor
// the correlation index, so upgrade walks the whole log once, in order:
// each record gets its hash (so existing streams are sealed as they are at
// the upgrade, and later appends continue their chains), each correlated
// event its index key, and each stream its last hash beside its version.
// This keeps the whole log's rewrite in one transaction, which is simple
// and fine for the embedded store's sizes; the cost is paid once.
func upgrade(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if readU64(meta.Get(keyFormat)) >= format {
		return nil
	}
	log, streams, correlations := tx.Bucket(bucketEvents), tx.Bucket(bucketStreams), tx.Bucket(bucketCorrelation)
	log.FillPercent = 1.0
	heads := map[string]string{}
	c := log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := readU64(k)
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("upgrade: decode event at position %d: %w", seq, err)
		}
		h, err := es.ChainHash(heads[r.Stream], r.Stream, r.Version, es.Event{ID: r.ID, Type: r.Type, Data: r.Data, Metadata: r.Metadata})
		if err != nil {
			return fmt.Errorf("upgrade: event at position %d: %w", seq, err)
		}
		heads[r.Stream], r.Metadata.Hash = h, h
		nv, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("upgrade: encode event at position %d: %w", seq, err)
		}
		if err := log.Put(u64(seq), nv); err != nil {
			return err
		}
		if id := r.Metadata.CorrelationID; id != "" {
			if err := correlations.Put(correlationKey(id, seq), []byte{}); err != nil {
				return err
			}
		}
		// A write may move the cursor's page; find our place again.
		c.Seek(u64(seq))
	}
	for stream, h := range heads {
		version, _ := readStreamHead(streams.Get([]byte(stream)))
		if err := streams.Put([]byte(stream), streamHead(version, h)); err != nil {
			return err
		}
	}
	return meta.Put(keyFormat, u64(format))
}
