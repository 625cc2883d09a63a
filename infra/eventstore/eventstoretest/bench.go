package eventstoretest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// BenchmarkAppend measures single-event appends to distinct streams, with
// GOMAXPROCS callers and with 16 times as many, since group commit (bbolt)
// and connection pooling (Postgres) only show under many callers. newStore
// is called once per sub-benchmark.
func BenchmarkAppend(b *testing.B, newStore func(b *testing.B) eventstore.Store) {
	for _, perCPU := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", perCPU), func(b *testing.B) {
			st := newStore(b)
			b.Cleanup(func() { _ = st.Close() })
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(perCPU)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					stream := fmt.Sprintf("bench-%d", n.Add(1))
					if _, err := st.Append(ctx, stream, es.NoStream, NewEvent("Benchmarked", 1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
