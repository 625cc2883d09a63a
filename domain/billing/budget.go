package billing

import (
	"errors"
	"fmt"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Cause kinds of a charge.
const (
	CauseModelStep = "model_step"
	CauseToolCall  = "tool_call"
)

// Reserved sets money aside for work about to run, before it runs.
type Reserved struct {
	ReservationID  string    `json:"reservation_id"`
	ConversationID string    `json:"conversation_id"`
	CauseKind      string    `json:"cause_kind"`
	CauseRef       string    `json:"cause_ref"` // "step 3", "tool call 2.1"
	Amount         MicroUSD  `json:"amount_microusd"`
	BudgetCents    *int64    `json:"budget_usd_cents"` // the budget in force, nil = unlimited
	ReservedAt     time.Time `json:"reserved_at"`
}

// Charged records what the work cost; the rest of its reservation is
// released with it.
type Charged struct {
	ReservationID  string      `json:"reservation_id"`
	ConversationID string      `json:"conversation_id"`
	APIKeyID       string      `json:"api_key_id"`
	WorkspaceID    string      `json:"workspace_id"`
	UserID         string      `json:"user_id"`
	Period         string      `json:"period"`
	CauseKind      string      `json:"cause_kind"`
	CauseRef       string      `json:"cause_ref"`
	Model          string      `json:"model,omitempty"`
	Usage          agent.Usage `json:"usage"`
	Amount         MicroUSD    `json:"amount_microusd"`
	ChargedAt      time.Time   `json:"charged_at"`
}

// Released gives a reservation back unused (the work failed or never ran).
type Released struct {
	ReservationID string    `json:"reservation_id"`
	Reason        string    `json:"reason"`
	ReleasedAt    time.Time `json:"released_at"`
}

func (Reserved) EventType() string { return "BudgetReserved" }
func (Charged) EventType() string  { return "ChargeRecorded" }
func (Released) EventType() string { return "BudgetReleased" }

// Events decodes this aggregate's facts.
var Events = es.Registry{
	"BudgetReserved": func() es.Fact { return &Reserved{} },
	"ChargeRecorded": func() es.Fact { return &Charged{} },
	"BudgetReleased": func() es.Fact { return &Released{} },
}

// Budget is one key's spending in one period, folded from its stream.
type Budget struct {
	Spent       MicroUSD
	Outstanding MicroUSD
	Open        map[string]Reserved // reservations neither charged nor released
	Settled     map[string]bool
	Charges     int
}

// Apply folds one fact.
func (b *Budget) Apply(f es.Fact) {
	if b.Open == nil {
		b.Open, b.Settled = map[string]Reserved{}, map[string]bool{}
	}
	switch e := f.(type) {
	case *Reserved:
		b.Open[e.ReservationID] = *e
		b.Outstanding += e.Amount
	case *Charged:
		b.settle(e.ReservationID)
		b.Spent += e.Amount
		b.Charges++
	case *Released:
		b.settle(e.ReservationID)
	}
}

// settle closes a reservation: what it held no longer counts as
// outstanding, and it is never charged or released again.
func (b *Budget) settle(id string) {
	if r, ok := b.Open[id]; ok {
		b.Outstanding -= r.Amount
		delete(b.Open, id)
	}
	b.Settled[id] = true
}

// ExceededError says a budget cannot cover more work.
type ExceededError struct {
	Spent, Budget MicroUSD
	Needed        MicroUSD
	Period        Period
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("This key has spent %s of its %s %s budget; %s.",
		e.Spent.Dollars(), e.Budget.Dollars(), e.Period.Kind, e.Period.ResetsAt())
}

// ErrNothingToDo marks a reservation already settled or unknown.
var ErrNothingToDo = errors.New("nothing to do")

// CanAccept decides whether a new message may start: not when the spend
// (with what is set aside) has reached the budget.
func (b *Budget) CanAccept(budgetCents *int64, p Period) error {
	if budgetCents == nil {
		return nil
	}
	limit := FromCents(*budgetCents)
	if b.Spent+b.Outstanding >= limit {
		return &ExceededError{Spent: b.Spent, Budget: limit, Period: p}
	}
	return nil
}

// Reserve decides setting money aside; it refuses when the budget would be
// exceeded by the worst case, which keeps recorded spend within budget.
func (b *Budget) Reserve(r Reserved, p Period) ([]es.Fact, error) {
	if r.BudgetCents != nil {
		limit := FromCents(*r.BudgetCents)
		if b.Spent+b.Outstanding+r.Amount > limit {
			return nil, &ExceededError{Spent: b.Spent, Budget: limit, Needed: r.Amount, Period: p}
		}
	}
	return []es.Fact{&r}, nil
}

// Charge decides the charge of a reservation. The amount never exceeds
// what was reserved: the reservation was the worst case, so a larger
// figure is a provider's miscount, and the budget promise wins.
func (b *Budget) Charge(c Charged) ([]es.Fact, error) {
	r, ok := b.Open[c.ReservationID]
	if !ok {
		return nil, ErrNothingToDo
	}
	if c.Amount > r.Amount {
		c.Amount = r.Amount
	}
	if c.Amount < 0 {
		c.Amount = 0
	}
	return []es.Fact{&c}, nil
}

// Release decides giving an unused reservation back.
func (b *Budget) Release(id, reason string, now time.Time) ([]es.Fact, error) {
	if _, ok := b.Open[id]; !ok {
		return nil, ErrNothingToDo
	}
	return []es.Fact{&Released{ReservationID: id, Reason: reason, ReleasedAt: now}}, nil
}
