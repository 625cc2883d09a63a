// Package apikeys is the read model of API keys: listing and showing keys,
// and finding a key by the hash of the secret a caller presents.
package apikeys

import (
	"context"
	"math"
	"slices"
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
	Tools          []string // nil: every tool
	Mode           string   // apikey.ModeTest or apikey.ModeLive
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
			CreatedAt: e.CreatedAt, UpdatedAt: e.CreatedAt, Mode: apikey.ModeLive}
		if e.Mode != "" {
			v.Mode = e.Mode
		}
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
	v.Tools = slices.Clone(s.Tools)
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

// rows is the read model as the kit sees it.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: "apikey-", Fold: Fold, Key: func(v View) string { return v.ID },
	Table: "api_keys", Columns: columns, Scan: scan, Save: projections.EachSave(upsert),
}

// Memory keeps the keys in memory, rebuilt from the log at start, with an
// index of the secrets' hashes: every request looks its key up by one.
type Memory struct {
	*projections.InMemory[View]
	byHash sync.Map // key hash -> key id
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	m := &Memory{InMemory: rows.InMemory()}
	// The index is written as the batch is swapped in, before the
	// checkpoint moves: whoever waited for the key's event finds it.
	m.Views.OnSave = func(_ View, _ bool, v View) { m.byHash.Store(v.KeyHash, v.ID) }
	return m
}

func (m *Memory) Get(_ context.Context, id string) (View, bool, error) {
	v, ok := m.Views.Get(id)
	return v, ok, nil
}

func (m *Memory) ByHash(ctx context.Context, hash string) (View, bool, error) {
	id, ok := m.byHash.Load(hash)
	if !ok {
		return View{}, false, nil
	}
	return m.Get(ctx, id.(string))
}

func (m *Memory) ListByUser(_ context.Context, userID string) ([]View, error) {
	out, _ := m.Page(func(v View) bool { return v.UserID == userID }, newer, math.MaxInt)
	return out, nil
}

func (m *Memory) ListByWorkspace(_ context.Context, workspaceID string) ([]View, error) {
	out, _ := m.Page(func(v View) bool { return v.WorkspaceID == workspaceID }, newer, math.MaxInt)
	return out, nil
}

// newer is the lists' order: newest first, then the greater id.
func newer(a, b View) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// Postgres keeps the keys in the api_keys table.
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

const columns = `id, workspace_id, user_id, key_hash, key_prefix, label, response_url, budget_usd_cents, budget_period,
 revoked, created_at, updated_at, revoked_at, version, tools, mode`

func scan(row pgx.Row, extra ...any) (View, error) {
	var v View
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.UserID, &v.KeyHash, &v.KeyPrefix, &v.Label, &v.ResponseURL,
		&v.BudgetUSDCents, &v.BudgetPeriod, &v.Revoked, &v.CreatedAt, &v.UpdatedAt, &v.RevokedAt, &v.Version, &v.Tools, &v.Mode}, extra...)...)
	return v, err
}

// upsert writes a folded key back.
func upsert(ctx context.Context, tx pgx.Tx, v View) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (`+columns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, response_url = EXCLUDED.response_url, tools = EXCLUDED.tools,
  budget_usd_cents = EXCLUDED.budget_usd_cents, budget_period = EXCLUDED.budget_period, revoked = EXCLUDED.revoked,
  updated_at = EXCLUDED.updated_at, revoked_at = EXCLUDED.revoked_at, version = EXCLUDED.version`,
		v.ID, v.WorkspaceID, v.UserID, v.KeyHash, v.KeyPrefix, v.Label, v.ResponseURL, v.BudgetUSDCents, v.BudgetPeriod,
		v.Revoked, v.CreatedAt, v.UpdatedAt, v.RevokedAt, v.Version, v.Tools, v.Mode)
	return err
}

// isUUID guards the uuid column: an id that cannot exist is "not found".
func (p *Postgres) Get(ctx context.Context, id string) (View, bool, error) {
	if !projections.IsUUID(id) {
		return View{}, false, nil
	}
	return p.One(ctx, "id = $1", id)
}

func (p *Postgres) ByHash(ctx context.Context, hash string) (View, bool, error) {
	return p.One(projections.Unscoped(ctx), "key_hash = $1", hash)
}

func (p *Postgres) ListByUser(ctx context.Context, userID string) ([]View, error) {
	return p.list(ctx, new(projections.Where).Add(`user_id = %s`, userID))
}

func (p *Postgres) ListByWorkspace(ctx context.Context, workspaceID string) ([]View, error) {
	return p.list(ctx, projections.InWorkspace(workspaceID))
}

// list reads every key w picks (a user or a workspace holds few).
func (p *Postgres) list(ctx context.Context, w *projections.Where) ([]View, error) {
	out, _, err := p.Page(ctx, w, `created_at DESC, id DESC`, math.MaxInt32, "")
	return out, err
}
