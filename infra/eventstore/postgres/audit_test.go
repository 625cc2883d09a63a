package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/eventstoretest"
)

// Streams written before migration 00006 have no hashes and no last_hash.
// They stay readable (also by correlation id, since the index is on the
// metadata every event already had), and their next append seals them:
// their events get their hashes and the new events link to the last one.
func TestLegacyStreamIsSealedByItsNextAppend(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, _ := newStore(t)

	legacy := func(stream string, evs []es.Event) {
		t.Helper()
		for i, ev := range evs {
			md, err := json.Marshal(ev.Metadata)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(md), "hash") {
				t.Fatalf("legacy metadata holds a hash: %s", md)
			}
			if _, err := st.pool.Exec(ctx, `
				INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
				VALUES ($1, $2, $3, $4, $5, $6)`, stream, i+1, ev.ID, ev.Type, ev.Data, md); err != nil {
				t.Fatalf("insert legacy event: %v", err)
			}
		}
		if _, err := st.pool.Exec(ctx, `
			INSERT INTO streams (stream_id, version, last_tx) VALUES ($1, $2, pg_current_xact_id())`,
			stream, len(evs)); err != nil {
			t.Fatalf("insert legacy stream: %v", err)
		}
	}
	old := eventstoretest.NewEvents("MessageSent", 3)
	old[1].Metadata.CorrelationID = old[0].Metadata.CorrelationID
	legacy("conversation-old", old)
	untouched := eventstoretest.NewEvents("MessageSent", 2)
	legacy("conversation-untouched", untouched)

	// Other transactions on the server can hold the horizon back briefly.
	var corr []es.Recorded
	for len(corr) < 2 {
		var err error
		if corr, err = st.ReadCorrelated(ctx, old[0].Metadata.CorrelationID, es.Start, 10); err != nil {
			t.Fatalf("read correlated: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("read correlated over legacy events returns %d of 2", len(corr))
		case <-time.After(5 * time.Millisecond):
		}
	}
	if len(corr) != 2 || corr[0].ID != old[0].ID || corr[1].ID != old[1].ID {
		t.Fatalf("read correlated over legacy events = %v", corr)
	}
	recs, err := st.ReadStream(ctx, "conversation-old", 0)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := es.VerifyChain(recs); at != 1 || !errors.Is(err, es.ErrChainBroken) || !strings.Contains(err.Error(), "no stored hash") {
		t.Fatalf("verify unsealed legacy stream = %d, %v; want version 1 without a hash", at, err)
	}

	next := eventstoretest.NewEvents("MessageSent", 2)
	if _, err := st.Append(ctx, "conversation-old", 3, next[0]); err != nil {
		t.Fatalf("append to a legacy stream: %v", err)
	}
	if _, err := st.Append(ctx, "conversation-old", es.AnyVersion, next[1]); err != nil {
		t.Fatalf("append to a sealed stream: %v", err)
	}
	recs, err = st.ReadStream(ctx, "conversation-old", 0)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := es.VerifyChain(recs); err != nil {
		t.Fatalf("sealed stream broken at %d: %v", at, err)
	}
	all := append(slices.Clone(old), next...)
	prev := ""
	for i, r := range recs {
		want, err := es.ChainHash(prev, "conversation-old", int64(i+1), all[i])
		if err != nil || r.Metadata.Hash != want {
			t.Fatalf("version %d: hash %s, want %s (%v)", i+1, r.Metadata.Hash, want, err)
		}
		prev = want
	}
	var lastHash string
	if err := st.pool.QueryRow(ctx, `SELECT last_hash FROM streams WHERE stream_id = 'conversation-old'`).Scan(&lastHash); err != nil || lastHash != prev {
		t.Fatalf("streams.last_hash = %q, %v; want %s", lastHash, err, prev)
	}

	// Sealing is per stream: the other legacy stream is as it was.
	recs, err = st.ReadStream(ctx, "conversation-untouched", 0)
	if err != nil || len(recs) != 2 || recs[0].Metadata.Hash != "" || recs[1].Metadata.Hash != "" {
		t.Fatalf("untouched legacy stream = %d events, %v; want its 2 events without hashes", len(recs), err)
	}
}

// ReadCorrelated must be able to use its index: the query has to repeat
// the index expression exactly. Sequential scans are switched off because
// on a small table the planner would rightly prefer one.
func TestReadCorrelatedUsesItsIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, _ := newStore(t)
	tx, err := st.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan string
	if err := tx.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+correlatedQuery, "conv-1", uint64(7), int64(3), 50).Scan(&plan); err != nil {
		t.Fatalf("explain: %v", err)
	}
	if !strings.Contains(plan, "events_correlation_log_order") || strings.Contains(plan, `"Sort"`) {
		t.Fatalf("read correlated does not walk events_correlation_log_order in order:\n%s", plan)
	}
}
