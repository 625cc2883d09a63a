package conversation

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// FollowUpReceived records a caller's further message in a conversation
// that had ended its previous turn: the conversation is open again, and
// the agent answers it with everything said before in view.
type FollowUpReceived struct {
	Turn int `json:"turn"`
	// FirstStep is the number the turn's first model step takes: step
	// numbers run on across turns, and one abandoned by a cancel is never
	// reused, so a late answer to it cannot be taken for this turn's.
	FirstStep  int             `json:"first_step"`
	APIKeyID   string          `json:"api_key_id"`
	Message    string          `json:"message"`
	Context    *Context        `json:"context,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
	// ExpiresAt moves on: a conversation can be read and continued for
	// Lifetime after its latest user turn.
	ExpiresAt      time.Time `json:"expires_at"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
}

func (FollowUpReceived) EventType() string { return "ConversationFollowUpReceived" }

// ErrBusy refuses a follow-up while the agent still works on the latest turn.
var ErrBusy = errors.New("the agent is still working on this conversation's latest message")

// GoneError refuses a follow-up to a conversation that expired.
type GoneError struct {
	ID        string
	ExpiredAt time.Time
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("conversation %s expired at %s; conversations can be continued for %s after their latest message",
		e.ID, e.ExpiredAt.UTC().Format(time.RFC3339), Lifetime)
}

// FollowUpParams are the inputs of a follow-up.
type FollowUpParams struct {
	APIKeyID       string
	Message        string
	Context        *Context
	Metadata       json.RawMessage
	IdempotencyKey string
	Now            time.Time
}

// FollowUp decides a further user turn: only once the latest turn has
// ended, and only before the conversation expires.
func (c *Conversation) FollowUp(p FollowUpParams) ([]es.Fact, error) {
	if !c.Exists() {
		return nil, ErrNothingToDo
	}
	if err := ValidateMessage(p.Message); err != nil {
		return nil, err
	}
	if err := ValidateContext(p.Context); err != nil {
		return nil, err
	}
	if !p.Now.Before(c.ExpiresAt) {
		return nil, &GoneError{ID: c.ID, ExpiredAt: c.ExpiresAt}
	}
	if !c.Status.Terminal() {
		return nil, ErrBusy
	}
	first := max(c.LastStep, c.LastClaimed, c.InFlight, c.Abandoned) + 1
	return []es.Fact{&FollowUpReceived{Turn: c.Turn + 1, FirstStep: first, APIKeyID: p.APIKeyID,
		Message: p.Message, Context: normalContext(p.Context), Metadata: p.Metadata,
		ReceivedAt: p.Now, ExpiresAt: p.Now.Add(Lifetime), IdempotencyKey: p.IdempotencyKey}}, nil
}

// FollowUpFor finds the follow-up a resend with this Idempotency-Key
// repeats; same says whether the resend asks for the same thing.
func (c *Conversation) FollowUpFor(key string, p FollowUpParams) (f FollowUpReceived, found, same bool) {
	if key == "" {
		return f, false, false
	}
	f, found = c.FollowUps[key]
	if !found {
		return f, false, false
	}
	var none Context
	mine, theirs := normalContext(f.Context), normalContext(p.Context)
	same = f.APIKeyID == p.APIKeyID && f.Message == p.Message &&
		*cmp.Or(mine, &none) == *cmp.Or(theirs, &none) && sameJSON(f.Metadata, p.Metadata)
	return f, true, same
}

// applyFollowUp opens the conversation again for the new turn. What the
// previous turn left unanswered is closed in the transcript first, so the
// model reads a well-formed history: a tool call it asked for that never
// ran says so, and a turn that failed says why.
func (c *Conversation) applyFollowUp(e *FollowUpReceived) {
	for _, key := range c.Pending {
		req := c.Requested[key]
		c.Transcript = append(c.Transcript, agent.Message{Role: agent.RoleTool, ToolCallID: req.CallID, Name: req.Name,
			Content: `{"error": "not run: the request ended before this tool call ran"}`})
	}
	if n := len(c.Transcript); n > 0 {
		// A step that ended the turn with neither words nor tool calls (an
		// empty answer, a tool call limit) leaves an assistant message
		// with nothing in it, which chat APIs refuse: it goes.
		if last := c.Transcript[n-1]; last.Role == agent.RoleAssistant && strings.TrimSpace(last.Content) == "" && len(last.ToolCalls) == 0 {
			c.Transcript = c.Transcript[:n-1]
		}
	}
	if c.Status == StatusFailed && c.Failure != nil {
		c.Transcript = append(c.Transcript, agent.Message{Role: agent.RoleAssistant,
			Content: "I could not finish that request: " + c.Failure.Reason})
	}
	c.Transcript = append(c.Transcript, userMessage(e.Message, e.Context, e.Metadata))
	c.Pending = nil
	c.Status, c.Reply, c.Failure, c.EndedAt = StatusOpen, "", nil, time.Time{}
	c.Outcome, c.Candidates = "", nil
	c.InFlight = 0
	c.LastStep = e.FirstStep - 1
	c.Turn, c.TurnStartedAt, c.ExpiresAt, c.TurnKeyID = e.Turn, e.ReceivedAt, e.ExpiresAt, e.APIKeyID
	c.turnSteps, c.turnToolCalls = c.Steps, c.ToolCalls
	c.failSig, c.failRun, c.failLast = "", 0, ""
	c.LastProgressAt = e.ReceivedAt
	if e.IdempotencyKey != "" {
		if c.FollowUps == nil {
			c.FollowUps = map[string]FollowUpReceived{}
		}
		c.FollowUps[e.IdempotencyKey] = *e
	}
}
