package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/idempotency"
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
	// Agent is the slug of the named agent to run with ("" for the
	// default); System is extra system text for this conversation.
	Agent, System string
}

// Accepted names the new conversation.
type Accepted struct {
	ConversationID string
	Position       es.Position
	// Version is the conversation's stream version just after the
	// accepted message (0 for a resend: the first request recorded it).
	Version int64
	// Turn is the number of the caller's message in the conversation.
	Turn int
	// Replayed: an earlier request with the same Idempotency-Key opened it
	// (or added the turn).
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
//
// A key lasts 24 h (idempotency.Lifetime) from its first request; then it
// names a new conversation, of the next generation (gen).
func idempotentID(apiKeyID, key string, gen int) string {
	name := apiKeyID + "\x00" + key
	if gen > 0 {
		name += "\x00" + strconv.Itoa(gen)
	}
	return uuid.NewSHA1(idempotencySpace, []byte(name)).String()
}

// errKeyLapsed: the key's conversation is older than the key's lifetime.
var errKeyLapsed = errors.New("the Idempotency-Key's 24 hours are over")

// AcceptMessage checks the key on its own facts (owner, revoked) rather than
// on a read model, so a key revoked a moment ago is refused, then records
// the conversation.
func (h *Handler) AcceptMessage(ctx context.Context, cmd AcceptMessage) (Accepted, error) {
	id := NewID()
	for gen := 0; cmd.IdempotencyKey != ""; gen++ {
		id = idempotentID(cmd.APIKeyID, cmd.IdempotencyKey, gen)
		out, found, err := h.acceptedBefore(ctx, id, cmd)
		if errors.Is(err, errKeyLapsed) {
			continue // used more than 24 h ago: the key starts afresh
		}
		if found || err != nil {
			return out, err
		}
		break
	}
	// The agent is read from its own events: an agent changed or deleted
	// a moment ago is seen as it is now.
	var run *conversation.AgentRun
	if cmd.Agent != "" {
		a, err := h.Agent(ctx, cmd.WorkspaceID, cmd.Agent)
		if err != nil {
			return Accepted{}, err
		}
		run = &conversation.AgentRun{ID: a.ID, Slug: a.Slug, Version: a.Version, Config: a.Config}
	}
	for attempt := 0; ; attempt++ {
		k, kv, err := h.admit(ctx, cmd.APIKeyID, cmd.UserID, h.firstStepCost(cmd, run))
		if err != nil {
			return Accepted{}, err
		}
		p := openParams(cmd, id, k.Settings.ResponseURL, h.now())
		p.Agent = run
		if k.Test() {
			p.Mode = apikey.ModeTest
		}
		facts, err := conversation.Open(p)
		if err != nil {
			return Accepted{}, err
		}
		res, err := h.appendGuarded(ctx, conversation.Stream(id), es.NoStream, []es.Guard{{Stream: apikey.Stream(k.ID), Version: kv}},
			es.Metadata{CorrelationID: id, CausationID: "key:" + cmd.APIKeyID, Actor: es.Actor{Kind: "user", ID: cmd.UserID}}, facts...)
		if keyMoved(err, cmd.APIKeyID) && attempt < 5 {
			if _, _, err := h.refreshKey(ctx, cmd.APIKeyID); err != nil {
				return Accepted{}, err
			}
			continue
		}
		if errors.Is(err, es.ErrConcurrency) && cmd.IdempotencyKey != "" {
			// A resend raced the first request and lost: answer as a resend.
			if prev, found, perr := h.acceptedBefore(ctx, id, cmd); found || perr != nil {
				return prev, perr
			}
		}
		if err != nil {
			return Accepted{}, err
		}
		// The first step (here or on another instance) decides on this
		// fold without reading the stream back.
		h.keep(&conversation.Conversation{}, res.Version, facts...)
		return Accepted{ConversationID: id, Turn: 1, Position: res.Position, Version: res.Version}, nil
	}
}

// admit decides whether a key takes a new message (a conversation's first
// or a follow-up). The key's cached fold decides, and the caller guards its
// append with the version it was folded at (kv): a key revoked or changed
// since is read again and decided on anew. A key whose committed spend
// leaves no room for the message's first model step (cost) takes nothing.
// What running conversations set aside does not count: they give it back
// as they end, and the new work waits for it.
func (h *Handler) admit(ctx context.Context, keyID, userID string, cost billing.MicroUSD) (apikey.Key, int64, error) {
	k, kv, err := h.key(ctx, keyID)
	if err != nil {
		return k, 0, err
	}
	if err := k.Usable(userID); err != nil {
		return k, 0, err
	}
	p, err := billing.PeriodAt(string(k.Settings.BudgetPeriod), h.now())
	if err != nil {
		return k, 0, err
	}
	if k.Settings.BudgetUSDCents != nil {
		b, err := h.budgetLine(p, k.ID).snapshot(ctx, budgetFresh)
		if err != nil {
			return k, 0, err
		}
		if err := b.CanAccept(k.Settings.BudgetUSDCents, p, cost); err != nil {
			return k, 0, err
		}
	}
	return k, kv, nil
}

// firstStepCost is what the first model step of a message reserves: the
// least a conversation needs to start.
func (h *Handler) firstStepCost(cmd AcceptMessage, run *conversation.AgentRun) billing.MicroUSD {
	c := conversation.Conversation{Message: cmd.Message, Context: cmd.Context, Metadata: cmd.Metadata, Agent: run, System: cmd.System}
	return h.worstCase(h.stepRequest(&c))
}

func openParams(cmd AcceptMessage, id, responseURL string, now time.Time) conversation.OpenParams {
	return conversation.OpenParams{
		ConversationID: id, WorkspaceID: cmd.WorkspaceID, UserID: cmd.UserID, APIKeyID: cmd.APIKeyID,
		Message: cmd.Message, Context: cmd.Context, Metadata: cmd.Metadata, ResponseURL: responseURL,
		IdempotencyKey: cmd.IdempotencyKey, System: cmd.System, Now: now,
		Agent: agentNamed(cmd.Agent),
	}
}

// agentNamed stands for the agent of a slug where only the slug matters
// (is a resend the same request?).
func agentNamed(slug string) *conversation.AgentRun {
	if slug == "" {
		return nil
	}
	return &conversation.AgentRun{Slug: slug}
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
	if !h.now().Before(c.OpenedAt.Add(idempotency.Lifetime)) {
		return Accepted{}, true, errKeyLapsed
	}
	if !c.SameRequest(openParams(cmd, id, "", time.Time{})) {
		return Accepted{}, true, &IdempotencyConflictError{ConversationID: id}
	}
	if !h.now().Before(c.ExpiresAt) {
		return Accepted{}, true, &IdempotencyConflictError{ConversationID: id, ExpiredAt: c.ExpiresAt}
	}
	return Accepted{ConversationID: id, Turn: 1, Position: recs[0].Position, Replayed: true}, true, nil
}
