package emails

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the emails read model: a projection plus its queries. Every query
// is scoped to one workspace, so a tool can never see another tenant's mail.
type Store interface {
	projections.Projection
	// Get returns one email of the workspace.
	Get(ctx context.Context, workspaceID, id string) (View, bool, error)
	// List returns the matching emails newest first (queued_at, then id,
	// both descending), at most f.Limit of them, and how many match in all
	// so the caller can tell the model the list is cut short.
	List(ctx context.Context, workspaceID string, f Filter) ([]View, int, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

func NewMemory() *Memory { return &Memory{rows.InMemory()} }

// out copies the lists of a stored view, so the caller cannot change the
// store through them.
func out(v View) View {
	v.To, v.ContactIDs = list(v.To), list(v.ContactIDs)
	return v
}

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	v, ok := m.Views.Get(id)
	if !ok || v.WorkspaceID != workspaceID {
		return View{}, false, nil
	}
	return out(v), true, nil
}

func (m *Memory) List(_ context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	vs, total := m.Page(func(v View) bool { return v.WorkspaceID == workspaceID && f.matches(v) }, newer, f.Limit)
	for i := range vs {
		vs[i] = out(vs[i])
	}
	return vs, total, nil
}
