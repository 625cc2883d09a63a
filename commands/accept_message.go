package commands

import (
	"context"
	"encoding/json"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// AcceptMessage opens a conversation for a caller's message.
type AcceptMessage struct {
	WorkspaceID, UserID, APIKeyID string
	Message                       string
	Context                       *conversation.Context
	Metadata                      json.RawMessage
}

// Accepted names the new conversation.
type Accepted struct {
	ConversationID string
	Position       es.Position
}

// AcceptMessage checks the key on its own facts (owner, revoked) rather than
// on a read model, so a key revoked a moment ago is refused, then records
// the conversation.
func (h *Handler) AcceptMessage(ctx context.Context, cmd AcceptMessage) (Accepted, error) {
	var k apikey.Key
	if _, _, err := h.load(ctx, apikey.Stream(cmd.APIKeyID), apikey.Events, &k); err != nil {
		return Accepted{}, err
	}
	if err := k.Usable(cmd.UserID); err != nil {
		return Accepted{}, err
	}
	// The budget is checked on its own facts too: a key whose period spend
	// (with what running conversations set aside) has reached its budget
	// takes no new message, and nothing is recorded.
	p, err := billing.PeriodAt(string(k.Settings.BudgetPeriod), h.now())
	if err != nil {
		return Accepted{}, err
	}
	b, _, err := h.loadBudget(ctx, billing.Stream(k.ID, p))
	if err != nil {
		return Accepted{}, err
	}
	if err := b.CanAccept(k.Settings.BudgetUSDCents, p); err != nil {
		return Accepted{}, err
	}
	out := Accepted{ConversationID: NewID()}
	facts, err := conversation.Open(conversation.OpenParams{
		ConversationID: out.ConversationID, WorkspaceID: cmd.WorkspaceID, UserID: cmd.UserID, APIKeyID: cmd.APIKeyID,
		Message: cmd.Message, Context: cmd.Context, Metadata: cmd.Metadata, ResponseURL: k.Settings.ResponseURL, Now: h.now(),
	})
	if err != nil {
		return Accepted{}, err
	}
	res, err := h.append(ctx, conversation.Stream(out.ConversationID), es.NoStream,
		es.Metadata{CorrelationID: out.ConversationID, CausationID: "key:" + cmd.APIKeyID,
			Actor: es.Actor{Kind: "user", ID: cmd.UserID}}, facts...)
	out.Position = res.Position
	return out, err
}
