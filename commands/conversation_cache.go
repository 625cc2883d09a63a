package commands

import (
	"context"
	"fmt"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// conversationCache keeps the fold of every conversation this process is
// working on, with its version. Each command of a conversation (a model
// step, a tool call) loads it again; from the cache that is a read of the
// events appended since the cached version, usually one or two, instead of
// the whole stream decoded anew, so a step's cost does not grow with the
// conversation's length. The stream stays the truth: what the cache lacks
// is read, and every decision is appended with the version it was taken
// at. Conversations that ended move aside (see ended), so a follow-up
// reads only what came since; past maxCachedConversations the cache
// starts over, which costs reads, not correctness.
type conversationCache struct {
	mu sync.Mutex
	m  map[string]cachedConversation
	// ended keeps the folds of conversations that ended, as a base that
	// a follow-up reads only the events after (never decided on without
	// that read). It is small, and starts over when full.
	ended map[string]cachedConversation
}

// maxEndedConversations bounds the ended folds kept for follow-ups.
const maxEndedConversations = 2_000

// store keeps a fold at version v: running ones for commands, ended ones
// as a base for a later follow-up. The caller holds mu.
func (cc *conversationCache) store(c *conversation.Conversation, v int64) {
	if cc.m == nil || len(cc.m) >= maxCachedConversations {
		cc.m = map[string]cachedConversation{}
	}
	if cc.ended == nil || len(cc.ended) >= maxEndedConversations {
		cc.ended = map[string]cachedConversation{}
	}
	if c.Status.Terminal() {
		delete(cc.m, c.ID)
		if cur, ok := cc.ended[c.ID]; !ok || cur.v < v {
			cc.ended[c.ID] = cachedConversation{c: c.Clone(), v: v}
		}
		return
	}
	delete(cc.ended, c.ID)
	if cur, ok := cc.m[c.ID]; !ok || cur.v < v {
		cc.m[c.ID] = cachedConversation{c: c.Clone(), v: v}
	}
}

type cachedConversation struct {
	c conversation.Conversation
	v int64
}

const maxCachedConversations = 50_000

// cachedConversation is the fold this process last saw of a conversation,
// without reading anything: a command decides on it, and the expected
// version of its append finds out if another instance moved the
// conversation meanwhile. A decision that there is nothing to do is never
// taken on it alone: the callers read the stream first.
func (h *Handler) cachedConversation(id string) (*conversation.Conversation, int64, bool) {
	h.convs.mu.Lock()
	cached, ok := h.convs.m[id]
	h.convs.mu.Unlock()
	if !ok {
		return nil, 0, false
	}
	c := cached.c.Clone()
	return &c, cached.v, true
}

// ConversationEnded drops this process's copy of a conversation that ended,
// wherever it ended: a command of it decides on the stream from then on.
// The ending of a cancel recorded on another instance reaches every
// instance this way within moments, so their tool calls and model steps
// stop too, instead of acting on a copy that still shows it running.
func (h *Handler) ConversationEnded(id string) {
	h.convs.mu.Lock()
	delete(h.convs.m, id)
	h.convs.mu.Unlock()
}

// conversationForCommand is the cached fold when there is one, else the
// stream read; fresh says which.
func (h *Handler) conversationForCommand(ctx context.Context, id string) (c *conversation.Conversation, v int64, fresh bool, err error) {
	if c, v, ok := h.cachedConversation(id); ok {
		return c, v, false, nil
	}
	c, v, err = h.loadConversation(ctx, id)
	return c, v, true, err
}

// keep records what this process appended to a conversation: facts were
// appended at version v (the stream's version after them) and are folded
// into c here.
func (h *Handler) keep(c *conversation.Conversation, v int64, facts ...es.Fact) {
	for _, f := range facts {
		c.Apply(f)
	}
	h.convs.mu.Lock()
	defer h.convs.mu.Unlock()
	h.convs.store(c, v)
}

func (h *Handler) loadConversation(ctx context.Context, id string) (*conversation.Conversation, int64, error) {
	h.convs.mu.Lock()
	cached, ok := h.convs.m[id]
	if !ok {
		cached, ok = h.convs.ended[id]
	}
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
	if len(recs) > 0 && c.Exists() {
		h.convs.mu.Lock()
		h.convs.store(&c, v)
		h.convs.mu.Unlock()
	}
	return &c, v, nil
}
