package sagas

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// BillingName keys the billing saga's checkpoint.
const BillingName = "saga.billing"

// Billing turns the costs conversations record into charges on the keys'
// budgets, and gives back what an ended conversation set aside and did not
// use. Settling is idempotent, so the saga simply asks again whenever a
// conversation records a cost or ends.
type Billing struct {
	Log    Log
	Bus    Sender
	Poll   time.Duration
	Logger *slog.Logger
}

// Run follows the log until ctx ends.
func (b *Billing) Run(ctx context.Context) {
	if b.Logger == nil {
		b.Logger = slog.Default()
	}
	follow(ctx, b.Log, BillingName, b.Poll, b.Logger, b.react)
}

func (b *Billing) react(ctx context.Context, rec es.Recorded) error {
	id, ok := strings.CutPrefix(rec.Stream, "conversation-")
	if !ok {
		return nil
	}
	switch rec.Type {
	case "ModelStepCompleted", "ToolCallCompleted", "ConversationResolved", "ConversationFailed":
		return b.Bus.Send(ctx, &commands.SettleConversation{ConversationID: id})
	}
	return nil
}
