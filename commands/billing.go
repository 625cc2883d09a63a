package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
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

// keyAndPeriod returns a key (as cached, see keyCache) and its budget
// period at a time.
func (h *Handler) keyAndPeriod(ctx context.Context, keyID string, at time.Time) (apikey.Key, billing.Period, error) {
	k, _, err := h.key(ctx, keyID)
	if err != nil {
		return k, billing.Period{}, err
	}
	p, err := billing.PeriodAt(string(k.Settings.BudgetPeriod), at)
	return k, p, err
}

// payer is who work is charged to: the conversation (or MCP call) that
// correlates it, on whose key, for which turn, and how long a reservation
// may wait for room held by running work.
type payer struct {
	ID, KeyID, WorkspaceID, UserID string
	Mode                           string // "test" or "" (live)
	Turn                           int
	WaitUntil                      time.Time
}

func (h *Handler) payerOf(c *conversation.Conversation) payer {
	p := payer{ID: c.ID, KeyID: c.APIKeyID, WorkspaceID: c.WorkspaceID, UserID: c.UserID, Mode: c.Mode, Turn: c.Turn}
	if h.Limits.MaxDuration > 0 {
		p.WaitUntil = c.TurnStartedAt.Add(h.Limits.MaxDuration)
	}
	return p
}

// reserve sets money aside on the conversation's key before work runs,
// through the budget stream's line (see budgetLine): it waits while the
// room is held by running work, up to the conversation's time limit. The
// reservation id derives from the work, so a repeated command reuses its
// reservation instead of taking a second one.
func (h *Handler) reserve(ctx context.Context, c *conversation.Conversation, kind, ref string, amount billing.MicroUSD) (*conversation.Charge, error) {
	return h.reserveFor(ctx, h.payerOf(c), kind, ref, amount)
}

func (h *Handler) reserveFor(ctx context.Context, py payer, kind, ref string, amount billing.MicroUSD) (*conversation.Charge, error) {
	idRef := ref
	if py.Turn > 1 {
		// A step number a cancelled turn reserved for and never recorded
		// may come again in a follow-up; its reservation must not.
		idRef = fmt.Sprintf("turn %d %s", py.Turn, ref)
	}
	id := reservationID(py.ID, kind, idRef)
	for attempt := 0; ; attempt++ {
		_, p, err := h.keyAndPeriod(ctx, py.KeyID, h.now())
		if err != nil {
			return nil, err
		}
		err = h.budgetLine(p, py.KeyID).submit(ctx, &budgetOp{
			reserve: &billing.Reserved{ReservationID: id, ConversationID: py.ID, CauseKind: kind, CauseRef: ref, Turn: py.Turn,
				Amount: amount, ReservedAt: h.now()},
			deadline: py.WaitUntil,
			md:       es.Metadata{CorrelationID: py.ID, CausationID: kind + ":" + ref, Actor: es.Actor{Kind: "agent"}},
		})
		if errors.Is(err, errPeriodChanged) && attempt < 3 {
			if _, _, err := h.refreshKey(ctx, py.KeyID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return &conversation.Charge{ReservationID: id, Period: p.Key}, nil
	}
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

// worstCase bounds the cost of a model step before it runs (see
// billing.Prices.WorstCase), with the input bounded by the model when it
// can say (TokenBounder) and by the request's size in bytes otherwise.
func (h *Handler) worstCase(req agent.Request) billing.MicroUSD {
	maxOut := h.MaxOutputTokens
	if maxOut <= 0 {
		maxOut = 1024
	}
	if b, ok := h.Model.(TokenBounder); ok {
		in, out := b.TokenBounds(req)
		return h.Prices.Cost(h.modelOf(req), agent.Usage{InputTokens: in, OutputTokens: min(out, maxOut)})
	}
	raw, _ := json.Marshal(req)
	return h.Prices.WorstCase(h.modelOf(req), len(raw), maxOut)
}

// TokenBounder is a model that can bound a request's tokens before it runs
// (the offline model counts them exactly). A model that cannot is bounded
// by the request's size in bytes: no token is shorter than a byte.
type TokenBounder interface {
	TokenBounds(req agent.Request) (input, output int)
}

// chargeRecorded charges what a step or tool call recorded, at once, on
// the line of the period it reserved on. The billing saga settles every
// ended conversation as well, so a charge lost here (a crash between the
// record and this) is made then; an error is only logged.
func (h *Handler) chargeRecorded(ctx context.Context, c *conversation.Conversation, charge *conversation.Charge,
	kind, ref, model string, usage agent.Usage, at time.Time, cause string) {
	h.chargeFor(ctx, h.payerOf(c), charge, kind, ref, model, usage, at, cause)
}

func (h *Handler) chargeFor(ctx context.Context, py payer, charge *conversation.Charge,
	kind, ref, model string, usage agent.Usage, at time.Time, cause string) {
	if charge == nil {
		return
	}
	p, err := h.periodOf(ctx, py.KeyID, charge.Period)
	if err != nil {
		h.logger().Warn("could not charge a recorded cost; the conversation's settlement will", "conversation", py.ID, "err", err)
		return
	}
	err = h.budgetLine(p, py.KeyID).submit(ctx, &budgetOp{
		charges: []billing.Charged{chargeOf(py, charge, kind, ref, model, usage, at)},
		md:      es.Metadata{CorrelationID: py.ID, CausationID: cause, Actor: es.Actor{Kind: "system"}},
	})
	if err != nil {
		h.logger().Warn("could not charge a recorded cost; the conversation's settlement will", "conversation", py.ID, "err", err)
	}
}

func chargeOf(py payer, charge *conversation.Charge, kind, ref, model string, usage agent.Usage, at time.Time) billing.Charged {
	return billing.Charged{ReservationID: charge.ReservationID, ConversationID: py.ID,
		APIKeyID: py.KeyID, WorkspaceID: py.WorkspaceID, UserID: py.UserID, Period: charge.Period,
		CauseKind: kind, CauseRef: ref, Model: model, Usage: usage,
		Amount: billing.MicroUSD(charge.AmountMicroUSD), ChargedAt: at, Mode: py.Mode}
}

// periodsAt are the budget periods of a key's kind at those times, by key:
// where work that ran between them may have reserved.
func periodsAt(kind apikey.Period, at ...time.Time) map[string]billing.Period {
	out := map[string]billing.Period{}
	for _, t := range at {
		if p, err := billing.PeriodAt(string(kind), t); err == nil {
			out[p.Key] = p
		}
	}
	return out
}

// periodOf rebuilds a period from its key ("2026-11", "2026-11-22",
// "total") for the key's current kind, or from the key's form alone.
func (h *Handler) periodOf(ctx context.Context, keyID, periodKey string) (billing.Period, error) {
	for _, kind := range []string{billing.Monthly, billing.Daily, billing.Total} {
		layout := map[string]string{billing.Monthly: "2006-01", billing.Daily: "2006-01-02"}[kind]
		if kind == billing.Total {
			if periodKey == "total" {
				return billing.PeriodAt(kind, time.Time{})
			}
			continue
		}
		if t, err := time.Parse(layout, periodKey); err == nil {
			return billing.PeriodAt(kind, t)
		}
	}
	return billing.Period{}, fmt.Errorf("budget period %q is not a day, a month or total", periodKey)
}

// SettleConversation makes sure an ended conversation's costs are all
// charged and what it set aside and did not use is given back. The
// charges were normally made as each step ended (chargeRecorded), and a
// charge of a closed reservation is nothing to do, so settling twice, or
// after those, records nothing more. A conversation still running is left
// alone: its steps charge themselves.
func (h *Handler) SettleConversation(ctx context.Context, cmd SettleConversation) error {
	recs, err := h.Store.ReadStream(ctx, conversation.Stream(cmd.ConversationID), 0)
	if err != nil || len(recs) == 0 {
		return err
	}
	c := &conversation.Conversation{}
	byPeriod := map[string][]billing.Charged{}
	for _, r := range recs {
		f, err := conversation.Events.Decode(r)
		if err != nil {
			return err
		}
		c.Apply(f)
		switch e := f.(type) {
		case *conversation.ModelStepCompleted:
			if e.Charge != nil {
				byPeriod[e.Charge.Period] = append(byPeriod[e.Charge.Period], chargeOf(h.payerOf(c), e.Charge, billing.CauseModelStep,
					"step "+strconv.Itoa(e.Step), e.Model, e.Usage, e.CompletedAt))
			}
		case *conversation.ToolCallCompleted:
			if e.Charge != nil {
				byPeriod[e.Charge.Period] = append(byPeriod[e.Charge.Period], chargeOf(h.payerOf(c), e.Charge, billing.CauseToolCall,
					"tool call "+e.Key+" ("+e.Name+")", "", agent.Usage{}, e.CompletedAt))
			}
		}
	}
	if !c.Status.Terminal() {
		return nil
	}
	// Reservations are only ever taken in the period current while the
	// conversation ran: from its start to its end. The key is read anew:
	// its period kind may have changed on another instance.
	k, _, err := h.refreshKey(ctx, c.APIKeyID)
	if err != nil {
		return err
	}
	periods := map[string]billing.Period{}
	for key := range byPeriod {
		if p, err := h.periodOf(ctx, c.APIKeyID, key); err == nil {
			periods[key] = p
		}
	}
	maps.Copy(periods, periodsAt(k.Settings.BudgetPeriod, c.OpenedAt, c.TurnStartedAt, c.EndedAt, h.now()))
	md := es.Metadata{CorrelationID: c.ID, CausationID: "settle:" + c.ID, Actor: es.Actor{Kind: "system"}}
	for key, p := range periods {
		err := h.budgetLine(p, c.APIKeyID).submit(ctx, &budgetOp{charges: byPeriod[key], releaseOf: c.ID,
			releaseReason: "the conversation ended without using it", releaseTurns: c.Turn, md: md})
		if err != nil {
			return err
		}
	}
	return nil
}
