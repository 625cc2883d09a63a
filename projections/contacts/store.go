package contacts

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the contacts read model: a projection plus its queries. Every
// query is scoped to one workspace, so a tool can never see another tenant's
// contacts, and deleted contacts are invisible.
type Store interface {
	projections.Projection
	// Get returns one live contact of the workspace.
	Get(ctx context.Context, workspaceID, id string) (View, bool, error)
	// Search returns the matching contacts ordered by name then id (byte
	// order, so both stores agree), at most f.Limit of them, and how many
	// match in all so the caller can tell the model the list is cut short.
	Search(ctx context.Context, workspaceID string, f Filter) ([]View, int, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{rows.InMemory()} }

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	v, ok := m.Views.Get(id)
	if !ok || v.Deleted || v.WorkspaceID != workspaceID {
		return View{}, false, nil
	}
	return v, true, nil
}

func (m *Memory) Search(_ context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	out, total := m.Page(func(v View) bool { return !v.Deleted && v.WorkspaceID == workspaceID && f.matches(v) },
		func(a, b View) bool { return a.Name < b.Name || a.Name == b.Name && a.ID < b.ID }, f.Limit)
	return out, total, nil
}

func (f Filter) matches(v View) bool {
	return projections.ContainsFold(v.Name, f.Name) && projections.ContainsFold(v.Company, f.Company) && projections.ContainsFold(v.City, f.City) &&
		projections.ContainsFold(v.Email, f.Email) &&
		(f.Query == "" || projections.ContainsFold(v.Name, f.Query) || projections.ContainsFold(v.Company, f.Query) || projections.ContainsFold(v.City, f.Query) ||
			projections.ContainsFold(v.Email, f.Query) || projections.ContainsFold(v.Title, f.Query) || projections.ContainsFold(v.Notes, f.Query))
}
