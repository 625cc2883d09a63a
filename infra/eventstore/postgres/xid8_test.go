package postgres

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// The global order leans on xid8 details; check them on the server we run
// on rather than trust memory: pgx's native xid8 codec (uint64, also above
// 2^63), the text cast the brief proposed, and row comparison of
// (xid8, bigint) pairs as ReadAll uses it.
func TestXID8OnThisServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, _ := newStore(t)
	db := st.pool

	var version int
	if err := db.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil || version < 130000 {
		t.Fatalf("server version %d (%v): xid8 and pg_current_snapshot need Postgres 13 or later", version, err)
	}
	for _, v := range []uint64{0, 1, 1<<32 + 5, math.MaxInt64, math.MaxInt64 + 2, math.MaxUint64} {
		var native uint64
		var text string
		if err := db.QueryRow(ctx, `SELECT $1::xid8, $1::xid8::text`, v).Scan(&native, &text); err != nil {
			t.Fatalf("xid8 %d: %v", v, err)
		}
		var viaText uint64
		if err := db.QueryRow(ctx, `SELECT $1::text::xid8`, text).Scan(&viaText); err != nil {
			t.Fatalf("xid8 from text %q: %v", text, err)
		}
		if native != v || viaText != v {
			t.Errorf("xid8 %d came back as %d natively and %d via text %q", v, native, viaText, text)
		}
	}
	for _, c := range []struct {
		a, b es.Position
		want bool
	}{
		{es.Position{Tx: 5, Seq: 3}, es.Position{Tx: 5, Seq: 2}, true},
		{es.Position{Tx: 5, Seq: 2}, es.Position{Tx: 5, Seq: 2}, false},
		{es.Position{Tx: 5, Seq: 1}, es.Position{Tx: 4, Seq: 9}, true},
		{es.Position{Tx: 4, Seq: 9}, es.Position{Tx: 5, Seq: 1}, false},
		{es.Position{Tx: 1 << 40, Seq: 1}, es.Position{Tx: 1<<40 - 1, Seq: 1 << 40}, true},
	} {
		var got bool
		if err := db.QueryRow(ctx, `SELECT ($1::xid8, $2::bigint) > ($3::xid8, $4::bigint)`,
			c.a.Tx, int64(c.a.Seq), c.b.Tx, int64(c.b.Seq)).Scan(&got); err != nil {
			t.Fatalf("compare %s > %s: %v", c.a, c.b, err)
		}
		if got != c.want || got != c.b.Less(c.a) {
			t.Errorf("(%s) > (%s) is %v in Postgres, want %v as es.Position.Less says", c.a, c.b, got, c.want)
		}
	}
	// A position past any transaction id is a valid, empty place to read.
	if recs, err := st.ReadAll(ctx, es.Position{Tx: math.MaxUint64, Seq: math.MaxUint64}, 10); err != nil || len(recs) != 0 {
		t.Errorf("read all after the largest position = %d events, %v", len(recs), err)
	}
}
