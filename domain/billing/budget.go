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
	CauseModelStep   = "model_step"
	CauseToolCall    = "tool_call"
	CauseMcpToolCall = "mcp_tool_call" // a call made over MCP by a caller's own agent
)

// Reserved sets money aside for work about to run, before it runs.
type Reserved struct {
	ReservationID  string `json:"reservation_id"`
	ConversationID string `json:"conversation_id"`
	CauseKind      string `json:"cause_kind"`
	CauseRef       string `json:"cause_ref"` // "step 3", "tool call 2.1"
	// Turn is the conversation turn the work is for (0 in reservations
	// from before follow-ups: the first), so that settling a turn's end
	// gives back its reservations and not those of a turn begun since.
	Turn        int       `json:"turn,omitempty"`
	Amount      MicroUSD  `json:"amount_microusd"`
	BudgetCents *int64    `json:"budget_usd_cents"` // the budget in force, nil = unlimited
	ReservedAt  time.Time `json:"reserved_at"`
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
	// Mode is "test" for a test key's work, reported apart from live
	// spend; empty is live.
	Mode string `json:"mode,omitempty"`
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
var Events = es.Registered(es.Of[Reserved], es.Of[Charged], es.Of[Released])

// Budget is one key's spending in one period, folded from its stream. It
// keeps sums and the reservations still open, nothing about settled ones:
// what it holds is bounded by the work running at once, never by how many
// conversations the key has had, so deciding on it costs the same on the
// first day of a period and on the last. Whether a charge or a release was
// already recorded is decided by the reservation no longer being open.
type Budget struct {
	Spent       MicroUSD
	Outstanding MicroUSD
	Open        map[string]Reserved // reservations neither charged nor released
	Charges     int
}

// Apply folds one fact.
func (b *Budget) Apply(f es.Fact) {
	if b.Open == nil {
		b.Open = map[string]Reserved{}
	}
	switch e := f.(type) {
	case *Reserved:
		// Reserve refuses an id that is open, so a stream never holds
		// the same open id twice; streams from before that rule count it
		// twice, as the billing read model does.
		b.Open[e.ReservationID] = *e
		b.Outstanding += e.Amount
	case *Charged:
		b.close(e.ReservationID)
		b.Spent += e.Amount
		b.Charges++
	case *Released:
		b.close(e.ReservationID)
	}
}

// close ends a reservation: what it held no longer counts as outstanding.
func (b *Budget) close(id string) {
	if r, ok := b.Open[id]; ok {
		b.Outstanding -= r.Amount
		delete(b.Open, id)
	}
}

// Clone copies the budget so a batch of decisions can be tried on the copy
// and dropped if its append loses a race. It costs the open reservations,
// which are as many as the pieces of work running at once.
func (b Budget) Clone() Budget {
	out := b
	out.Open = make(map[string]Reserved, len(b.Open))
	for k, v := range b.Open {
		out.Open[k] = v
	}
	return out
}

// ExceededError says a budget cannot cover more work.
type ExceededError struct {
	Spent, Budget MicroUSD
	Needed        MicroUSD
	Period        Period
	// Waited is how long the work waited for running work to give budget
	// back before it gave up (0: it did not wait).
	Waited time.Duration
}

func (e *ExceededError) Error() string {
	if e.Waited > 0 {
		return fmt.Sprintf("This key has spent %s of its %s %s budget, and what running conversations had set aside "+
			"was not given back within %s; %s.", e.Spent.Dollars(), e.Budget.Dollars(), e.Period.Kind,
			e.Waited.Round(time.Second), e.Period.ResetsAt())
	}
	if e.Needed > 0 && e.Spent < e.Budget {
		return fmt.Sprintf("This key has spent %s of its %s %s budget; what is left cannot pay for the next step "+
			"(it needs up to %s); %s.", e.Spent.Dollars(), e.Budget.Dollars(), e.Period.Kind, e.Needed.Dollars(), e.Period.ResetsAt())
	}
	return fmt.Sprintf("This key has spent %s of its %s %s budget; %s.",
		e.Spent.Dollars(), e.Budget.Dollars(), e.Period.Kind, e.Period.ResetsAt())
}

// ErrNothingToDo marks a reservation already settled or unknown.
var ErrNothingToDo = errors.New("nothing to do")

// ErrMustWait says a reservation does not fit now but will once running
// work gives back what it set aside: committed spend alone leaves room.
var ErrMustWait = errors.New("the budget is held by running work; wait for it")

// CanAccept decides whether a new message may start: not when what the
// committed spend leaves of the budget cannot pay for the first model step
// (firstStep, the reservation that step needs). Reservations of running
// work do not count here: they are given back as that work ends, and the
// new conversation waits for them rather than fail.
func (b *Budget) CanAccept(budgetCents *int64, p Period, firstStep MicroUSD) error {
	if budgetCents == nil {
		return nil
	}
	limit := FromCents(*budgetCents)
	if b.Spent+max(firstStep, 1) > limit {
		return &ExceededError{Spent: b.Spent, Budget: limit, Needed: firstStep, Period: p}
	}
	return nil
}

// Reserve decides setting money aside. It never lets committed spend plus
// open reservations pass the budget, which keeps recorded spend within it:
// a reservation that does not fit fails when committed spend alone leaves
// no room for it (*ExceededError), and must wait (ErrMustWait) while the
// room is only held by other reservations. A reservation already open is
// ErrNothingToDo: a repeated command reuses it.
func (b *Budget) Reserve(r Reserved, p Period) ([]es.Fact, error) {
	if _, open := b.Open[r.ReservationID]; open {
		return nil, ErrNothingToDo
	}
	if r.BudgetCents != nil {
		limit := FromCents(*r.BudgetCents)
		if b.Spent+r.Amount > limit {
			return nil, &ExceededError{Spent: b.Spent, Budget: limit, Needed: r.Amount, Period: p}
		}
		if b.Spent+b.Outstanding+r.Amount > limit {
			return nil, ErrMustWait
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
