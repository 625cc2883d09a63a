// Package liveness tells which gateway instances are still at work, so
// that work one of them claimed and can no longer finish (it crashed, or a
// deployment killed it) is taken over in seconds rather than after a long
// lease (see commands.Liveness).
//
// Each process has an id of its own, new at every start: a restarted
// process is a new instance, and whatever its previous life claimed is
// known to be abandoned.
package liveness

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewID names this process's life.
func NewID() string { return uuid.NewString() }

// Local is the liveness of a process that works alone (the embedded
// mode): it is the only instance alive, so any other owner is gone.
type Local struct{ Self string }

// Alive reports whether instance is this process.
func (l Local) Alive(_ context.Context, instance string) (bool, error) {
	return instance == l.Self, nil
}

// Defaults of Postgres.
const (
	// DefaultBeat is how often an instance says it is alive.
	DefaultBeat = time.Second
	// DefaultTimeout is how long without a beat before an instance counts
	// as gone: a few beats, so one slow write does not end a live one.
	DefaultTimeout = 5 * time.Second
)

// Postgres keeps the instances' heartbeats in the gateway_instances table.
// Times are the database's own (now()), so instances whose clocks differ
// agree on who is alive.
type Postgres struct {
	Pool    *pgxpool.Pool
	Self    string
	Beat    time.Duration
	Timeout time.Duration

	// seen caches answers for a beat: a sweep asks about many
	// conversations whose claims name the same few instances.
	mu   sync.Mutex
	seen map[string]answer
}

type answer struct {
	alive bool
	at    time.Time
}

func (p *Postgres) beat() time.Duration {
	if p.Beat > 0 {
		return p.Beat
	}
	return DefaultBeat
}

func (p *Postgres) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// Start writes the first heartbeat (so this instance is alive before it
// claims anything) and keeps beating until ctx ends; then it marks its row
// as gone, so that a clean stop is noticed at once.
func (p *Postgres) Start(ctx context.Context) error {
	if err := p.touch(ctx); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(p.beat())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				stop, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = p.Pool.Exec(stop, `UPDATE gateway_instances SET seen_at = '-infinity' WHERE id = $1`, p.Self)
				cancel()
				return
			case <-t.C:
				// A failed beat is tried again at the next tick; a run of
				// them makes others take this instance's work, which its
				// expected-version appends then find recorded.
				_ = p.touch(ctx)
			}
		}
	}()
	return nil
}

func (p *Postgres) touch(ctx context.Context) error {
	_, err := p.Pool.Exec(ctx, `INSERT INTO gateway_instances (id) VALUES ($1)
ON CONFLICT (id) DO UPDATE SET seen_at = now()`, p.Self)
	return err
}

// Alive reports whether instance beat within the timeout. An instance
// without a row never started here, or stopped cleanly.
func (p *Postgres) Alive(ctx context.Context, instance string) (bool, error) {
	if instance == p.Self {
		return true, nil
	}
	p.mu.Lock()
	if a, ok := p.seen[instance]; ok && time.Since(a.at) < p.beat() {
		p.mu.Unlock()
		return a.alive, nil
	}
	p.mu.Unlock()
	var alive bool
	err := p.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM gateway_instances
WHERE id = $1 AND seen_at > now() - make_interval(secs => $2))`, instance, p.timeout().Seconds()).Scan(&alive)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	if p.seen == nil {
		p.seen = map[string]answer{}
	}
	if len(p.seen) > 1000 {
		clear(p.seen) // instance ids are few; this bounds a long life
	}
	p.seen[instance] = answer{alive: alive, at: time.Now()}
	p.mu.Unlock()
	return alive, nil
}

// Departed takes the instances that stopped beating (killed, crashed, or
// stopped) off the table and returns them: each departure is reported
// once, to the one caller (the reaper) that then resumes their work.
func (p *Postgres) Departed(ctx context.Context) ([]string, error) {
	rows, err := p.Pool.Query(ctx, `DELETE FROM gateway_instances
WHERE seen_at < now() - make_interval(secs => $1) RETURNING id`, p.timeout().Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var gone []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		gone = append(gone, id)
	}
	return gone, rows.Err()
}
