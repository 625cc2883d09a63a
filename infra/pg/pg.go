// Package pg connects the gateway to Postgres: one pool per process, with
// the schema brought up to date before anything uses it.
package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/migrations"
)

// DefaultMaxConns is the pool size of one gateway process when neither
// GATEWAY_DB_POOL nor pool_max_conns in the URL says otherwise. Appends,
// stream reads and read-model batches are grouped, so a few connections
// carry the whole load. With the two connections a process opens beside
// the pool (one listening for wake-ups, one holding its singleton roles)
// an instance holds at most DefaultMaxConns+2 = 11, and eight instances
// (88) fit a default server (max_connections 100, 3 of them reserved for
// superusers) with room for an operator and a CLI command.
const DefaultMaxConns = 9

// ExtraConns is how many connections a gateway process holds beside its
// pool (see DefaultMaxConns).
const ExtraConns = 2

// Options tune the pool.
type Options struct {
	// MaxConns bounds the pool (0: DefaultMaxConns, or pool_max_conns when
	// the URL sets it).
	MaxConns int
	// Counter, when set, counts every statement sent on the pool's
	// connections (and on connections made from its configuration).
	Counter *Counter
}

// Every statement is planned for the parameters and tables it meets
// (plan_cache_mode = force_custom_plan, unless the URL says otherwise).
// pgx prepares each statement once per connection, and Postgres then keeps
// a generic plan as soon as it costs no more than the custom ones: a plan
// made while a table was still empty — every table of a new deployment —
// scans that table whole for the life of the connection, so the cost of a
// lookup grows with history (measured: 10 ms instead of 0.1 ms after 30,000
// reservations). Until ANALYZE runs nothing invalidates such a plan, and
// where autovacuum is off ANALYZE never runs. Planning each time costs tens
// of microseconds.
//
// Statements that take ids as arrays pass []string as $n::text[]::uuid[],
// not $n::uuid[]: pgx cannot encode []string as uuid[] in binary, and
// learns that on every call by building an error that prints the whole
// array before it falls back to text.
//
// Connect opens a pool for url, checks that the server answers and applies
// pending migrations. Errors name the host, port, database and user but
// never the URL itself, which may hold a password.
func Connect(ctx context.Context, url string, opts ...Options) (*pgxpool.Pool, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error quotes the URL, and pgx can only redact passwords
		// on a best-effort basis from a URL it could not parse.
		return nil, errors.New("postgres: the database URL is not a valid connection string (not shown, it may hold a password)")
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = int32(o.MaxConns)
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if o.Counter != nil {
		cfg.ConnConfig.Tracer = o.Counter
	}
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	cc := cfg.ConnConfig
	where := fmt.Sprintf("%s:%d (database %q, user %q)", cc.Host, cc.Port, cc.Database, cc.User)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres at %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres at %s is unreachable: %w", where, err)
	}
	if err := migrations.Up(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres at %s: %w", where, err)
	}
	return pool, nil
}
