// Package pg connects the gateway to Postgres: one pool per process, with
// the schema brought up to date before anything uses it.
package pg

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/migrations"
)

// Connect opens a pool for url, checks that the server answers and applies
// pending migrations. Errors name the host, port, database and user but
// never the URL itself, which may hold a password.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error quotes the URL, and pgx can only redact passwords
		// on a best-effort basis from a URL it could not parse.
		return nil, errors.New("postgres: the database URL is not a valid connection string (not shown, it may hold a password)")
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (the number of CPUs, at least 4) is too small for
		// a gateway: every projector, saga and command worker may hold a
		// connection at once. pool_max_conns in the URL overrides this.
		cfg.MaxConns = int32(max(20, 4*runtime.NumCPU()))
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
