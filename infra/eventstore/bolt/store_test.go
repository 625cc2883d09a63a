package bolt_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/bolt"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/eventstoretest"
)

func open(t testing.TB, path string) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return st
}

func TestContract(t *testing.T) {
	paths := map[eventstore.Store]string{}
	newStore := func(t *testing.T) eventstore.Store {
		path := filepath.Join(t.TempDir(), "data", "events.db")
		st := open(t, path)
		paths[st] = path
		return st
	}
	reopen := func(t *testing.T, old eventstore.Store) eventstore.Store {
		if err := old.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		st := open(t, paths[old])
		paths[st] = paths[old]
		return st
	}
	// Tampering edits the closed file, as someone with the data
	// directory could, then the store is opened again.
	tamper := func(t *testing.T, old eventstore.Store, stream string, version int64) eventstore.Store {
		path := paths[old]
		if err := old.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		rewriteData(t, path, stream, version)
		st := open(t, path)
		paths[st] = path
		return st
	}
	eventstoretest.Run(t, newStore, eventstoretest.WithReopen(reopen), eventstoretest.WithTamper(tamper))
}

// rewriteData changes the data of one stored record in the bbolt file at
// path, leaving its hash as it was.
func rewriteData(t *testing.T, path, stream string, version int64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		log := tx.Bucket([]byte("events"))
		var key []byte
		var rec es.Recorded
		err := log.ForEach(func(k, v []byte) error {
			r, err := bolt.DecodeRecord(bolt.ReadU64(k), v)
			if err != nil {
				return err
			}
			if r.Stream == stream && r.StreamVersion == version {
				key, rec = bytes.Clone(k), r
			}
			return nil
		})
		if err != nil {
			return err
		}
		if key == nil {
			return fmt.Errorf("no record of %s version %d", stream, version)
		}
		// The data changes; the stored hash stays what it was.
		data := []byte(fmt.Sprintf(`{"tampered":true,"was":%s}`, rec.Data))
		nv, err := bolt.EncodeRecord(rec.ID, rec.Stream, rec.StreamVersion, rec.Type, data, rec.Metadata)
		if err != nil {
			return err
		}
		return log.Put(key, nv)
	})
	if err != nil {
		t.Fatalf("rewrite %s version %d: %v", stream, version, err)
	}
}

// legacyEvent is an event in the log of a file written before hash chains.
type legacyEvent struct {
	stream string
	event  es.Event
}

// writeLegacyStore writes a file in the layout from before hash chains and
// the correlation index: the same buckets and keys, stream values that
// hold only the version, records without hashes.
func writeLegacyStore(t *testing.T, path string, log []legacyEvent) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	u64 := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	err = db.Update(func(tx *bbolt.Tx) error {
		b := map[string]*bbolt.Bucket{}
		for _, name := range []string{"events", "streams", "stream_index", "event_ids", "checkpoints"} {
			bk, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			b[name] = bk
		}
		versions := map[string]uint64{}
		for _, le := range log {
			seq, err := b["events"].NextSequence()
			if err != nil {
				return err
			}
			versions[le.stream]++
			v := versions[le.stream]
			rec, err := json.Marshal(map[string]any{"id": le.event.ID, "stream": le.stream, "version": v,
				"type": le.event.Type, "data": le.event.Data, "metadata": le.event.Metadata})
			if err != nil {
				return err
			}
			if bytes.Contains(rec, []byte(`"hash"`)) {
				return fmt.Errorf("legacy record holds a hash: %s", rec)
			}
			key := binary.BigEndian.AppendUint32(nil, uint32(len(le.stream)))
			key = binary.BigEndian.AppendUint64(append(key, le.stream...), v)
			for _, put := range []struct {
				bucket string
				k, v   []byte
			}{
				{"events", u64(seq), rec},
				{"stream_index", key, u64(seq)},
				{"event_ids", []byte(le.event.ID), u64(seq)},
				{"streams", []byte(le.stream), u64(v)},
			} {
				if err := b[put.bucket].Put(put.k, put.v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write legacy store: %v", err)
	}
}

// A file from before hash chains is upgraded when opened: its events get
// their hashes (the streams are sealed as they are), the correlation index
// is built, and appends continue the chains. Opening it again changes
// nothing.
func TestOpenUpgradesAStoreFromBeforeHashChains(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	conv := eventstoretest.NewEvents("MessageSent", 3)
	contact := eventstoretest.NewEvents("ContactCreated", 2)
	corr := conv[0].Metadata.CorrelationID
	for _, ev := range []*es.Event{&conv[1], &conv[2], &contact[0]} {
		ev.Metadata.CorrelationID = corr
	}
	contact[1].Metadata.CorrelationID = ""
	writeLegacyStore(t, path, []legacyEvent{
		{"conversation-1", conv[0]}, {"contact-1", contact[0]}, {"conversation-1", conv[1]},
		{"contact-1", contact[1]}, {"conversation-1", conv[2]},
	})

	st := open(t, path)
	wantHashes := func(stream string, evs []es.Event) {
		t.Helper()
		recs, err := st.ReadStream(ctx, stream, 0)
		if err != nil || len(recs) != len(evs) {
			t.Fatalf("read %s = %d events, %v; want %d", stream, len(recs), err, len(evs))
		}
		if at, err := es.VerifyChain(recs); err != nil {
			t.Fatalf("%s broken at %d: %v", stream, at, err)
		}
		prev := ""
		for i, r := range recs {
			want, err := es.ChainHash(prev, stream, int64(i+1), evs[i])
			if err != nil || r.Metadata.Hash != want {
				t.Fatalf("%s version %d: hash %q, want %s (%v)", stream, i+1, r.Metadata.Hash, want, err)
			}
			prev = want
		}
	}
	wantHashes("conversation-1", conv)
	wantHashes("contact-1", contact)
	recs, err := st.ReadCorrelated(ctx, corr, es.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.ID)
	}
	if want := []string{conv[0].ID, contact[0].ID, conv[1].ID, conv[2].ID}; !slices.Equal(got, want) {
		t.Fatalf("read correlated after upgrade = %v, want %v", got, want)
	}

	more := eventstoretest.NewEvent("MessageSent", 4)
	if _, err := st.Append(ctx, "conversation-1", 3, more); err != nil {
		t.Fatalf("append after upgrade: %v", err)
	}
	conv = append(conv, more)
	wantHashes("conversation-1", conv)
	all, err := st.ReadAll(ctx, es.Start, 100)
	if err != nil || len(all) != 6 {
		t.Fatalf("read all = %d, %v", len(all), err)
	}
	if at, err := es.VerifyChain(all); err != nil {
		t.Fatalf("log broken at %d: %v", at, err)
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path)
	defer st.Close()
	again, err := st.ReadAll(ctx, es.Start, 100)
	if err != nil || len(again) != 6 {
		t.Fatalf("read all after reopening = %d, %v", len(again), err)
	}
	for i := range all {
		if again[i].Metadata.Hash != all[i].Metadata.Hash {
			t.Fatalf("reopening an upgraded store changed the hash of %s", all[i].ID)
		}
	}
}

func TestSecondOpenOfALockedFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	st := open(t, path)
	defer st.Close()
	if _, err := bolt.Open(path); err == nil {
		t.Fatalf("a second open of a file in use succeeded")
	}
}

// BenchmarkAppend: parallel single-event appends to distinct streams.
func BenchmarkAppend(b *testing.B) {
	eventstoretest.BenchmarkAppend(b, func(b *testing.B) eventstore.Store {
		return open(b, filepath.Join(b.TempDir(), "events.db"))
	})
}
