// Package mcpusage is the read model of MCP tool calls: each key's counts,
// for key usage, and each call, for the key's list of calls (auditors find
// a call's history from it) and for the reaper, which closes the calls a
// crash cut short. The calls themselves are streams in the log
// (domain/mcpcall); the counts are sums per key, so reading a key's usage
// costs the same however many calls it made.
package mcpusage

import (
	"context"
	"encoding/json"
	"errors"
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
// (scope, budget, arguments, interrupted).
type Usage struct {
	Calls   int64 `json:"mcp_tool_calls"`
	Refused int64 `json:"mcp_tool_calls_refused"`
}

// Call is one MCP tool call as listed.
type Call struct {
	CallID      string     `json:"call_id"`
	KeyID       string     `json:"-"`
	Tool        string     `json:"tool"`
	Status      string     `json:"status"` // open | completed | refused
	Code        string     `json:"code,omitempty"`
	IsError     bool       `json:"is_error"`
	RequestedAt time.Time  `json:"requested_at"`
	EndedAt     *time.Time `json:"ended_at"`
}

// Store is the read model.
type Store interface {
	projections.Projection
	ByKey(ctx context.Context, keyID string) (Usage, error)
	// Calls lists a key's calls, newest first, after the cursor (the
	// last call of the previous page; empty: from the newest).
	Calls(ctx context.Context, keyID, after string, limit int) ([]Call, error)
	// Open lists the calls requested before before that have not ended,
	// oldest first.
	Open(ctx context.Context, before time.Time, limit int) ([]Call, error)
}

const prefix = "mcpcall-"

var (
	requestedType = mcpcall.Requested{}.EventType()
	refusedType   = mcpcall.Refused{}.EventType()
	completedType = mcpcall.Completed{}.EventType()
)

func relevant(rec es.Recorded) bool {
	return strings.HasPrefix(rec.Stream, prefix) && (rec.Type == requestedType || rec.Type == refusedType || rec.Type == completedType)
}

// change is what one event does to its call and its key's counts.
type change struct {
	call  Call // the whole call for a request, what ends it otherwise
	open  bool // a request
	usage Usage
}

func changeOf(rec es.Recorded) (change, error) {
	id := strings.TrimPrefix(rec.Stream, prefix)
	switch rec.Type {
	case requestedType:
		var e mcpcall.Requested
		err := json.Unmarshal(rec.Data, &e)
		return change{open: true, usage: Usage{Calls: 1}, call: Call{CallID: id, KeyID: e.APIKeyID, Tool: e.Tool,
			Status: "open", RequestedAt: e.RequestedAt}}, err
	case refusedType:
		var e mcpcall.Refused
		err := json.Unmarshal(rec.Data, &e)
		t := e.RefusedAt
		return change{usage: Usage{Refused: 1}, call: Call{CallID: id, KeyID: e.APIKeyID, Status: "refused", Code: e.Code,
			IsError: true, EndedAt: &t}}, err
	default:
		var e mcpcall.Completed
		err := json.Unmarshal(rec.Data, &e)
		t := e.CompletedAt
		return change{call: Call{CallID: id, Status: "completed", IsError: e.IsError, EndedAt: &t}}, err
	}
}

// end applies what ended a call to it.
func (c *Call) end(e Call) {
	c.Status, c.Code, c.IsError, c.EndedAt = e.Status, e.Code, e.IsError, e.EndedAt
}

// newer is the list's order: newest first, then the greater id.
func newer(a, b Call) int {
	if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
		return c
	}
	return strings.Compare(b.CallID, a.CallID)
}

// Memory keeps the read model in memory (rebuilt from the log at start).
type Memory struct {
	mu    sync.RWMutex
	cp    es.Position
	keys  map[string]Usage
	calls map[string]Call
}

// NewMemory returns an empty read model.
func NewMemory() *Memory { return &Memory{keys: map[string]Usage{}, calls: map[string]Call{}} }

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp, nil
}

func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys, calls := map[string]Usage{}, map[string]Call{}
	cp := m.cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		cp = rec.Position
		if !relevant(rec) {
			continue
		}
		ch, err := changeOf(rec)
		if err != nil {
			return err
		}
		c, ok := calls[ch.call.CallID]
		if !ok {
			c = m.calls[ch.call.CallID]
		}
		if ch.open {
			c = ch.call
		} else {
			c.end(ch.call)
		}
		calls[c.CallID] = c
		if ch.usage != (Usage{}) {
			u, ok := keys[c.KeyID]
			if !ok {
				u = m.keys[c.KeyID]
			}
			u.Calls, u.Refused = u.Calls+ch.usage.Calls, u.Refused+ch.usage.Refused
			keys[c.KeyID] = u
		}
	}
	for k, u := range keys {
		m.keys[k] = u
	}
	for id, c := range calls {
		m.calls[id] = c
	}
	m.cp = cp
	return nil
}

func (m *Memory) ByKey(_ context.Context, keyID string) (Usage, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.keys[keyID], nil
}

func (m *Memory) Calls(_ context.Context, keyID, after string, limit int) ([]Call, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Call
	for _, c := range m.calls {
		if c.KeyID == keyID {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, newer)
	if after != "" {
		if i := slices.IndexFunc(out, func(c Call) bool { return c.CallID == after }); i >= 0 {
			out = out[i+1:]
		}
	}
	return out[:min(len(out), max(limit, 1))], nil
}

func (m *Memory) Open(_ context.Context, before time.Time, limit int) ([]Call, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Call
	for _, c := range m.calls {
		if c.Status == "open" && c.RequestedAt.Before(before) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Call) int { return newer(b, a) })
	return out[:min(len(out), max(limit, 1))], nil
}

// Postgres keeps the read model in mcp_usage and mcp_calls, moved in the
// transaction that moves the checkpoint.
type Postgres struct{ projections.PgProjection }

// NewPostgres returns the store on the pool (migrations applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{projections.NewPgProjection(pool, Name)}
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgApplyBatch(ctx, p.Pool, Name, batch, relevant, func(ctx context.Context, tx pgx.Tx, evs []es.Recorded) error {
		sums := map[string]Usage{}
		for _, ev := range evs {
			ch, err := changeOf(ev)
			if err != nil {
				return err
			}
			c := ch.call
			if ch.open {
				_, err = tx.Exec(ctx, `INSERT INTO mcp_calls (call_id, api_key_id, tool, status, requested_at)
VALUES ($1::text::uuid, $2::text::uuid, $3, 'open', $4) ON CONFLICT DO NOTHING`, c.CallID, c.KeyID, c.Tool, c.RequestedAt)
			} else {
				_, err = tx.Exec(ctx, `UPDATE mcp_calls SET status = $2, code = $3, is_error = $4, ended_at = $5
WHERE call_id = $1::text::uuid`, c.CallID, c.Status, c.Code, c.IsError, c.EndedAt)
			}
			if err != nil {
				return err
			}
			if ch.usage != (Usage{}) {
				u := sums[c.KeyID]
				u.Calls, u.Refused = u.Calls+ch.usage.Calls, u.Refused+ch.usage.Refused
				sums[c.KeyID] = u
			}
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
	err := projections.QueryRow(ctx, p.Pool, "", `SELECT calls, refused FROM mcp_usage WHERE api_key_id = $1::text::uuid`, keyID).Scan(&u.Calls, &u.Refused)
	if errors.Is(err, pgx.ErrNoRows) {
		return Usage{}, nil
	}
	return u, err
}

const callColumns = `call_id::text, api_key_id::text, tool, status, code, is_error, requested_at, ended_at`

func scanCalls(rows pgx.Rows, err error) ([]Call, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Call, error) {
		var c Call
		err := r.Scan(&c.CallID, &c.KeyID, &c.Tool, &c.Status, &c.Code, &c.IsError, &c.RequestedAt, &c.EndedAt)
		return c, err
	})
}

func (p *Postgres) Calls(ctx context.Context, keyID, after string, limit int) ([]Call, error) {
	if !projections.IsUUID(keyID) || (after != "" && !projections.IsUUID(after)) {
		return nil, nil
	}
	if after == "" {
		return scanCalls(projections.Query(ctx, p.Pool, "", `SELECT `+callColumns+` FROM mcp_calls WHERE api_key_id = $1::text::uuid
ORDER BY requested_at DESC, call_id DESC LIMIT $2`, keyID, max(limit, 1)))
	}
	return scanCalls(projections.Query(ctx, p.Pool, "", `SELECT `+callColumns+` FROM mcp_calls c WHERE api_key_id = $1::text::uuid
AND (requested_at, call_id) < (SELECT requested_at, call_id FROM mcp_calls WHERE call_id = $2::text::uuid)
ORDER BY requested_at DESC, call_id DESC LIMIT $3`, keyID, after, max(limit, 1)))
}

func (p *Postgres) Open(ctx context.Context, before time.Time, limit int) ([]Call, error) {
	return scanCalls(p.Pool.Query(ctx, `SELECT `+callColumns+` FROM mcp_calls WHERE status = 'open' AND requested_at < $1
ORDER BY requested_at LIMIT $2`, before, max(limit, 1)))
}
