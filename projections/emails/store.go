package emails

import (
	"context"
	"sort"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
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
	return m.views.Apply(batch, isEmail, idOf, Fold)
}

// out copies the lists of a stored view, so the caller cannot change the
// store through them.
func out(v View) View {
	v.To, v.ContactIDs = list(v.To), list(v.ContactIDs)
	return v
}

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	v, ok := m.views.Get(id)
	if !ok || v.WorkspaceID != workspaceID {
		return View{}, false, nil
	}
	return out(v), true, nil
}

func (m *Memory) List(_ context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	var vs []View
	for v := range m.views.All() {
		if v.WorkspaceID == workspaceID && f.matches(v) {
			vs = append(vs, out(v))
		}
	}
	sort.Slice(vs, func(i, j int) bool { return newer(vs[i], vs[j]) })
	total := len(vs)
	if len(vs) > f.Limit {
		vs = vs[:f.Limit]
	}
	return vs, total, nil
}
