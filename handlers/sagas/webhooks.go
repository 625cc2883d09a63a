package sagas

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

// WebhooksName keys the webhook saga's checkpoint.
const WebhooksName = "saga.webhooks"

// Webhooks starts a delivery when a conversation ends and sends each
// attempt when it is due. Due times live in the events (each failed
// attempt records the next one's time) and in the conversations read
// model, which is the durable timer: after a restart in the middle of a
// backoff, the next tick finds the attempt due and sends it.
type Webhooks struct {
	Log           Log
	Bus           Sender
	Conversations conversations.Store
	Clock         commands.Clock
	// Tick is how often due attempts are looked for.
	Tick time.Duration
	// Start opens a conversation's delivery. The saga calls it directly
	// (not over the bus) so that its checkpoint only moves past a finished
	// conversation once the delivery's first fact is recorded: a crash
	// cannot lose the start. version is the ending's stream version (0:
	// the conversation as it is now).
	Start func(ctx context.Context, conversationID string, version int64) error
	// Stale is how old an unfinished attempt must be to be retried.
	Stale  time.Duration
	Poll   time.Duration
	Logger *slog.Logger

	mu   sync.Mutex
	sent map[string]time.Time
}

// Run follows the log and ticks until ctx ends.
func (w *Webhooks) Run(ctx context.Context) {
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	if w.Tick <= 0 {
		w.Tick = time.Second
	}
	w.sent = map[string]time.Time{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		follow(ctx, w.Log, w.Bus, WebhooksName, w.Poll, w.Logger, w.react)
	}()
	t := time.NewTicker(w.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			if err := w.sendDue(ctx); err != nil && ctx.Err() == nil {
				w.Logger.Error("webhook timer failed", "err", err)
			}
		}
	}
}

func (w *Webhooks) react(ctx context.Context, rec es.Recorded, _ Emit) error {
	switch rec.Type {
	case "ConversationResolved", "ConversationFailed":
		return w.Start(ctx, strings.TrimPrefix(rec.Stream, "conversation-"), rec.StreamVersion)
	case "WebhookDeliveryStarted":
		f, err := webhook.Events.Decode(rec)
		if err != nil {
			return err
		}
		s := f.(*webhook.Started)
		return w.send(ctx, s.ConversationID, s.Delivery, 1)
	}
	return nil
}

// sendDue sends the attempts whose time has come.
func (w *Webhooks) sendDue(ctx context.Context) error {
	views, err := w.Conversations.DueWebhooks(ctx, w.Clock.Now(), w.Stale, 500)
	if err != nil {
		return err
	}
	for _, v := range views {
		if v.WebhookStartDue() {
			// Ended, with a webhook, but this turn's delivery never started.
			if err := w.Start(ctx, v.ID, 0); err != nil {
				w.Logger.Error("could not start a webhook delivery", "conversation", v.ID, "err", err)
			}
			continue
		}
		if err := w.send(ctx, v.ID, v.Webhook.Delivery, v.Webhook.Attempts+1); err != nil {
			return err
		}
	}
	return nil
}

// send puts an attempt on the bus unless it was sent moments ago: the
// read model lags the claim by a little, and the handler would drop the
// duplicate anyway.
func (w *Webhooks) send(ctx context.Context, conversationID string, delivery, attempt int) error {
	key := fmt.Sprintf("%s/%d/%d", conversationID, delivery, attempt)
	now := time.Now()
	w.mu.Lock()
	if at, ok := w.sent[key]; ok && now.Sub(at) < w.resendAfter() {
		w.mu.Unlock()
		return nil
	}
	w.sent[key] = now
	for k, at := range w.sent {
		if now.Sub(at) > 2*w.resendAfter() {
			delete(w.sent, k)
		}
	}
	w.mu.Unlock()
	return w.Bus.Send(ctx, &commands.AttemptWebhookDelivery{ConversationID: conversationID, Delivery: delivery, Attempt: attempt})
}

// resendAfter is how long a sent attempt is not sent again. The claim it
// makes shows in the read model within moments; an attempt still unclaimed
// after this (its command was dropped, or its receiver's host was busy) is
// sent again.
func (w *Webhooks) resendAfter() time.Duration {
	return min(w.Stale, 5*time.Second)
}
