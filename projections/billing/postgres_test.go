package billing

import (
	"context"
	"sync"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Two gateway instances run the same projection on one database: each
// batch takes effect once, whoever applies it.
func TestPostgresTwoInstances(t *testing.T) {
	pool := projectiontest.Connect(t)
	a, b := NewPostgres(pool), NewPostgres(pool)
	var l eventLog
	ws := uuid.NewString()
	var batches [][]es.Recorded
	var want int64
	for i := range 20 {
		bud := newBudget(&l, ws, "2026-03")
		var batch []es.Recorded
		for j := range 5 {
			amount := int64(i*100 + j + 1)
			want += amount
			batch = append(batch, bud.spend(t, chargeSpec{model: "m", amount: amount})...)
		}
		batches = append(batches, batch)
	}
	var wg sync.WaitGroup
	for _, s := range []Store{a, b} {
		wg.Go(func() {
			for _, batch := range batches {
				if err := s.Apply(context.Background(), batch); err != nil {
					t.Errorf("apply: %v", err)
				}
			}
		})
	}
	wg.Wait()
	p := report(t, a, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupKey})
	if p.Total.AmountMicroUSD != want || p.Total.Charges != 100 || len(p.Rows) != 20 {
		t.Fatalf("total = %+v over %d keys, want %d µ$ in 100 charges over 20 keys", p.Total, len(p.Rows), want)
	}
}
