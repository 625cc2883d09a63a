// Package agents is the read model of a workspace's named agents, for
// GET /api/agents: one row per agent stream, its configuration as the
// latest event left it. What a conversation runs with is decided on the
// agent's own events (commands.Agent), not here.
package agents

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/namedagent"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "agents"

const streamPrefix = "namedagent-"

var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Workspace: func(v View) string { return v.WorkspaceID },
	Live:      func(v View) bool { return !v.Deleted }, LiveSQL: `NOT deleted`,
	Clone: func(v View) View {
		v.Config.Tools = cloneTools(v.Config.Tools)
		return v
	},
	Table: "agents", Columns: columns, Scan: scanView, Save: projections.EachSave(upsert),
}

// View is one agent as GET /api/agents shows it.
type View struct {
	ID          string
	WorkspaceID string
	Slug        string
	Config      namedagent.Config
	Deleted     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

func cloneTools(t []string) []string {
	if t == nil {
		return nil
	}
	return append([]string{}, t...)
}

// Fold applies one recorded agent event to a view (replays are harmless;
// a gap stops the projection).
func Fold(v *View, rec es.Recorded) (bool, error) {
	f, ok, err := projections.Next(v.Version, rec, namedagent.Events, nil)
	if err != nil || !ok {
		return false, err
	}
	switch e := f.(type) {
	case *namedagent.Created:
		*v = View{ID: e.AgentID, WorkspaceID: e.WorkspaceID, Slug: e.Slug, Config: e.Config,
			CreatedAt: projections.Stamp(e.CreatedAt), UpdatedAt: projections.Stamp(e.CreatedAt)}
	case *namedagent.Updated:
		v.Config, v.UpdatedAt = e.Config, projections.Stamp(e.UpdatedAt)
	case *namedagent.Deleted:
		v.Deleted, v.UpdatedAt = true, projections.Stamp(e.DeletedAt)
	}
	v.Config.Tools = cloneTools(v.Config.Tools)
	v.Version = rec.StreamVersion
	return true, nil
}

// Store is the agents read model.
type Store interface {
	projections.Scoped[View]
	// List returns the workspace's agents (deleted ones left out) by slug.
	List(ctx context.Context, workspaceID string) ([]View, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{rows.InMemory()} }

func (m *Memory) List(_ context.Context, workspaceID string) ([]View, error) {
	out, _ := m.Page(func(v View) bool { return v.WorkspaceID == workspaceID && !v.Deleted },
		func(a, b View) bool { return a.Slug < b.Slug }, 10_000)
	for i := range out {
		out[i].Config.Tools = cloneTools(out[i].Config.Tools)
	}
	return out, nil
}

// Postgres keeps the read model in the agents table (migration 00017).
type Postgres struct{ *projections.InPostgres[View] }

// NewPostgres returns a store on the pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{rows.InPostgres(pool)} }

const columns = `id, workspace_id, slug, config, deleted, created_at, updated_at, version`

func scanView(row pgx.Row, extra ...any) (View, error) {
	var v View
	var config []byte
	err := row.Scan(append([]any{&v.ID, &v.WorkspaceID, &v.Slug, &config, &v.Deleted, &v.CreatedAt, &v.UpdatedAt, &v.Version}, extra...)...)
	if err != nil {
		return v, err
	}
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, json.Unmarshal(config, &v.Config)
}

func upsert(ctx context.Context, tx pgx.Tx, v View) error {
	config, err := json.Marshal(v.Config)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO agents (`+columns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config, deleted = EXCLUDED.deleted, created_at = EXCLUDED.created_at,
  updated_at = EXCLUDED.updated_at, version = EXCLUDED.version`,
		v.ID, v.WorkspaceID, v.Slug, config, v.Deleted, v.CreatedAt, v.UpdatedAt, v.Version)
	return err
}

func (p *Postgres) List(ctx context.Context, workspaceID string) ([]View, error) {
	if !projections.IsUUID(workspaceID) {
		return nil, nil
	}
	return p.InPostgres.List(ctx, projections.InWorkspace(workspaceID).Add(`NOT deleted`), `slug COLLATE "C"`, 10_000)
}
