// Package mcpusage counts each key's MCP tool calls, for key usage, and
// keeps the calls still open, for the reaper: the calls are streams in the
// log (domain/mcpcall), and this read model keeps a sum per key, so
// reading a key's usage costs the same however many calls it made.
package mcpusage

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/mcpcall"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "mcp_usage"

// Usage is one key's MCP tool calls: all of them, and those refused
// (scope, budget, arguments).
type Usage struct {
	Calls   int64 `json:"mcp_tool_calls"`
	Refused int64 `json:"mcp_tool_calls_refused"`
}

// OpenCall is a call recorded as requested and not yet as finished.
type OpenCall struct {
	CallID, KeyID string
	RequestedAt   time.Time
}

// Store is the read model.
type Store interface {
	projections.Projection
	ByKey(ctx context.Context, keyID string) (Usage, error)
	// Open lists the calls requested before before that have not finished,
	// oldest first.
	Open(ctx context.Context, before time.Time, limit int) ([]OpenCall, error)
}

var (
	requestedType = mcpcall.Requested{}.EventType()
	refusedType   = mcpcall.Refused{}.EventType()
	completedType = mcpcall.Completed{}.EventType()
)

func relevant(rec es.Recorded) bool {
	return strings.HasPrefix(rec.Stream, "mcpcall-") && (rec.Type == requestedType || rec.Type == refusedType || rec.Type == completedType)
}

// opening reads the call a Requested event opens.
func opening(rec es.Recorded) (OpenCall, error) {
	var e mcpcall.Requested
	err := json.Unmarshal(rec.Data, &e)
	return OpenCall{CallID: strings.TrimPrefix(rec.Stream, "mcpcall-"), KeyID: e.APIKeyID, RequestedAt: e.RequestedAt}, err
}

// delta is what one event adds to its key's counts.
func delta(rec es.Recorded) (keyID string, u Usage, err error) {
	if rec.Type == completedType {
		return "", u, nil
	}
	var e struct {
		APIKeyID string `json:"api_key_id"`
	}
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		return "", u, err
	}
	if rec.Type == requestedType {
		u.Calls = 1
	} else {
		u.Refused = 1
	}
	return e.APIKeyID, u, nil
}

// Memory keeps the counts in memory (rebuilt from the log at start).
type Memory struct {
	mu   sync.RWMutex
	cp   es.Position
	keys map[string]Usage
	open map[string]OpenCall
}

// NewMemory returns empty counts.
func NewMemory() *Memory { return &Memory{keys: map[string]Usage{}, open: map[string]OpenCall{}} }

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp, nil
}

func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[string]Usage{}
	opened, closed := map[string]OpenCall{}, map[string]bool{}
	cp := m.cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		cp = rec.Position
		if !relevant(rec) {
			continue
		}
		if rec.Type == requestedType {
			o, err := opening(rec)
			if err != nil {
				return err
			}
			opened[o.CallID] = o
		} else {
			closed[strings.TrimPrefix(rec.Stream, "mcpcall-")] = true
		}
		key, d, err := delta(rec)
		if err != nil {
			return err
		}
		if key == "" {
			continue
		}
		u, ok := next[key]
		if !ok {
			u = m.keys[key]
		}
		u.Calls, u.Refused = u.Calls+d.Calls, u.Refused+d.Refused
		next[key] = u
	}
	for k, u := range next {
		m.keys[k] = u
	}
	for id, o := range opened {
		m.open[id] = o
	}
	for id := range closed {
		delete(m.open, id)
	}
	m.cp = cp
	return nil
}

func (m *Memory) Open(_ context.Context, before time.Time, limit int) ([]OpenCall, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []OpenCall
	for _, o := range m.open {
		if o.RequestedAt.Before(before) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b OpenCall) int { return a.RequestedAt.Compare(b.RequestedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *Memory) ByKey(_ context.Context, keyID string) (Usage, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.keys[keyID], nil
}

// Postgres keeps the counts in mcp_usage, moved in the transaction that
// moves the checkpoint.
type Postgres struct{ projections.PgProjection }

// NewPostgres returns the store on the pool (migrations applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{projections.NewPgProjection(pool, Name)}
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgApplyBatch(ctx, p.Pool, Name, batch, relevant, func(ctx context.Context, tx pgx.Tx, evs []es.Recorded) error {
		sums := map[string]Usage{}
		opened, closed := map[string]OpenCall{}, map[string]bool{}
		for _, ev := range evs {
			if ev.Type == requestedType {
				o, err := opening(ev)
				if err != nil {
					return err
				}
				opened[o.CallID] = o
			} else {
				closed[strings.TrimPrefix(ev.Stream, "mcpcall-")] = true
			}
			key, d, err := delta(ev)
			if err != nil {
				return err
			}
			if key == "" {
				continue
			}
			u := sums[key]
			u.Calls, u.Refused = u.Calls+d.Calls, u.Refused+d.Refused
			sums[key] = u
		}
		keys := make([]string, 0, len(sums))
		calls, refused := make([]int64, 0, len(sums)), make([]int64, 0, len(sums))
		for k, u := range sums {
			keys, calls, refused = append(keys, k), append(calls, u.Calls), append(refused, u.Refused)
		}
		_, err := tx.Exec(ctx, `
INSERT INTO mcp_usage (api_key_id, calls, refused)
SELECT * FROM unnest($1::text[]::uuid[], $2::bigint[], $3::bigint[])
ON CONFLICT (api_key_id) DO UPDATE SET calls = mcp_usage.calls + EXCLUDED.calls, refused = mcp_usage.refused + EXCLUDED.refused`,
			keys, calls, refused)
		if err != nil {
			return err
		}
		var ids, owners []string
		var at []time.Time
		for id, o := range opened {
			if !closed[id] { // opened and closed in one batch: nothing to keep
				ids, owners, at = append(ids, id), append(owners, o.KeyID), append(at, o.RequestedAt)
			}
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO mcp_open_calls (call_id, api_key_id, requested_at)
SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::timestamptz[]) ON CONFLICT DO NOTHING`, ids, owners, at); err != nil {
			return err
		}
		done := make([]string, 0, len(closed))
		for id := range closed {
			done = append(done, id)
		}
		_, err = tx.Exec(ctx, `DELETE FROM mcp_open_calls WHERE call_id = ANY($1::text[]::uuid[])`, done)
		return err
	})
}

func (p *Postgres) Open(ctx context.Context, before time.Time, limit int) ([]OpenCall, error) {
	rows, err := p.Pool.Query(ctx, `SELECT call_id::text, api_key_id::text, requested_at FROM mcp_open_calls
WHERE requested_at < $1 ORDER BY requested_at LIMIT $2`, before, max(limit, 1))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenCall, error) {
		var o OpenCall
		err := r.Scan(&o.CallID, &o.KeyID, &o.RequestedAt)
		return o, err
	})
}

func (p *Postgres) ByKey(ctx context.Context, keyID string) (Usage, error) {
	var u Usage
	if !projections.IsUUID(keyID) {
		return u, nil
	}
	err := p.Pool.QueryRow(ctx, `SELECT calls, refused FROM mcp_usage WHERE api_key_id = $1::text::uuid`, keyID).Scan(&u.Calls, &u.Refused)
	if err == pgx.ErrNoRows {
		return Usage{}, nil
	}
	return u, err
}
