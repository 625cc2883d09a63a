package stores_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
)

func TestOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()

	// A tool never creates an empty embedded store: it says where it looked.
	if _, err := stores.Open(ctx, stores.Config{DataDir: dir, Existing: true}); err == nil ||
		!strings.Contains(err.Error(), "no embedded event store at "+filepath.Join(dir, "events.db")) {
		t.Fatalf("a tool opening a data dir without a store: %v", err)
	}
	// The server creates it; a second process is turned away while it runs.
	st, err := stores.Open(ctx, stores.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if st.Backend != "embedded" || st.Pool != nil || st.PgLog != nil {
		t.Errorf("embedded: backend %q, pool %v, pg log %v", st.Backend, st.Pool != nil, st.PgLog != nil)
	}
	if _, err := stores.Open(ctx, stores.Config{DataDir: dir, Existing: true}); err == nil || !strings.Contains(err.Error(), "stop the gateway") {
		t.Errorf("a tool opening a store in use: %v", err)
	}
	st.Close()
	again, err := stores.Open(ctx, stores.Config{DataDir: dir, Existing: true})
	if err != nil {
		t.Fatalf("a tool opening the store once the server stopped: %v", err)
	}
	again.Close()

	// With a database, the events and the read models are both there.
	pgs, err := stores.Open(ctx, stores.Config{DataDir: dir, DatabaseURL: pgtest.NewDatabase(t), Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pgs.Close()
	if pgs.Backend != "postgres" || pgs.Pool == nil || pgs.PgLog == nil || pgs.Log == nil {
		t.Errorf("postgres: backend %q, pool %v, pg log %v", pgs.Backend, pgs.Pool != nil, pgs.PgLog != nil)
	}
	if _, err := pgs.Log.Head(ctx); err != nil {
		t.Errorf("read the Postgres log: %v", err)
	}
}
