package projections

import (
	"context"
	"iter"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// MemoryTable is what the in-memory read models share: one view per stream
// id and the checkpoint, behind one lock. It is the memory twin of a table
// plus PgApply's transaction: Apply is all-or-nothing, so a store built on
// it keeps the Projection contract without each store writing that out
// again.
//
// Views are kept and handed out by value. Fold functions must not change
// what a view's slices, maps or pointers share with the stored view in
// place; where a fold does (appending to a list, say), the table's clone
// function deep-copies the stored view before the first event of a batch
// is folded into it, so readers never see a half-applied batch.
type MemoryTable[V any] struct {
	mu    sync.RWMutex
	views map[string]V
	cp    es.Position
	clone func(V) V
	// OnSave, when set, sees each view a batch changed as it is swapped
	// in (and the view it replaces, had it one), under the write lock and
	// before the checkpoint moves: the place to keep an index or sums of
	// the store's own, never behind the views.
	OnSave func(before V, had bool, after V)
}

// NewMemoryTable returns an empty table. clone copies a stored view before a
// batch folds into it; nil means a plain copy of the value is enough
// because the fold never changes anything the view points to.
func NewMemoryTable[V any](clone func(V) V) *MemoryTable[V] {
	return &MemoryTable[V]{views: map[string]V{}, clone: clone}
}

// Checkpoint is the position of the last event applied.
func (t *MemoryTable[V]) Checkpoint() es.Position {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.cp
}

// Apply folds the events of the batch past the checkpoint that relevant
// picks into the view key names, and moves the checkpoint to the last
// event. The batch folds into copies that are swapped in only if every
// event folded, so a refused batch (a version gap, an event out of place)
// leaves the table and its checkpoint as they were, like the Postgres
// transaction does, and the runner can retry it.
func (t *MemoryTable[V]) Apply(batch []es.Recorded, relevant func(es.Recorded) bool, key func(es.Recorded) string,
	fold func(*V, es.Recorded) (changed bool, err error)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := Stage(t.views, t.clone)
	cp := t.cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		if relevant(rec) {
			if err := st.Fold(key(rec), rec, fold); err != nil {
				return err
			}
		}
		cp = rec.Position
	}
	st.Commit(t.OnSave)
	t.cp = cp
	return nil
}

// Staged folds a batch into copies of the views it touches, which Commit
// swaps in: a memory store that folds nothing until the whole batch has
// folded is all-or-nothing, as the Postgres transaction is.
type Staged[V any] struct {
	views   map[string]V
	clone   func(V) V
	touched map[string]V
	order   []string
}

// Stage starts a batch over views; clone copies a stored view before the
// first event folds into it (nil: a copy of the value is enough).
func Stage[V any](views map[string]V, clone func(V) V) *Staged[V] {
	return &Staged[V]{views: views, clone: clone, touched: map[string]V{}}
}

// Fold folds rec into the staged copy of view id.
func (s *Staged[V]) Fold(id string, rec es.Recorded, fold func(*V, es.Recorded) (changed bool, err error)) error {
	v, ok := s.touched[id]
	if !ok {
		v = s.views[id]
		if s.clone != nil {
			v = s.clone(v)
		}
		s.order = append(s.order, id)
	}
	if _, err := fold(&v, rec); err != nil {
		return err
	}
	s.touched[id] = v
	return nil
}

// Commit swaps the staged views in, showing each to onSave (when set)
// with the view it replaces.
func (s *Staged[V]) Commit(onSave func(before V, had bool, after V)) {
	for _, id := range s.order {
		v := s.touched[id]
		if onSave != nil {
			before, had := s.views[id]
			onSave(before, had, v)
		}
		s.views[id] = v
	}
}

// Get returns the view stored under id.
func (t *MemoryTable[V]) Get(id string) (V, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok := t.views[id]
	return v, ok
}

// All yields every view, in no particular order, holding the read lock
// until the loop ends: the loop body sees one consistent state, and must
// not call back into the table.
func (t *MemoryTable[V]) All() iter.Seq[V] {
	return func(yield func(V) bool) {
		t.mu.RLock()
		defer t.mu.RUnlock()
		for _, v := range t.views {
			if !yield(v) {
				return
			}
		}
	}
}

// MemoryLock is the lock and checkpoint of a memory store that keeps maps
// of its own (identity, org) rather than one MemoryTable. Apply holds Mu
// while it swaps a batch in and moves Cp; readers hold it for reading.
type MemoryLock struct {
	Mu sync.RWMutex
	Cp es.Position
}

// Checkpoint is the position of the last event applied.
func (m *MemoryLock) Checkpoint(context.Context) (es.Position, error) {
	m.Mu.RLock()
	defer m.Mu.RUnlock()
	return m.Cp, nil
}
