package bolt_test

import (
	"path/filepath"
	"testing"

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
	eventstoretest.Run(t, newStore, eventstoretest.WithReopen(reopen))
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
