package commands

import (
	"context"
	"fmt"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
)

// conversationCache keeps the fold of every conversation this process is
// working on, with its version. Each command of a conversation (a model
// step, a tool call) loads it again; from the cache that is a read of the
// events appended since the cached version, usually one or two, instead of
// the whole stream decoded anew, so a step's cost does not grow with the
// conversation's length. The stream stays the truth: what the cache lacks
// is read, and every decision is appended with the version it was taken
// at. Conversations that ended are dropped; past maxCachedConversations
// the cache starts over, which costs reads, not correctness.
type conversationCache struct {
	mu sync.Mutex
	m  map[string]cachedConversation
}

type cachedConversation struct {
	c conversation.Conversation
	v int64
}

const maxCachedConversations = 50_000

func (h *Handler) loadConversation(ctx context.Context, id string) (*conversation.Conversation, int64, error) {
	h.convs.mu.Lock()
	cached, ok := h.convs.m[id]
	h.convs.mu.Unlock()
	c, v := conversation.Conversation{}, int64(0)
	if ok {
		c, v = cached.c.Clone(), cached.v
	}
	stream := conversation.Stream(id)
	recs, err := h.Store.ReadStream(ctx, stream, v)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", stream, err)
	}
	for _, r := range recs {
		f, err := conversation.Events.Decode(r)
		if err != nil {
			return nil, 0, err
		}
		c.Apply(f)
		v = r.StreamVersion
	}
	if len(recs) > 0 {
		h.convs.mu.Lock()
		if h.convs.m == nil || len(h.convs.m) >= maxCachedConversations {
			h.convs.m = map[string]cachedConversation{}
		}
		switch cur, ok := h.convs.m[id]; {
		case c.Status.Terminal():
			delete(h.convs.m, id)
		case !ok || cur.v < v:
			h.convs.m[id] = cachedConversation{c: c.Clone(), v: v}
		}
		h.convs.mu.Unlock()
	}
	return &c, v, nil
}
