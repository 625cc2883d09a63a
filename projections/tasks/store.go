package tasks

import (
	"context"
	"sort"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the tasks read model: a projection plus its queries. Every query
// is scoped to one workspace, so a tool can never see another tenant's tasks.
type Store interface {
	projections.Projection
	// Get returns one task of the workspace.
	Get(ctx context.Context, workspaceID, id string) (View, bool, error)
	// List returns the matching tasks oldest first (created_at, then id), at
	// most f.Limit of them, and how many match in all so the caller can tell
	// the model the list is cut short.
	List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct {
	views *projections.MemoryTable[View]
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{views: projections.NewMemoryTable[View](nil)} }

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) { return m.views.Checkpoint(), nil }

// Apply is all-or-nothing, like the Postgres transaction (see
// projections.MemoryTable).
func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	return m.views.Apply(batch, isTask, idOf, Fold)
}

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	v, ok := m.views.Get(id)
	if !ok || v.WorkspaceID != workspaceID {
		return View{}, false, nil
	}
	return v, true, nil
}

func (m *Memory) List(_ context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	var out []View
	for v := range m.views.All() {
		if v.WorkspaceID == workspaceID && (f.Status == "" || v.Status == f.Status) &&
			(f.AssigneeID == "" || v.AssigneeID == f.AssigneeID) &&
			(projections.ContainsFold(v.Title, f.Query) || projections.ContainsFold(v.Description, f.Query)) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	total := len(out)
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, total, nil
}

// contains is the memory twin of ILIKE '%term%': an empty term matches all.
