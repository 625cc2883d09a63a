package commands

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// SettleConversation charges a conversation's recorded work to the
// reservations that pay for it and, once it has ended, gives back what it
// set aside and did not use.
type SettleConversation struct {
	ConversationID string `json:"conversation_id"`
}

func reservationID(conversationID, kind, ref string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("reservation:"+conversationID+":"+kind+":"+ref)).String()
}

// retryContended is retry for the budget stream, which every conversation
// of a key appends to: more attempts, and jitter so that competing writers
// spread out instead of colliding again.
func retryContended(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 200; attempt++ {
		if err = fn(); !errors.Is(err, es.ErrConcurrency) {
			return err
		}
		wait := time.Duration(rand.IntN(5+min(attempt, 20)*2)) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}

// budgetCache keeps each budget stream's fold in memory, so that a
// reservation reads only the events appended since the last one instead of
// the whole period's stream (thousands of events on a busy key). The
// stream stays the truth: every decision is appended with the version the
// fold was built at, so a stale cache only costs a retry.
type budgetCache struct {
	mu sync.Mutex
	m  map[string]cachedBudget
}

type cachedBudget struct {
	b billing.Budget
	v int64
}

func copyBudget(b billing.Budget) billing.Budget {
	out := b
	out.Open = make(map[string]billing.Reserved, len(b.Open))
	for k, v := range b.Open {
		out.Open[k] = v
	}
	out.Settled = make(map[string]bool, len(b.Settled))
	for k, v := range b.Settled {
		out.Settled[k] = v
	}
	return out
}

// loadBudget folds a budget stream, starting from the cached fold.
func (h *Handler) loadBudget(ctx context.Context, stream string) (billing.Budget, int64, error) {
	h.budgets.mu.Lock()
	c, ok := h.budgets.m[stream]
	h.budgets.mu.Unlock()
	b, v := billing.Budget{}, int64(0)
	if ok {
		b, v = copyBudget(c.b), c.v
	}
	recs, err := h.Store.ReadStream(ctx, stream, v)
	if err != nil {
		return b, v, err
	}
	for _, r := range recs {
		f, err := billing.Events.Decode(r)
		if err != nil {
			return b, v, err
		}
		b.Apply(f)
		v = r.StreamVersion
	}
	if len(recs) > 0 {
		h.budgets.mu.Lock()
		if h.budgets.m == nil {
			h.budgets.m = map[string]cachedBudget{}
		}
		if cur, ok := h.budgets.m[stream]; !ok || cur.v < v {
			h.budgets.m[stream] = cachedBudget{b: copyBudget(b), v: v}
		}
		h.budgets.mu.Unlock()
	}
	return b, v, nil
}

// keyAndPeriod loads a key and its budget period at a time.
func (h *Handler) keyAndPeriod(ctx context.Context, keyID string, at time.Time) (apikey.Key, billing.Period, error) {
	var k apikey.Key
	if _, _, err := h.load(ctx, apikey.Stream(keyID), apikey.Events, &k); err != nil {
		return k, billing.Period{}, err
	}
	p, err := billing.PeriodAt(string(k.Settings.BudgetPeriod), at)
	return k, p, err
}

// reserve sets money aside on the conversation's key before work runs.
// The reservation id derives from the work, so a repeated command reuses
// its reservation instead of taking a second one.
func (h *Handler) reserve(ctx context.Context, c *conversation.Conversation, kind, ref string, amount billing.MicroUSD) (*conversation.Charge, error) {
	// Charge what the conversation already did first: until then its
	// earlier worst-case reservations still count against the budget, and
	// whether this step fits would depend on how fast the billing saga is.
	if err := h.SettleConversation(ctx, SettleConversation{ConversationID: c.ID}); err != nil {
		return nil, err
	}
	k, p, err := h.keyAndPeriod(ctx, c.APIKeyID, h.now())
	if err != nil {
		return nil, err
	}
	id := reservationID(c.ID, kind, ref)
	stream := billing.Stream(c.APIKeyID, p)
	err = retryContended(ctx, func() error {
		b, v, err := h.loadBudget(ctx, stream)
		if err != nil {
			return err
		}
		if _, open := b.Open[id]; open || b.Settled[id] {
			return nil
		}
		facts, err := b.Reserve(billing.Reserved{ReservationID: id, ConversationID: c.ID, CauseKind: kind, CauseRef: ref,
			Amount: amount, BudgetCents: k.Settings.BudgetUSDCents, ReservedAt: h.now()}, p)
		if err != nil {
			return err
		}
		_, err = h.append(ctx, stream, v, es.Metadata{CorrelationID: c.ID, CausationID: kind + ":" + ref,
			Actor: es.Actor{Kind: "agent"}}, facts...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &conversation.Charge{ReservationID: id, Period: p.Key}, nil
}

// budgetFailure ends a conversation whose key cannot pay for the next piece
// of work; the reason says how much was spent and when the budget resets.
// It decides on the latest facts: a parallel tool call may have recorded
// its result meanwhile, and the failure must not be lost to that.
func (h *Handler) budgetFailure(ctx context.Context, c *conversation.Conversation, cause string, exceeded *billing.ExceededError) error {
	return retry(ctx, func() error {
		latest, v, err := h.loadConversation(ctx, c.ID)
		if err != nil {
			return err
		}
		facts, err := latest.Fail(conversation.CodeBudget,
			"The API key's budget cannot cover the next step, so the agent stopped. "+exceeded.Error(), h.now())
		if err != nil {
			return nil // it ended meanwhile
		}
		_, err = h.append(ctx, conversation.Stream(c.ID), v, agentMeta(latest, cause), facts...)
		return err
	})
}

// worstCase bounds the cost of a model step before it runs.
func (h *Handler) worstCase(req agent.Request) billing.MicroUSD {
	raw, _ := json.Marshal(req)
	maxOut := h.MaxOutputTokens
	if maxOut <= 0 {
		maxOut = 1024
	}
	return h.Prices.WorstCase(h.ModelName, len(raw), maxOut)
}

// SettleConversation turns every charge a conversation recorded into a
// ChargeRecorded on the reservation's budget stream, once; when the
// conversation has ended it releases the reservations no work used.
func (h *Handler) SettleConversation(ctx context.Context, cmd SettleConversation) error {
	recs, err := h.Store.ReadStream(ctx, conversation.Stream(cmd.ConversationID), 0)
	if err != nil || len(recs) == 0 {
		return err
	}
	c := &conversation.Conversation{}
	type pending struct {
		charge    conversation.Charge
		kind, ref string
		model     string
		usage     agent.Usage
		at        time.Time
	}
	byPeriod := map[string][]pending{}
	for _, r := range recs {
		f, err := conversation.Events.Decode(r)
		if err != nil {
			return err
		}
		c.Apply(f)
		switch e := f.(type) {
		case *conversation.ModelStepCompleted:
			if e.Charge != nil {
				byPeriod[e.Charge.Period] = append(byPeriod[e.Charge.Period], pending{*e.Charge, billing.CauseModelStep,
					"step " + strconv.Itoa(e.Step), e.Model, e.Usage, e.CompletedAt})
			}
		case *conversation.ToolCallCompleted:
			if e.Charge != nil {
				byPeriod[e.Charge.Period] = append(byPeriod[e.Charge.Period], pending{*e.Charge, billing.CauseToolCall,
					"tool call " + e.Key + " (" + e.Name + ")", "", agent.Usage{}, e.CompletedAt})
			}
		}
	}
	periods := map[string]bool{}
	for p := range byPeriod {
		periods[p] = true
	}
	if c.Status.Terminal() {
		// Reservations are only ever taken in the period current while the
		// conversation ran: from its start to its end. (Only here is the key
		// read: reserve settles running conversations before every step.)
		var k apikey.Key
		if _, _, err := h.load(ctx, apikey.Stream(c.APIKeyID), apikey.Events, &k); err != nil {
			return err
		}
		for _, at := range []time.Time{c.OpenedAt, c.EndedAt, h.now()} {
			if p, err := billing.PeriodAt(string(k.Settings.BudgetPeriod), at); err == nil {
				periods[p.Key] = true
			}
		}
	}
	md := es.Metadata{CorrelationID: c.ID, CausationID: "settle:" + c.ID, Actor: es.Actor{Kind: "system"}}
	for key := range periods {
		stream := billing.Stream(c.APIKeyID, billing.Period{Key: key})
		err := retryContended(ctx, func() error {
			b, v, err := h.loadBudget(ctx, stream)
			if err != nil {
				return err
			}
			var facts []es.Fact
			charged := map[string]bool{}
			for _, p := range byPeriod[key] {
				charged[p.charge.ReservationID] = true
				fs, err := b.Charge(billing.Charged{ReservationID: p.charge.ReservationID, ConversationID: c.ID,
					APIKeyID: c.APIKeyID, WorkspaceID: c.WorkspaceID, UserID: c.UserID, Period: key,
					CauseKind: p.kind, CauseRef: p.ref, Model: p.model, Usage: p.usage,
					Amount: billing.MicroUSD(p.charge.AmountMicroUSD), ChargedAt: p.at})
				if err == nil {
					facts = append(facts, fs...)
				}
			}
			if c.Status.Terminal() {
				for id, r := range b.Open {
					if r.ConversationID == c.ID && !charged[id] {
						fs, err := b.Release(id, "the conversation ended without using it", h.now())
						if err == nil {
							facts = append(facts, fs...)
						}
					}
				}
			}
			_, err = h.append(ctx, stream, v, md, facts...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
