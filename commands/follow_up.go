package commands

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// FollowUp adds a caller's further message to a conversation of theirs.
// The conversation's own key pays for the turn, as it paid for the first:
// the key a follow-up arrives with only has to be the caller's.
type FollowUp struct {
	ConversationID, WorkspaceID, UserID, APIKeyID string
	Message                                       string
	Context                                       *conversation.Context
	Metadata                                      json.RawMessage
	IdempotencyKey                                string
}

// ErrConversationKeyRevoked refuses a follow-up whose conversation's own
// key, which pays for it, has been revoked since.
var ErrConversationKeyRevoked = errors.New("the API key this conversation was opened with has been revoked, and that key pays for the conversation; start a new conversation with one of your keys")

// ErrNoConversation is a conversation the caller cannot see: it does not
// exist, or it is someone else's.
var ErrNoConversation = errors.New("no such conversation")

// FollowUp decides on the conversation's stream (never on a read model):
// the caller's own conversation, whose latest turn has ended, before it
// expires. A resend under the same Idempotency-Key answers with the turn
// the first one added.
func (h *Handler) FollowUp(ctx context.Context, cmd FollowUp) (Accepted, error) {
	for attempt := 0; ; attempt++ {
		c, v, err := h.loadConversation(ctx, cmd.ConversationID)
		if err != nil {
			return Accepted{}, err
		}
		if !c.Exists() || c.WorkspaceID != cmd.WorkspaceID || c.UserID != cmd.UserID {
			return Accepted{}, ErrNoConversation
		}
		p := conversation.FollowUpParams{APIKeyID: cmd.APIKeyID, Message: cmd.Message, Context: cmd.Context,
			Metadata: cmd.Metadata, IdempotencyKey: cmd.IdempotencyKey, Now: h.now()}
		if prev, found, same := c.FollowUpFor(cmd.IdempotencyKey, p); found {
			if !same {
				return Accepted{}, &IdempotencyConflictError{ConversationID: c.ID}
			}
			return Accepted{ConversationID: c.ID, Turn: prev.Turn, Replayed: true}, nil
		}
		facts, err := c.FollowUp(p)
		if err != nil {
			return Accepted{}, err
		}
		next := c.Clone()
		for _, f := range facts {
			next.Apply(f)
		}
		_, kv, err := h.admit(ctx, c.APIKeyID, cmd.UserID, h.worstCase(h.stepRequest(&next)))
		if errors.Is(err, apikey.ErrRevoked) && c.APIKeyID != cmd.APIKeyID {
			return Accepted{}, ErrConversationKeyRevoked
		}
		if err != nil {
			return Accepted{}, err
		}
		res, err := h.appendGuarded(ctx, conversation.Stream(c.ID), v, []es.Guard{{Stream: apikey.Stream(c.APIKeyID), Version: kv}},
			es.Metadata{CorrelationID: c.ID, CausationID: "key:" + cmd.APIKeyID, Actor: es.Actor{Kind: "user", ID: cmd.UserID}}, facts...)
		if keyMoved(err, c.APIKeyID) && attempt < 5 {
			if _, _, err := h.refreshKey(ctx, c.APIKeyID); err != nil {
				return Accepted{}, err
			}
			continue
		}
		if errors.Is(err, es.ErrConcurrency) && attempt < 5 {
			// The conversation moved (a racing follow-up, a resend): decide
			// again on what it holds now.
			continue
		}
		if err != nil {
			return Accepted{}, err
		}
		h.keep(&next, res.Version) // next holds the facts already
		return Accepted{ConversationID: c.ID, Turn: next.Turn, Position: res.Position, Version: res.Version}, nil
	}
}
