package tasks

import (
	"context"

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
type Memory struct{ *projections.InMemory[View] }

func NewMemory() *Memory { return &Memory{rows.InMemory()} }

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	v, ok := m.Views.Get(id)
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
	out, total := m.Page(func(v View) bool {
		return v.WorkspaceID == workspaceID && (f.Status == "" || v.Status == f.Status) &&
			(f.AssigneeID == "" || v.AssigneeID == f.AssigneeID) &&
			(projections.ContainsFold(v.Title, f.Query) || projections.ContainsFold(v.Description, f.Query))
	}, func(a, b View) bool {
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	}, f.Limit)
	return out, total, nil
}
