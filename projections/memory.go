package projections

import (
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
	if clone == nil {
		clone = func(v V) V { return v }
	}
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
	touched := map[string]V{}
	cp := t.cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		if relevant(rec) {
			id := key(rec)
			v, ok := touched[id]
			if !ok {
				v = t.clone(t.views[id])
			}
			if _, err := fold(&v, rec); err != nil {
				return err
			}
			touched[id] = v
		}
		cp = rec.Position
	}
	for id, v := range touched {
		if t.OnSave != nil {
			before, had := t.views[id]
			t.OnSave(before, had, v)
		}
		t.views[id] = v
	}
	t.cp = cp
	return nil
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
