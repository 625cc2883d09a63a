package mcpusage

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/mcpcall"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"
)

// TestStores runs the read model's promises over both stores: counts per
// key, the key's calls newest first and paged, the open ones for the
// reaper, and each event applied once however the batches fall.
func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) },
		func(t *testing.T, newStore func(t *testing.T) Store) {
			s := newStore(t)
			ctx := context.Background()
			t0 := projectiontest.T0
			key, other := uuid.NewString(), uuid.NewString()
			var seq uint64
			rec := func(call string, v int64, f es.Fact) es.Recorded {
				ev, err := es.NewEvent(uuid.NewString(), f, es.Metadata{Actor: es.Actor{Kind: "user"}, OccurredAt: t0})
				if err != nil {
					t.Fatal(err)
				}
				seq++
				return es.Recorded{ID: ev.ID, Stream: mcpcall.Stream(call), StreamVersion: v, Position: es.Position{Seq: seq},
					Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata}
			}
			requested := func(call, k string, d time.Duration) *mcpcall.Requested {
				return &mcpcall.Requested{CallID: call, APIKeyID: k, Tool: "search_contacts", Arguments: json.RawMessage(`{}`), RequestedAt: t0.Add(d)}
			}
			a, b, c, d := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
			batch1 := []es.Recorded{
				rec(a, 1, requested(a, key, 0)),
				rec(a, 2, &mcpcall.Completed{Result: `{}`, CompletedAt: t0.Add(time.Second)}),
				rec(b, 1, requested(b, key, time.Minute)),
				rec(c, 1, requested(c, other, 2*time.Minute)),
			}
			batch2 := []es.Recorded{
				rec(b, 2, &mcpcall.Refused{APIKeyID: key, Code: mcpcall.CodeBudget, RefusedAt: t0.Add(time.Minute)}),
				rec(d, 1, requested(d, key, 3*time.Minute)),
			}
			for _, batch := range [][]es.Recorded{batch1, batch2, batch1} { // the last one again: applied once
				if err := s.Apply(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			if u, err := s.ByKey(ctx, key); err != nil || u != (Usage{Calls: 3, Refused: 1}) {
				t.Errorf("usage %+v, %v; want 3 calls, 1 refused", u, err)
			}
			calls, err := s.Calls(ctx, key, "", 2)
			if err != nil || len(calls) != 2 || calls[0].CallID != d || calls[1].CallID != b || calls[1].Code != mcpcall.CodeBudget {
				t.Fatalf("first page %+v, %v", calls, err)
			}
			rest, err := s.Calls(ctx, key, calls[1].CallID, 2)
			if err != nil || len(rest) != 1 || rest[0].CallID != a || rest[0].Status != "completed" || rest[0].EndedAt == nil {
				t.Errorf("second page %+v, %v", rest, err)
			}
			open, err := s.Open(ctx, t0.Add(time.Hour), 10)
			if err != nil || len(open) != 2 || open[0].CallID != c || open[1].CallID != d {
				t.Errorf("open calls %+v, %v; want c then d", open, err)
			}
			if open, _ := s.Open(ctx, t0.Add(150*time.Second), 10); len(open) != 1 {
				t.Errorf("open before 2m30s: %+v", open)
			}
		})
}
