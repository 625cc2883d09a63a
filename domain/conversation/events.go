package conversation

import (
	"encoding/json"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/namedagent"
)

// Opened is the first fact of a conversation: a caller's message was accepted.
type Opened struct {
	ConversationID string          `json:"conversation_id"`
	WorkspaceID    string          `json:"workspace_id"`
	UserID         string          `json:"user_id"`
	APIKeyID       string          `json:"api_key_id"`
	Message        string          `json:"message"`
	Context        *Context        `json:"context,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	// ResponseURL is the key's webhook target when the message was accepted;
	// later changes to the key do not redirect this conversation's reply.
	ResponseURL string    `json:"response_url,omitempty"`
	OpenedAt    time.Time `json:"opened_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// IdempotencyKey is the caller's Idempotency-Key header, when sent: a
	// resend with the same key finds this conversation instead of opening
	// another (its id is derived from the API key and this value).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Mode is "test" when a test API key opened the conversation: its
	// tools work in the workspace's sandbox. Empty is live.
	Mode string `json:"mode,omitempty"`
	// Agent is the named agent the conversation runs with, as it was when
	// the message arrived (later edits never change it); nil: the default.
	Agent *AgentRun `json:"agent,omitempty"`
	// System is the caller's extra system text for this conversation.
	System string `json:"system,omitempty"`
}

// AgentRun is a named agent as a conversation runs with it.
type AgentRun struct {
	ID      string            `json:"id"`
	Slug    string            `json:"slug"`
	Version int64             `json:"version"`
	Config  namedagent.Config `json:"config"`
}

// ProcessingStarted records that the agent picked the conversation up.
type ProcessingStarted struct {
	StartedAt time.Time `json:"started_at"`
}

// ModelStepStarted claims a model step before the model is called, so a
// duplicate command (or the reaper) does not call the model a second time
// while the first call runs.
type ModelStepStarted struct {
	Step      int       `json:"step"`
	StartedAt time.Time `json:"started_at"`
	// Owner is the instance that claimed the step (its id changes at each
	// start): a claim whose owner is no longer alive is taken over at once
	// instead of waiting out the lease. Older claims name none.
	Owner string `json:"owner,omitempty"`
}

// ModelStepCompleted records one call to the language model and its answer.
// Tool calls it asked for follow as ToolCallRequested facts in the same append.
type ModelStepCompleted struct {
	Step         int         `json:"step"`
	Model        string      `json:"model"`
	Content      string      `json:"content,omitempty"`
	FinishReason string      `json:"finish_reason,omitempty"`
	Usage        agent.Usage `json:"usage"`
	LatencyMS    int64       `json:"latency_ms"`
	CompletedAt  time.Time   `json:"completed_at"`
	// Charge says what the step costs and which budget reservation pays.
	Charge *Charge `json:"charge,omitempty"`
}

// Charge links a step or a tool call to the budget reservation that pays
// for it; the billing saga turns it into a ChargeRecorded.
type Charge struct {
	ReservationID  string `json:"reservation_id"`
	Period         string `json:"period"` // the budget period the reservation belongs to
	AmountMicroUSD int64  `json:"amount_microusd"`
}

// Amount is what the charge costs; no charge (events recorded before
// budgets) costs nothing.
func (c *Charge) Amount() int64 {
	if c == nil {
		return 0
	}
	return c.AmountMicroUSD
}

// ToolCallRequested records one tool call the model asked for. Key is the
// gateway's own id for the call ("<step>.<index>"), unique in the
// conversation even when a model reuses its call ids; side effects derive
// their ids from it.
type ToolCallRequested struct {
	Key       string          `json:"key"`
	Step      int             `json:"step"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolCallCompleted records a tool's result (as the model will read it).
type ToolCallCompleted struct {
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Result      string    `json:"result"`
	IsError     bool      `json:"is_error,omitempty"`
	Truncated   bool      `json:"truncated,omitempty"`
	DurationMS  int64     `json:"duration_ms"`
	CompletedAt time.Time `json:"completed_at"`
	Charge      *Charge   `json:"charge,omitempty"`
}

// Resolved records the agent's final reply.
type Resolved struct {
	Reply string `json:"reply"`
	// Outcome (agent.Outcome*) and Candidates tell a script how the
	// request ended; events recorded before they existed have neither.
	Outcome    string            `json:"outcome,omitempty"`
	Candidates []agent.Candidate `json:"candidates,omitempty"`
	ResolvedAt time.Time         `json:"resolved_at"`
}

// ModelStepDiscarded records a model step whose answer came back after the
// conversation was cancelled: it was not acted on.
type ModelStepDiscarded struct {
	Step        int         `json:"step"`
	Model       string      `json:"model"`
	Usage       agent.Usage `json:"usage"`
	LatencyMS   int64       `json:"latency_ms"`
	DiscardedAt time.Time   `json:"discarded_at"`
}

// Failed records that the conversation ended without a reply.
type Failed struct {
	Code     string    `json:"code"`
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failed_at"`
}

func (Opened) EventType() string             { return "ConversationOpened" }
func (ProcessingStarted) EventType() string  { return "ConversationProcessingStarted" }
func (ModelStepStarted) EventType() string   { return "ModelStepStarted" }
func (ModelStepCompleted) EventType() string { return "ModelStepCompleted" }
func (ToolCallRequested) EventType() string  { return "ToolCallRequested" }
func (ToolCallCompleted) EventType() string  { return "ToolCallCompleted" }
func (Resolved) EventType() string           { return "ConversationResolved" }
func (Failed) EventType() string             { return "ConversationFailed" }
func (ModelStepDiscarded) EventType() string { return "ModelStepDiscarded" }

// Events decodes this aggregate's facts.
var Events = es.Registered(
	es.Of[Opened], es.Of[ProcessingStarted], es.Of[ModelStepStarted], es.Of[ModelStepCompleted],
	es.Of[ToolCallRequested], es.Of[ToolCallCompleted], es.Of[Resolved], es.Of[Failed], es.Of[ModelStepDiscarded], es.Of[FollowUpReceived],
)
