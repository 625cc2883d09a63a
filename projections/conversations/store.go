package conversations

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the conversations read model: a projection plus its queries.
type Store interface {
	projections.Projection
	// Get returns one conversation's view.
	Get(ctx context.Context, id string) (View, bool, error)
	// Unfinished lists conversations that are open or processing, least
	// recently updated first.
	Unfinished(ctx context.Context, limit int) ([]View, error)
	// UsageByKey adds up a key's conversations.
	UsageByKey(ctx context.Context, keyID string) (Usage, error)
	// DueWebhooks lists conversations whose webhook delivery waits for an
	// attempt at now (see Webhook.Due), oldest first.
	DueWebhooks(ctx context.Context, now time.Time, stale time.Duration, limit int) ([]View, error)
}

const (
	conversationPrefix = "conversation-"
	webhookPrefix      = "webhook-"
)

// isConversation picks the streams this read model folds: conversations and
// their webhook deliveries.
func isConversation(rec es.Recorded) bool {
	return strings.HasPrefix(rec.Stream, conversationPrefix) || strings.HasPrefix(rec.Stream, webhookPrefix)
}

func idOf(rec es.Recorded) string {
	if id, ok := strings.CutPrefix(rec.Stream, webhookPrefix); ok {
		return id
	}
	return strings.TrimPrefix(rec.Stream, conversationPrefix)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct {
	mu    sync.RWMutex
	views map[string]*View
	cp    es.Position
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{views: map[string]*View{}} }

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp, nil
}

func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rec := range batch {
		if !m.cp.Less(rec.Position) {
			continue
		}
		if isConversation(rec) {
			id := idOf(rec)
			v := m.views[id]
			if v == nil {
				v = &View{}
			}
			next := *v
			next.Turns = append([]Turn(nil), v.Turns...)
			if v.Webhook != nil {
				wh := *v.Webhook
				wh.History = append([]Attempt(nil), v.Webhook.History...)
				next.Webhook = &wh
			}
			if _, err := Fold(&next, rec); err != nil {
				return err
			}
			m.views[id] = &next
		}
		m.cp = rec.Position
	}
	return nil
}

func (m *Memory) Get(_ context.Context, id string) (View, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.views[id]
	if !ok {
		return View{}, false, nil
	}
	return *v, true, nil
}

func (m *Memory) Unfinished(_ context.Context, limit int) ([]View, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []View
	for _, v := range m.views {
		if !v.Terminal() {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.Before(out[j].UpdatedAt)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *Memory) UsageByKey(_ context.Context, keyID string) (Usage, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u := NewUsage()
	for _, v := range m.views {
		if v.APIKeyID == keyID {
			u.Add(v)
		}
	}
	return u, nil
}

func (m *Memory) DueWebhooks(_ context.Context, now time.Time, stale time.Duration, limit int) ([]View, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []View
	for _, v := range m.views {
		if v.Webhook.Due(now, stale) {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.Before(out[j].UpdatedAt)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
