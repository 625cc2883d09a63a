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

// Billing settles every conversation that ends: its recorded costs are
// charged on the keys' budgets (each step charges itself as it ends; this
// catches one lost to a crash) and what it set aside and did not use is
// given back. Settling is idempotent, so a repeated event is harmless.
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
	follow(ctx, b.Log, b.Bus, BillingName, b.Poll, b.Logger, b.react)
}

func (b *Billing) react(_ context.Context, rec es.Recorded, emit Emit) error {
	if call, ok := strings.CutPrefix(rec.Stream, "mcpcall-"); ok {
		if rec.Type == "McpToolCallCompleted" {
			// The call charged itself; this makes sure, as for a
			// conversation, and gives back what it did not use.
			emit(&commands.SettleMcpCall{CallID: call})
		}
		return nil
	}
	id, ok := strings.CutPrefix(rec.Stream, "conversation-")
	if !ok {
		return nil
	}
	switch rec.Type {
	case "ConversationResolved", "ConversationFailed":
		emit(&commands.SettleConversation{ConversationID: id})
	}
	return nil
}
