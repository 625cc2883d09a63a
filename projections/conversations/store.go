package conversations

import (
	"context"
	"sort"
	"strings"
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
	// Stalled lists the unfinished conversations last updated before
	// before, least recently updated first: what the reaper looks at, and
	// no more, so its sweep costs what is stalled, not what is running.
	Stalled(ctx context.Context, before time.Time, limit int) ([]View, error)
	// UsageByKey adds up a key's conversations.
	UsageByKey(ctx context.Context, keyID string) (Usage, error)
	// DueWebhooks lists conversations whose webhook delivery waits for an
	// attempt, or to start one, at now (see View.WebhookDue), oldest first.
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
	views *projections.MemoryTable[View]
	usage memoryUsage
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{views: projections.NewMemoryTable(clone)} }

// clone copies what Fold changes in place, the turns and the webhook with
// its history, so a view handed out earlier never changes under its reader.
func clone(v View) View {
	v.Turns = append([]Turn(nil), v.Turns...)
	if v.Webhook != nil {
		wh := *v.Webhook
		wh.History = append([]Attempt(nil), v.Webhook.History...)
		v.Webhook = &wh
	}
	return v
}

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) { return m.views.Checkpoint(), nil }

// Apply is all-or-nothing, like the Postgres transaction (see
// projections.MemoryTable).
func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	// The key usage sums move by what the batch's views counted for
	// before it and count for after it, as in Postgres.
	ids := map[string]bool{}
	d := usageDelta{}
	for _, rec := range batch {
		if id := idOf(rec); isConversation(rec) && !ids[id] {
			ids[id] = true
			if v, ok := m.views.Get(id); ok {
				d.move(countOf(&v), -1)
			}
		}
	}
	if err := m.views.Apply(batch, isConversation, idOf, Fold); err != nil {
		return err
	}
	for id := range ids {
		if v, ok := m.views.Get(id); ok {
			d.move(countOf(&v), 1)
		}
	}
	m.usage.apply(d)
	return nil
}

func (m *Memory) Get(_ context.Context, id string) (View, bool, error) {
	v, ok := m.views.Get(id)
	return v, ok, nil
}

func (m *Memory) Unfinished(_ context.Context, limit int) ([]View, error) {
	var out []View
	for v := range m.views.All() {
		if !v.Terminal() {
			out = append(out, v)
		}
	}
	return leastRecentFirst(out, limit), nil
}

func (m *Memory) Stalled(_ context.Context, before time.Time, limit int) ([]View, error) {
	var out []View
	for v := range m.views.All() {
		if !v.Terminal() && v.UpdatedAt.Before(before) {
			out = append(out, v)
		}
	}
	return leastRecentFirst(out, limit), nil
}

func (m *Memory) UsageByKey(_ context.Context, keyID string) (Usage, error) {
	return m.usage.of(keyID), nil
}

func (m *Memory) DueWebhooks(_ context.Context, now time.Time, stale time.Duration, limit int) ([]View, error) {
	var out []View
	for v := range m.views.All() {
		if v.WebhookDue(now, stale) {
			out = append(out, v)
		}
	}
	return leastRecentFirst(out, limit), nil
}

// leastRecentFirst is the order of Unfinished and DueWebhooks: least
// recently updated first, then by id. It keeps at most limit views (all if
// limit <= 0).
func leastRecentFirst(out []View, limit int) []View {
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.Before(out[j].UpdatedAt)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
