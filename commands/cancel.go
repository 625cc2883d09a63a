package commands

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// CancelConversation ends a running conversation at its caller's request
// (ConversationFailed, code CANCELLED). What follows an ending follows this
// one too: the billing saga gives back what the conversation set aside,
// the webhook saga delivers the ending, and no model step or tool call
// runs after it. An ended conversation is conversation.ErrEnded.
func (h *Handler) CancelConversation(ctx context.Context, id, userID string) (es.Position, error) {
	var pos es.Position
	err := retry(ctx, func() error {
		c, v, err := h.loadConversation(ctx, id)
		if err != nil {
			return err
		}
		facts, err := c.Cancel(h.now())
		if err != nil {
			return err
		}
		md := es.Metadata{CorrelationID: id, CausationID: "cancel:" + id, Actor: es.Actor{Kind: "user", ID: userID}}
		res, err := h.append(ctx, conversation.Stream(id), v, md, facts...)
		if err != nil {
			return err
		}
		h.keep(c, res.Version, facts...)
		pos = res.Position
		return nil
	})
	return pos, err
}
