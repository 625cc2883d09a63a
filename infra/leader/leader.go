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

// Run campaigns for one role until ctx ends, on a connection of its own
// (a Campaign with that role alone).
func Run(ctx context.Context, pool *pgxpool.Pool, roles *Roles, role string, retry time.Duration, logger *slog.Logger,
	run func(ctx context.Context)) {
	c := NewCampaign(pool, roles, retry, logger)
	c.Add(role, run)
	c.Run(ctx)
}

// Campaign campaigns for every role of one instance on one connection of
// its own, outside the pool (a session lock lives as long as its session,
// and holding a pooled connection for hours would starve the pool). Once
// per check it tries to take the roles it does not hold, in one statement
// that doubles as the check that its session (and so the locks it holds)
// is still alive: an instance costs one connection and one statement per
// check, however many roles it campaigns for. If the connection fails,
// every role it held stops (another instance may hold them already) and
// the campaign starts again.
type Campaign struct {
	pool   *pgxpool.Pool
	roles  *Roles
	check  time.Duration
	logger *slog.Logger
	want   []campaignRole
}

type campaignRole struct {
	name string
	key  int64
	run  func(ctx context.Context)
}

// NewCampaign prepares a campaign; check is how often it looks (default 2s).
func NewCampaign(pool *pgxpool.Pool, roles *Roles, check time.Duration, logger *slog.Logger) *Campaign {
	if check <= 0 {
		check = 2 * time.Second
	}
	return &Campaign{pool: pool, roles: roles, check: check, logger: logger}
}

// Add registers a role, before Run.
func (c *Campaign) Add(role string, run func(ctx context.Context)) {
	c.want = append(c.want, campaignRole{name: role, key: lockKey(role), run: run})
	c.roles.set(role, false)
}

// Run campaigns until ctx ends; the roles it holds stop before it returns.
func (c *Campaign) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.session(ctx)
		if err != nil && ctx.Err() == nil {
			c.logger.Warn("leadership lost or not reachable", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(c.check):
		}
	}
}

// held is a role this session holds and runs.
type held struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// session holds roles for as long as its connection lives.
func (c *Campaign) session(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	running := map[string]*held{}
	locked := map[string]bool{}
	// waited: roles another instance held when this session asked; taking
	// one over waits out the previous holder's check (until graceEnds).
	waited := map[string]bool{}
	graceEnds := map[string]time.Time{}
	defer func() {
		// Stop what runs, then hand the roles over at once: a closed
		// session's locks are only released when the server notices, which
		// makes the next holder wait for a grace it does not need.
		var keys []int64
		for _, r := range c.want {
			if h := running[r.name]; h != nil {
				h.cancel()
				<-h.done
				c.roles.set(r.name, false)
			}
			if locked[r.name] {
				keys = append(keys, r.key)
			}
		}
		if len(keys) > 0 {
			uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k`, keys)
		}
	}()
	t := time.NewTicker(c.check)
	defer t.Stop()
	for {
		var ask []int64
		for _, r := range c.want {
			if !locked[r.name] {
				ask = append(ask, r.key)
			}
		}
		// One statement: takes what is free, and proves the session (and
		// with it every lock held) is alive. Locks already held are not
		// asked again: session locks count, and one unlock must free them.
		rows, err := conn.Query(ctx, `SELECT k, pg_try_advisory_lock(k) FROM unnest($1::bigint[]) AS k`, ask)
		if err != nil {
			return err
		}
		got := map[int64]bool{}
		var (
			k  int64
			ok bool
		)
		if _, err := pgx.ForEachRow(rows, []any{&k, &ok}, func() error { got[k] = ok; return nil }); err != nil {
			return err
		}
		now := time.Now()
		for _, r := range c.want {
			if running[r.name] != nil {
				continue
			}
			if !locked[r.name] {
				if !got[r.key] {
					waited[r.name] = true
					continue
				}
				locked[r.name] = true
				if waited[r.name] {
					// Taking over: the previous holder notices its lost
					// session at its next check and stops; give it that
					// long, so the two never overlap.
					graceEnds[r.name] = now.Add(2 * c.check)
				}
			}
			if now.Before(graceEnds[r.name]) {
				continue
			}
			c.logger.Info("took the role", "role", r.name)
			rctx, cancel := context.WithCancel(ctx)
			h := &held{cancel: cancel, done: make(chan struct{})}
			running[r.name] = h
			c.roles.set(r.name, true)
			go func(run func(context.Context)) { defer close(h.done); run(rctx) }(r.run)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for name, h := range running {
			select {
			case <-h.done:
				return errors.New("the role " + name + " stopped by itself")
			default:
			}
		}
	}
}
