// Package apikeys is the read model of API keys: listing and showing keys,
// and finding a key by the hash of the secret a caller presents.
package apikeys

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "api_keys"

// View is one key as its owner sees it (the hash is for lookups only).
type View struct {
	ID             string
	WorkspaceID    string
	UserID         string
	KeyHash        string
	KeyPrefix      string
	Label          string
	ResponseURL    string
	BudgetUSDCents *int64
	BudgetPeriod   string
	Revoked        bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	RevokedAt      *time.Time
	Version        int64
}

// Fold applies one recorded key event to a view.
func Fold(v *View, rec es.Recorded) (bool, error) {
	f, ok, err := projections.Next(v.Version, rec, apikey.Events, nil)
	if err != nil || !ok {
		return false, err
	}
	switch e := f.(type) {
	case *apikey.Created:
		*v = View{ID: e.KeyID, WorkspaceID: e.WorkspaceID, UserID: e.UserID, KeyHash: e.KeyHash, KeyPrefix: e.KeyPrefix,
			CreatedAt: e.CreatedAt, UpdatedAt: e.CreatedAt}
		v.setSettings(e.Settings)
	case *apikey.Updated:
		v.setSettings(e.Settings)
		v.UpdatedAt = e.UpdatedAt
	case *apikey.Revoked:
		t := e.RevokedAt
		v.Revoked, v.RevokedAt, v.UpdatedAt = true, &t, t
	}
	v.Version = rec.StreamVersion
	return true, nil
}

func (v *View) setSettings(s apikey.Settings) {
	v.Label, v.ResponseURL, v.BudgetPeriod = s.Label, s.ResponseURL, string(s.BudgetPeriod)
	v.BudgetUSDCents = nil
	if s.BudgetUSDCents != nil {
		c := *s.BudgetUSDCents
		v.BudgetUSDCents = &c
	}
}

// Store is the keys read model.
type Store interface {
	projections.Projection
	Get(ctx context.Context, id string) (View, bool, error)
	ByHash(ctx context.Context, hash string) (View, bool, error)
	// ListByUser returns a user's keys, newest first.
	ListByUser(ctx context.Context, userID string) ([]View, error)
	// ListByWorkspace returns every key of a workspace, newest first, for
	// the people who read across it (owners and auditors).
	ListByWorkspace(ctx context.Context, workspaceID string) ([]View, error)
}

func isKey(rec es.Recorded) bool  { return strings.HasPrefix(rec.Stream, "apikey-") }
func idOf(rec es.Recorded) string { return strings.TrimPrefix(rec.Stream, "apikey-") }

// Memory keeps the keys in memory; rebuilt from the log at start.
type Memory struct {
	mu     sync.RWMutex
	byID   map[string]*View
	byHash map[string]string
	cp     es.Position
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{byID: map[string]*View{}, byHash: map[string]string{}} }

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp, nil
}

func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rec := range batch {
		if !m.cp.Less(rec.Position) {
			continue
		}
		if isKey(rec) {
			var next View
			if old := m.byID[idOf(rec)]; old != nil {
				next = *old
			}
			if _, err := Fold(&next, rec); err != nil {
				return err
			}
			m.byID[next.ID] = &next
			m.byHash[next.KeyHash] = next.ID
		}
		m.cp = rec.Position
	}
	return nil
}

func (m *Memory) Get(_ context.Context, id string) (View, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if v, ok := m.byID[id]; ok {
		return *v, true, nil
	}
	return View{}, false, nil
}

func (m *Memory) ByHash(ctx context.Context, hash string) (View, bool, error) {
	m.mu.RLock()
	id, ok := m.byHash[hash]
	m.mu.RUnlock()
	if !ok {
		return View{}, false, nil
	}
	return m.Get(ctx, id)
}

func (m *Memory) ListByUser(_ context.Context, userID string) ([]View, error) {
	return m.list(func(v *View) bool { return v.UserID == userID }), nil
}

func (m *Memory) ListByWorkspace(_ context.Context, workspaceID string) ([]View, error) {
	return m.list(func(v *View) bool { return v.WorkspaceID == workspaceID }), nil
}

func (m *Memory) list(keep func(*View) bool) []View {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []View
	for _, v := range m.byID {
		if keep(v) {
			out = append(out, *v)
		}
	}
	sortNewestFirst(out)
	return out
}

func sortNewestFirst(vs []View) {
	sort.Slice(vs, func(i, j int) bool {
		if !vs[i].CreatedAt.Equal(vs[j].CreatedAt) {
			return vs[i].CreatedAt.After(vs[j].CreatedAt)
		}
		return vs[i].ID > vs[j].ID
	})
}

// Postgres keeps the keys in the api_keys table.
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns a store on the pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

func (p *Postgres) Name() string { return Name }

func (p *Postgres) Checkpoint(ctx context.Context) (es.Position, error) {
	return projections.PgCheckpoint(ctx, p.pool, Name)
}

const columns = `id, workspace_id, user_id, key_hash, key_prefix, label, response_url, budget_usd_cents, budget_period,
 revoked, created_at, updated_at, revoked_at, version`

func scan(row pgx.Row) (View, error) {
	var v View
	err := row.Scan(&v.ID, &v.WorkspaceID, &v.UserID, &v.KeyHash, &v.KeyPrefix, &v.Label, &v.ResponseURL, &v.BudgetUSDCents,
		&v.BudgetPeriod, &v.Revoked, &v.CreatedAt, &v.UpdatedAt, &v.RevokedAt, &v.Version)
	return v, err
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgFold(ctx, p.pool, Name, batch, isKey, idOf, projections.EachRow(lock), Fold, projections.EachSave(upsert))
}

// lock reads a key's view for Apply. The row stays locked until the batch
// commits, so a second instance cannot fold it from a stale version.
func lock(ctx context.Context, tx pgx.Tx, id string) (View, error) {
	v, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM api_keys WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, nil
	}
	return v, err
}

// upsert writes a folded key back.
func upsert(ctx context.Context, tx pgx.Tx, v View) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (`+columns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)
ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, response_url = EXCLUDED.response_url,
  budget_usd_cents = EXCLUDED.budget_usd_cents, budget_period = EXCLUDED.budget_period, revoked = EXCLUDED.revoked,
  updated_at = EXCLUDED.updated_at, revoked_at = EXCLUDED.revoked_at, version = EXCLUDED.version`,
		v.ID, v.WorkspaceID, v.UserID, v.KeyHash, v.KeyPrefix, v.Label, v.ResponseURL, v.BudgetUSDCents, v.BudgetPeriod,
		v.Revoked, v.CreatedAt, v.UpdatedAt, v.RevokedAt, v.Version)
	return err
}

func (p *Postgres) one(ctx context.Context, where string, arg any) (View, bool, error) {
	v, err := scan(p.pool.QueryRow(ctx, `SELECT `+columns+` FROM api_keys WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, false, nil
	}
	return v, err == nil, err
}

func (p *Postgres) Get(ctx context.Context, id string) (View, bool, error) {
	return p.one(ctx, "id = $1", id)
}

func (p *Postgres) ByHash(ctx context.Context, hash string) (View, bool, error) {
	return p.one(ctx, "key_hash = $1", hash)
}

func (p *Postgres) ListByUser(ctx context.Context, userID string) ([]View, error) {
	return p.list(ctx, "user_id = $1", userID)
}

func (p *Postgres) ListByWorkspace(ctx context.Context, workspaceID string) ([]View, error) {
	return p.list(ctx, "workspace_id = $1", workspaceID)
}

func (p *Postgres) list(ctx context.Context, where string, arg any) ([]View, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+columns+` FROM api_keys WHERE `+where+` ORDER BY created_at DESC, id DESC`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []View
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
