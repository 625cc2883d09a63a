// Package mcpusage counts each key's MCP tool calls, for key usage: the
// calls are streams in the log (domain/mcpcall), and this read model keeps
// a sum per key, so reading a key's usage costs the same however many
// calls it made.
package mcpusage

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

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

// Store is the read model.
type Store interface {
	projections.Projection
	ByKey(ctx context.Context, keyID string) (Usage, error)
}

var (
	requestedType = mcpcall.Requested{}.EventType()
	refusedType   = mcpcall.Refused{}.EventType()
)

func relevant(rec es.Recorded) bool {
	return strings.HasPrefix(rec.Stream, "mcpcall-") && (rec.Type == requestedType || rec.Type == refusedType)
}

// delta is what one event adds to its key's counts.
func delta(rec es.Recorded) (keyID string, u Usage, err error) {
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
}

// NewMemory returns empty counts.
func NewMemory() *Memory { return &Memory{keys: map[string]Usage{}} }

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
	cp := m.cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		cp = rec.Position
		if !relevant(rec) {
			continue
		}
		key, d, err := delta(rec)
		if err != nil {
			return err
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
	m.cp = cp
	return nil
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
		for _, ev := range evs {
			key, d, err := delta(ev)
			if err != nil {
				return err
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
		return err
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
