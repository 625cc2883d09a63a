// Package mcpcall is the record of one tool call a caller's own agent made
// over the MCP server: what was asked, with which key, and what came of
// it. Each call is a stream of its own (so recording one never waits on
// another), correlated with everything it caused (the records it wrote,
// its budget reservation and charge), in the same hash-chained log as
// conversations.
package mcpcall

import (
	"encoding/json"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Stream names a call's stream.
func Stream(id string) string { return "mcpcall-" + id }

// Codes of refused calls.
const (
	CodeBudget           = "BUDGET_EXCEEDED"
	CodeNotAllowed       = "TOOL_NOT_ALLOWED"
	CodeInvalidArguments = "INVALID_ARGUMENTS"
	CodeKeyUnusable      = "KEY_REVOKED"
	// CodeInterrupted closes a call the gateway stopped in the middle of.
	CodeInterrupted = "INTERRUPTED"
)

// Requested records a call as it arrived.
type Requested struct {
	CallID      string          `json:"call_id"`
	WorkspaceID string          `json:"workspace_id"`
	UserID      string          `json:"user_id"`
	APIKeyID    string          `json:"api_key_id"`
	Tool        string          `json:"tool"`
	Arguments   json.RawMessage `json:"arguments"`
	RequestedAt time.Time       `json:"requested_at"`
	// Mode is "test" for a call with a test API key: the tool works in
	// the workspace's sandbox. Empty is live.
	Mode string `json:"mode,omitempty"`
}

// Completed records what the tool returned (as the caller read it) and
// what the call was charged.
type Completed struct {
	Result      string               `json:"result"`
	IsError     bool                 `json:"is_error,omitempty"`
	Truncated   bool                 `json:"truncated,omitempty"`
	DurationMS  int64                `json:"duration_ms"`
	CompletedAt time.Time            `json:"completed_at"`
	Charge      *conversation.Charge `json:"charge,omitempty"`
}

// Refused records a call that did not run: the key may not use the tool,
// its budget cannot pay, or the arguments do not fit the tool.
type Refused struct {
	APIKeyID  string    `json:"api_key_id"`
	Code      string    `json:"code"`
	Reason    string    `json:"reason"`
	RefusedAt time.Time `json:"refused_at"`
}

func (Requested) EventType() string { return "McpToolCallRequested" }
func (Completed) EventType() string { return "McpToolCallCompleted" }
func (Refused) EventType() string   { return "McpToolCallRefused" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Requested], es.Of[Completed], es.Of[Refused])

// Call is the state folded from a call's stream.
type Call struct {
	Requested *Requested
	Completed *Completed
	Done      bool
}

// Apply folds one fact.
func (c *Call) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Requested:
		c.Requested = e
	case *Completed:
		c.Completed, c.Done = e, true
	case *Refused:
		c.Done = true
	}
}

// Interrupt decides closing a call that never finished (its gateway
// stopped mid-call): nothing more comes of it, and it is not charged.
func (c *Call) Interrupt(now time.Time) []es.Fact {
	if c.Requested == nil || c.Done {
		return nil
	}
	return []es.Fact{&Refused{APIKeyID: c.Requested.APIKeyID, Code: CodeInterrupted, RefusedAt: now,
		Reason: "The gateway stopped before this call finished; it was not charged, and whatever it did is in its history."}}
}
