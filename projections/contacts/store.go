package contacts

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
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
		if isContact(rec) {
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
	if !ok || v.Deleted || v.WorkspaceID != workspaceID {
		return View{}, false, nil
	}
	return v, true, nil
}

func (m *Memory) Search(_ context.Context, workspaceID string, f Filter) ([]View, int, error) {
	f = f.normalized()
	m.mu.RLock()
	var out []View
	for _, v := range m.views {
		if !v.Deleted && v.WorkspaceID == workspaceID && f.matches(v) {
			out = append(out, v)
		}
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	total := len(out)
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, total, nil
}

func (f Filter) matches(v View) bool {
	return contains(v.Name, f.Name) && contains(v.Company, f.Company) && contains(v.City, f.City) &&
		contains(v.Email, f.Email) &&
		(f.Query == "" || contains(v.Name, f.Query) || contains(v.Company, f.Query) || contains(v.City, f.Query) ||
			contains(v.Email, f.Query) || contains(v.Title, f.Query) || contains(v.Notes, f.Query))
}

// contains is the memory twin of ILIKE '%term%': an empty term matches all.
func contains(s, term string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(term))
}
