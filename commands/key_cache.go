package commands

import (
	"context"
	"errors"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// keyCache keeps the fold of every API key this process has decided on,
// with the version it was folded at. A command that decides on a key (may
// this message be accepted, which budget does this step reserve on) takes
// the cached fold and guards its append with the key's version
// (es.Guard): if the key changed meanwhile (revoked, a new budget), the
// append is refused, the cache reads the new events and the command
// decides again. So the decision is still taken on the key's events, and
// the common case costs no read at all.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	k apikey.Key
	v int64
}

// key returns the cached fold of a key, folding its stream the first time.
func (h *Handler) key(ctx context.Context, id string) (apikey.Key, int64, error) {
	h.keys.mu.Lock()
	c, ok := h.keys.m[id]
	h.keys.mu.Unlock()
	if ok {
		return c.k, c.v, nil
	}
	return h.refreshKey(ctx, id)
}

// refreshKey folds what was appended to a key since the cached version.
func (h *Handler) refreshKey(ctx context.Context, id string) (apikey.Key, int64, error) {
	h.keys.mu.Lock()
	c := h.keys.m[id]
	h.keys.mu.Unlock()
	recs, err := h.Store.ReadStream(ctx, apikey.Stream(id), c.v)
	if err != nil {
		return apikey.Key{}, 0, err
	}
	for _, r := range recs {
		f, err := apikey.Events.Decode(r)
		if err != nil {
			return apikey.Key{}, 0, err
		}
		c.k.Apply(f)
		c.v = r.StreamVersion
	}
	if c.v == 0 {
		return c.k, 0, nil // no such key: nothing to keep
	}
	h.keys.mu.Lock()
	if h.keys.m == nil {
		h.keys.m = map[string]cachedKey{}
	}
	if cur, ok := h.keys.m[id]; !ok || cur.v < c.v {
		h.keys.m[id] = c
	}
	h.keys.mu.Unlock()
	return c.k, c.v, nil
}

// keyMoved reports whether err is a guard on the key's stream that failed:
// the key changed after the decision.
func keyMoved(err error, keyID string) bool {
	var ce *es.ConflictError
	return errors.As(err, &ce) && ce.Stream == apikey.Stream(keyID)
}
