// Package agent holds the shapes a tool-calling language model speaks: the
// transcript going in, the text and tool calls coming out, and token usage.
// They are the gateway's own types so that the offline model, the
// OpenAI-compatible adapter and the recorded events all share one vocabulary.
package agent

import (
	"encoding/json"
	"time"
)

// Role of a transcript message.
type Role string

const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one entry of the transcript sent to the model.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content,omitempty"`
	// ToolCalls are set on assistant messages that asked for tools.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID and Name are set on tool messages: the result of that call.
	ToolCallID string `json:"tool_call_id,omitempty"`
	Name       string `json:"name,omitempty"`
}

// ToolCall is the model asking for one tool to run.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolSpec describes a tool to the model: a name, a description written for
// a model, and a JSON schema of its arguments.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// Usage counts the tokens one model call consumed.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// Request is everything one model step needs.
type Request struct {
	System    string     `json:"system"`
	Messages  []Message  `json:"messages"`
	Tools     []ToolSpec `json:"tools"`
	MaxTokens int        `json:"max_tokens,omitempty"`
	// Model and Temperature, when set, are a named agent's: the model to
	// ask (instead of the configured one) and its sampling temperature.
	Model       string   `json:"model,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	// Now is when the caller's current message arrived: "by Friday" and
	// "in 3 days" are read from it, so a replayed step reads them alike.
	Now time.Time `json:"now,omitzero"`
}

// Response is what one model step produced: text, tool calls, or both.
type Response struct {
	Model        string     `json:"model"`
	Content      string     `json:"content,omitempty"`
	ToolCalls    []ToolCall `json:"tool_calls,omitempty"`
	FinishReason string     `json:"finish_reason,omitempty"`
	Usage        Usage      `json:"usage"`
	// Outcome and Candidates say, for a final reply, how the request ended
	// (see Outcome*); empty means completed.
	Outcome    string      `json:"outcome,omitempty"`
	Candidates []Candidate `json:"candidates,omitempty"`
}

// Outcomes of a final reply, so a script can tell "done" from "I could
// not" without reading prose.
const (
	// OutcomeCompleted: everything asked was done (a search that found
	// nothing is done too).
	OutcomeCompleted = "completed"
	// OutcomePartial: some steps of the request were done, then one was not.
	OutcomePartial = "partially_completed"
	// OutcomeNeedsClarification: nothing more was done because the request
	// left a choice open (several records match a name, a detail is
	// missing); Candidates lists the records to choose from.
	OutcomeNeedsClarification = "needs_clarification"
	// OutcomeNotUnderstood: the request was not understood; nothing was done.
	OutcomeNotUnderstood = "not_understood"
	// OutcomeCouldNotComplete: the request was understood but could not be
	// carried out (a tool failed or is not allowed).
	OutcomeCouldNotComplete = "could_not_complete"
)

// ValidOutcome reports whether s is one of the outcomes.
func ValidOutcome(s string) bool {
	switch s {
	case OutcomeCompleted, OutcomePartial, OutcomeNeedsClarification, OutcomeNotUnderstood, OutcomeCouldNotComplete:
		return true
	}
	return false
}

// Candidate is one record a caller can choose from when a request was
// ambiguous: answer with its id (context.entity_id) or a follow-up.
type Candidate struct {
	Kind    string `json:"kind"` // contact, task, document, team
	ID      string `json:"id"`
	Name    string `json:"name"`
	Company string `json:"company,omitempty"`
	Email   string `json:"email,omitempty"`
}
