package emails

import (
	"context"
	"sort"
	"sync"

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
	mu    sync.RWMutex
	views map[string]View
	cp    es.Position
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{views: map[string]View{}} }

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp, nil
}

// Apply folds the batch into a copy and swaps it in only if every event
// folded, so a refused batch leaves the store as it was, like the Postgres
// transaction does.
func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	touched := map[string]View{}
	cp := m.cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		if isEmail(rec) {
			id := idOf(rec)
			v, ok := touched[id]
			if !ok {
				v = m.views[id]
			}
			if _, err := Fold(&v, rec); err != nil {
				return err
			}
			touched[id] = v
		}
		cp = rec.Position
	}
	for id, v := range touched {
		m.views[id] = v
	}
	m.cp = cp
	return nil
}

// out copies the lists of a stored view, so the caller cannot change the
// store through them.
func out(v View) View {
	v.To, v.ContactIDs = list(v.To), list(v.ContactIDs)
	return v
}

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.views[id]
	if !ok || v.WorkspaceID != workspaceID {
		return View{}, false, nil
	}
	return out(v), true, nil
}

func (m *Memory) List(_ context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	m.mu.RLock()
	var vs []View
	for _, v := range m.views {
		if v.WorkspaceID == workspaceID && f.matches(v) {
			vs = append(vs, out(v))
		}
	}
	m.mu.RUnlock()
	sort.Slice(vs, func(i, j int) bool { return newer(vs[i], vs[j]) })
	total := len(vs)
	if len(vs) > f.Limit {
		vs = vs[:f.Limit]
	}
	return vs, total, nil
}
