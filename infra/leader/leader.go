// Package leader makes sure a background role (a saga, the reaper) runs on
// exactly one gateway instance at a time when several share a Postgres
// database: the instance holding the role's advisory lock runs it; the
// others wait and take over when that instance's session ends (it died,
// or its connection dropped).
package leader

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Roles tracks which roles this instance holds, for health checks.
type Roles struct {
	mu   sync.Mutex
	held map[string]bool
}

func (r *Roles) set(role string, held bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = map[string]bool{}
	}
	r.held[role] = held
}

// Held lists the roles this instance holds now.
func (r *Roles) Held() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for role, ok := range r.held {
		if ok {
			out = append(out, role)
		}
	}
	sort.Strings(out)
	return out
}

// Waiting lists the roles this instance would run if their holder died.
func (r *Roles) Waiting() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for role, ok := range r.held {
		if !ok {
			out = append(out, role)
		}
	}
	sort.Strings(out)
	return out
}

// Local runs a role at once: one process owns its store (embedded mode).
func Local(ctx context.Context, roles *Roles, role string, run func(ctx context.Context)) {
	roles.set(role, true)
	defer roles.set(role, false)
	run(ctx)
}

func lockKey(role string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("chat-agent-gateway:" + role))
	return int64(h.Sum64())
}

// Run campaigns for role until ctx ends: it takes a session-level advisory
// lock on a connection of its own and runs the role while it holds it. If
// the connection fails, the role stops (another instance may have it
// already) and the campaign starts again.
func Run(ctx context.Context, pool *pgxpool.Pool, roles *Roles, role string, retry time.Duration, logger *slog.Logger,
	run func(ctx context.Context)) {
	if retry <= 0 {
		retry = 2 * time.Second
	}
	roles.set(role, false)
	for ctx.Err() == nil {
		err := hold(ctx, pool, roles, role, retry, logger, run)
		if err != nil && ctx.Err() == nil {
			logger.Warn("leadership lost or not reachable", "role", role, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

func hold(ctx context.Context, pool *pgxpool.Pool, roles *Roles, role string, check time.Duration, logger *slog.Logger,
	run func(ctx context.Context)) error {
	// A session lock lives as long as its session, so the campaign has a
	// connection of its own, outside the pool: holding a pooled one for
	// hours would starve the projectors and handlers that share the pool.
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	key := lockKey(role)
	waited := false
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
			return err
		}
		if got {
			break
		}
		waited = true
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(check):
		}
	}
	if waited {
		// Taking over: the previous holder notices its lost session at its
		// next check and stops; give it that long, so the two never overlap.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * check):
		}
		if err := conn.Ping(ctx); err != nil {
			return err
		}
	}
	logger.Info("took the role", "role", role)
	roles.set(role, true)
	defer roles.set(role, false)
	defer func() {
		// Hand the role over at once: a closed session's locks are only
		// released when the server notices, which makes the next holder
		// wait for a takeover grace it does not need.
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key)
	}()

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); run(runCtx) }()
	defer func() { cancel(); <-done }()
	// Keep checking the session: if it is gone, so is the lock.
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return errors.New("the role stopped by itself")
		case <-t.C:
			if err := conn.Ping(ctx); err != nil {
				return err
			}
		}
	}
}
