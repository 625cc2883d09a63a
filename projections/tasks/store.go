package tasks

import (
	"context"
	"sort"
	"strings"
	"sync"

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
		if isTask(rec) {
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

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.views[id]
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
	m.mu.RLock()
	var out []View
	for _, v := range m.views {
		if v.WorkspaceID == workspaceID && (f.Status == "" || v.Status == f.Status) &&
			(f.AssigneeID == "" || v.AssigneeID == f.AssigneeID) &&
			(contains(v.Title, f.Query) || contains(v.Description, f.Query)) {
			out = append(out, v)
		}
	}
	m.mu.RUnlock()
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
func contains(s, term string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(term))
}
