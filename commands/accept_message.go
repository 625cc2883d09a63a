package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

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
	// IdempotencyKey, when set, makes a resend of the same request answer
	// with the conversation the first one opened instead of a new one.
	IdempotencyKey string
}

// Accepted names the new conversation.
type Accepted struct {
	ConversationID string
	Position       es.Position
	// Replayed: an earlier request with the same Idempotency-Key opened it.
	Replayed bool
}

// IdempotencyConflictError refuses an Idempotency-Key already used for a
// different request, or for a conversation that has expired.
type IdempotencyConflictError struct {
	ConversationID string
	ExpiredAt      time.Time // zero: the requests differ
}

func (e *IdempotencyConflictError) Error() string {
	if !e.ExpiredAt.IsZero() {
		return fmt.Sprintf("this Idempotency-Key opened conversation %s, which expired at %s; send a new key for a new request",
			e.ConversationID, e.ExpiredAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("this Idempotency-Key was already used for a different request (conversation %s); "+
		"a resend must repeat the message, context and metadata exactly, and a new request needs a new key", e.ConversationID)
}

// idempotencySpace namespaces the conversation ids derived from
// Idempotency-Keys (UUIDv5).
var idempotencySpace = uuid.MustParse("0b9f6d1e-5a3c-4e57-9a41-2c7d8e6f0a13")

// idempotentID derives a conversation's id from the API key and the
// caller's Idempotency-Key, so a resend finds the first request's stream:
// the decision rests on that stream's events, not on a read model, and two
// resends racing each other meet in the store's expected-version check.
func idempotentID(apiKeyID, key string) string {
	return uuid.NewSHA1(idempotencySpace, []byte(apiKeyID+"\x00"+key)).String()
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
	id := NewID()
	if cmd.IdempotencyKey != "" {
		id = idempotentID(cmd.APIKeyID, cmd.IdempotencyKey)
		if out, found, err := h.acceptedBefore(ctx, id, cmd); found || err != nil {
			return out, err
		}
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
	out := Accepted{ConversationID: id}
	facts, err := conversation.Open(openParams(cmd, id, k.Settings.ResponseURL, h.now()))
	if err != nil {
		return Accepted{}, err
	}
	res, err := h.append(ctx, conversation.Stream(out.ConversationID), es.NoStream,
		es.Metadata{CorrelationID: out.ConversationID, CausationID: "key:" + cmd.APIKeyID,
			Actor: es.Actor{Kind: "user", ID: cmd.UserID}}, facts...)
	if errors.Is(err, es.ErrConcurrency) && cmd.IdempotencyKey != "" {
		// A resend raced the first request and lost: answer as a resend.
		if prev, found, perr := h.acceptedBefore(ctx, id, cmd); found || perr != nil {
			return prev, perr
		}
	}
	out.Position = res.Position
	return out, err
}

func openParams(cmd AcceptMessage, id, responseURL string, now time.Time) conversation.OpenParams {
	return conversation.OpenParams{
		ConversationID: id, WorkspaceID: cmd.WorkspaceID, UserID: cmd.UserID, APIKeyID: cmd.APIKeyID,
		Message: cmd.Message, Context: cmd.Context, Metadata: cmd.Metadata, ResponseURL: responseURL,
		IdempotencyKey: cmd.IdempotencyKey, Now: now,
	}
}

// acceptedBefore looks for the conversation an earlier request with the
// same Idempotency-Key opened (found is false when there is none). The
// same request gets that conversation back, a different one or an expired
// conversation an *IdempotencyConflictError.
func (h *Handler) acceptedBefore(ctx context.Context, id string, cmd AcceptMessage) (Accepted, bool, error) {
	var c conversation.Conversation
	v, recs, err := h.load(ctx, conversation.Stream(id), conversation.Events, &c)
	if err != nil || v == 0 {
		return Accepted{}, err != nil, err
	}
	if !c.SameRequest(openParams(cmd, id, "", time.Time{})) {
		return Accepted{}, true, &IdempotencyConflictError{ConversationID: id}
	}
	if !h.now().Before(c.ExpiresAt) {
		return Accepted{}, true, &IdempotencyConflictError{ConversationID: id, ExpiredAt: c.ExpiresAt}
	}
	return Accepted{ConversationID: id, Position: recs[0].Position, Replayed: true}, true, nil
}
