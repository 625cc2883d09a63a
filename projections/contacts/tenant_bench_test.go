package contacts

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"
)

// BenchmarkTenantRead is what reading as the tenant role costs (a
// transaction, the role and workspace set, row-level security's check)
// against the same query read as the owner, on 20 workspaces of 200
// contacts each: go test -run '^$' -bench TenantRead ./projections/contacts/
func BenchmarkTenantRead(b *testing.B) {
	pool := projectiontest.Connect(b)
	s := NewPostgres(pool)
	ctx := context.Background()
	var l eventLog
	var wss []string
	for range 20 {
		wss = append(wss, uuid.NewString())
	}
	var batch []es.Recorded
	for i := range 4000 {
		id := uuid.NewString()
		city := "Paris"
		if i/20%10 == 0 {
			city = "London"
		}
		batch = append(batch, l.created(b, id, wss[i%20], contact.Fields{Name: fmt.Sprintf("Person %d", i), City: city}, t0))
	}
	projectiontest.Apply(b, s, batch...)
	if _, err := pool.Exec(ctx, `ANALYZE contacts`); err != nil {
		b.Fatal(err)
	}
	const q = `SELECT id FROM contacts WHERE workspace_id = $1 AND city ILIKE '%london%' ORDER BY name COLLATE "C", id LIMIT 20`
	drain := func(b *testing.B, rows pgx.Rows, err error) {
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if rows.Err() != nil || n != 20 {
			b.Fatalf("%d rows, %v", n, rows.Err())
		}
	}
	b.Run("owner (baseline)", func(b *testing.B) {
		for b.Loop() {
			rows, err := pool.Query(ctx, q, wss[0])
			drain(b, rows, err)
		}
	})
	b.Run("tenant, one batch", func(b *testing.B) {
		for b.Loop() {
			rows, err := projections.Query(ctx, pool, wss[0], q, wss[0])
			drain(b, rows, err)
		}
	})
	b.Run("tenant, own transaction", func(b *testing.B) {
		for b.Loop() {
			err := projections.ReadTx(ctx, pool, wss[0], pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, q, wss[0])
				drain(b, rows, err)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store search (tenant)", func(b *testing.B) {
		for b.Loop() {
			if vs, _, err := s.Search(ctx, wss[0], Filter{City: "london"}); err != nil || len(vs) != 20 {
				b.Fatalf("%d, %v", len(vs), err)
			}
		}
	})
}
