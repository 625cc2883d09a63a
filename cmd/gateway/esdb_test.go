package main

import (
	"strings"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/esdb/esdbtest"
)

// TestRunsOnEventStoreDB: the gateway with EVENTSTORE_URL keeps its events
// in EventStoreDB (here the in-process test stand-in, not EventStoreDB
// itself), its read models and command queue in Postgres, and the
// walkthrough works the same.
func TestRunsOnEventStoreDB(t *testing.T) {
	t.Parallel()
	srv := esdbtest.New(t)
	h := newHarness(t, "postgres", withEnv(map[string]string{"EVENTSTORE_URL": srv.URL()}))
	if k := h.App.cfg.StoreKind(); k != "eventstoredb" {
		t.Fatalf("event store = %s, want eventstoredb", k)
	}
	owner := h.createWorkspace("Acme", "owner@acme.test")
	c := h.principal(owner)
	p := h.await(c, h.send(c, "Create a contact for Ann Lee at Initech in London, ann@initech.com"))
	if p.Status != "resolved" {
		t.Fatalf("ended %s: %s", p.Status, p.Raw)
	}
	p = h.await(c, h.send(c, "Find all contacts from London"))
	if reply := p.Turns[len(p.Turns)-1].Payload["content"]; p.Status != "resolved" || !strings.Contains(reply.(string), "Ann Lee") {
		t.Fatalf("search ended %s: %s", p.Status, p.Raw)
	}
	// The events are in the stand-in, not in Postgres.
	var n int
	if err := h.App.pool.QueryRow(t.Context(), `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("Postgres holds %d events (err %v); they belong in EventStoreDB", n, err)
	}
	if len(h.allEvents()) < 10 {
		t.Fatalf("the EventStoreDB stand-in holds too few events")
	}
}
