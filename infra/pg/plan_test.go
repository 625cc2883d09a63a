package pg_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// A lookup prepared while its table was empty must still use the index
// once the table has grown: a connection that kept the plan it made for an
// empty table would scan the whole table on every call.
func TestLookupsStayIndexedAsTablesGrow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pg.Connect(ctx, pgtest.NewDatabase(t), pg.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	c := conn.Conn()
	if _, err := c.Exec(ctx, `CREATE TABLE lookups (k text NOT NULL, id text NOT NULL, v bigint NOT NULL, PRIMARY KEY (k, id))`); err != nil {
		t.Fatal(err)
	}
	const lookup = `SELECT x.id, x.v FROM unnest($1::text[], $2::text[]) AS w(k, id)
		CROSS JOIN LATERAL (SELECT * FROM lookups l WHERE l.k = w.k AND l.id = w.id) x`
	if _, err := c.Prepare(ctx, "lookup", lookup); err != nil {
		t.Fatal(err)
	}
	// Postgres settles on a plan after five executions.
	for range 8 {
		rows, err := c.Query(ctx, "lookup", []string{"a", "a"}, []string{"1", "2"})
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if _, err := c.Exec(ctx, `INSERT INTO lookups SELECT 'a', i::text, i FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := c.Query(ctx, `EXPLAIN EXECUTE lookup('{a,a}', '{1,2}')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plan.String(), "Seq Scan on lookups") || !strings.Contains(plan.String(), "Index") {
		t.Fatalf("a lookup prepared on an empty table scans the grown table whole:\n%s", plan.String())
	}
}
