// Package conversation is the aggregate at the heart of the gateway: one
// caller message, the agent's steps on it, and how it ended. Every decision
// of the agent loop (may another model step run? is this tool call still
// pending? did a cap trip?) is taken here from the folded events alone.
package conversation

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/namedagent"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Stream names a conversation's stream.
func Stream(id string) string { return "conversation-" + id }

// Status is where a conversation is in its life.
type Status string

const (
	StatusOpen       Status = "open"
	StatusProcessing Status = "processing"
	StatusResolved   Status = "resolved"
	StatusFailed     Status = "failed"
)

// Terminal reports whether nothing more will happen.
func (s Status) Terminal() bool { return s == StatusResolved || s == StatusFailed }

// Contract limits.
const (
	MaxMessageChars = 10000
	MaxHintChars    = 200
	Lifetime        = 24 * time.Hour
	// MaxToolResultBytes is how much of a tool's result the conversation keeps
	// (and the model reads); the entity streams keep the full facts.
	MaxToolResultBytes = 16 * 1024
)

// Failure codes a failed conversation carries.
const (
	CodeStepLimit     = "STEP_LIMIT"
	CodeToolCallLimit = "TOOL_CALL_LIMIT"
	CodeModelError    = "MODEL_ERROR"
	CodeEmptyReply    = "EMPTY_REPLY"
	CodeStalled       = "STALLED"
	CodeTimeLimit     = "TIME_LIMIT"
	CodeBudget        = "BUDGET_EXCEEDED"
	CodeCancelled     = "CANCELLED"
	// CodeOutputLimit: the model's answer was cut off at its output limit.
	CodeOutputLimit = "OUTPUT_LIMIT"
	// CodeContentFilter: the model's provider withheld its answer.
	CodeContentFilter = "CONTENT_FILTERED"
	// CodeRepeatedFailure: the same tool call failed again and again.
	CodeRepeatedFailure = "REPEATED_TOOL_FAILURE"
)

// MaxSameFailures is how often the same tool call (same tool, same
// arguments) may fail in a row before the turn stops: a model that keeps
// retrying what cannot work only burns steps and budget.
const MaxSameFailures = 3

// Context holds the caller's optional hints.
type Context struct {
	EntityType string `json:"entity_type,omitempty"`
	EntityID   string `json:"entity_id,omitempty"`
	Action     string `json:"action,omitempty"`
}

// Limits cap one conversation's work.
type Limits struct {
	MaxSteps     int
	MaxToolCalls int
	// MaxDuration bounds the wall time from acceptance to the last model
	// step (0: no bound).
	MaxDuration time.Duration
}

// DefaultLimits are used when none are configured.
var DefaultLimits = Limits{MaxSteps: 16, MaxToolCalls: 32, MaxDuration: 10 * time.Minute}

// Conversation is the state folded from a conversation's stream.
type Conversation struct {
	ID, WorkspaceID, UserID, APIKeyID string
	Message                           string
	Context                           *Context
	Metadata                          json.RawMessage
	ResponseURL                       string
	// Mode is "test" for a conversation a test key opened (its tools
	// work in the sandbox), "" for live.
	Mode string
	// Agent and System are the named agent and the caller's extra system
	// text the conversation runs with, from its first event.
	Agent               *AgentRun
	System              string
	Status              Status
	OpenedAt, ExpiresAt time.Time
	EndedAt             time.Time
	// Steps counts the model steps completed; LastStep is the number of
	// the latest step completed or passed over (step numbers run on
	// across turns, so every step and tool call key is unique).
	Steps, LastStep int
	// LastClaimed is the highest step number ever claimed or discarded: a
	// follow-up numbers its steps after it.
	LastClaimed int
	ToolCalls   int
	// Turn is the number of the caller's latest message (1: the one that
	// opened the conversation; each follow-up adds one). The limits apply
	// per turn, from what the counters held when it began.
	Turn          int
	TurnStartedAt time.Time
	turnSteps     int
	turnToolCalls int
	// TurnKeyID is the key the latest turn came with (a follow-up may come
	// with another key of the caller's than the one that opened it).
	TurnKeyID string
	// failSig is the latest failed tool call (tool and arguments), failRun
	// how often in a row it failed, failLast what it said the last time.
	failSig, failLast string
	failRun           int
	// FollowUps are the follow-ups by their Idempotency-Key, so that a
	// resend finds the turn the first one added.
	FollowUps map[string]FollowUpReceived
	Usage     agent.Usage
	// CostMicroUSD adds up what the steps and tool calls were charged.
	CostMicroUSD int64
	// Transcript is what the model has seen and said after the first user
	// message: assistant turns (with tool calls) and tool results.
	Transcript []agent.Message
	// Pending are the keys of requested tool calls without a result, in order.
	Pending   []string
	Requested map[string]ToolCallRequested
	Reply     string
	// Outcome and Candidates come with the reply (see Resolved).
	Outcome    string
	Candidates []agent.Candidate
	Failure    *Failed
	// InFlight is the model step claimed and not yet completed (0: none).
	// Abandoned is the step that was in flight when the conversation was
	// cancelled: its result, when it comes, is recorded as discarded.
	InFlight, Abandoned int
	InFlightSince       time.Time
	// InFlightOwner is the instance that claimed the step in flight ("" for
	// claims recorded before owners were).
	InFlightOwner string
	// LastProgressAt is when the last fact was recorded; the reaper uses it.
	LastProgressAt time.Time
	Version        int64
}

// Apply folds one fact into the state.
func (c *Conversation) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Opened:
		c.ID, c.WorkspaceID, c.UserID, c.APIKeyID = e.ConversationID, e.WorkspaceID, e.UserID, e.APIKeyID
		c.Message, c.Context, c.Metadata, c.ResponseURL = e.Message, e.Context, e.Metadata, e.ResponseURL
		c.Mode, c.Agent, c.System = e.Mode, e.Agent, e.System
		c.Status, c.OpenedAt, c.ExpiresAt = StatusOpen, e.OpenedAt, e.ExpiresAt
		c.Requested = map[string]ToolCallRequested{}
		c.LastProgressAt = e.OpenedAt
		c.Turn, c.TurnStartedAt, c.TurnKeyID = 1, e.OpenedAt, e.APIKeyID
	case *FollowUpReceived:
		c.applyFollowUp(e)
	case *ProcessingStarted:
		c.Status = StatusProcessing
		c.LastProgressAt = e.StartedAt
	case *ModelStepStarted:
		if c.Status == StatusOpen {
			c.Status = StatusProcessing
		}
		c.InFlight, c.InFlightSince, c.InFlightOwner = e.Step, e.StartedAt, e.Owner
		c.LastClaimed = max(c.LastClaimed, e.Step)
		c.LastProgressAt = e.StartedAt
	case *ModelStepCompleted:
		if c.Status == StatusOpen {
			c.Status = StatusProcessing
		}
		c.InFlight = 0
		c.Steps++
		c.LastStep = e.Step
		c.Usage.InputTokens += e.Usage.InputTokens
		c.Usage.OutputTokens += e.Usage.OutputTokens
		c.CostMicroUSD += e.Charge.Amount()
		c.Transcript = append(c.Transcript, agent.Message{Role: agent.RoleAssistant, Content: e.Content})
		c.LastProgressAt = e.CompletedAt
	case *ToolCallRequested:
		c.ToolCalls++
		c.Requested[e.Key] = *e
		c.Pending = append(c.Pending, e.Key)
		last := &c.Transcript[len(c.Transcript)-1]
		last.ToolCalls = append(last.ToolCalls, agent.ToolCall{ID: e.CallID, Name: e.Name, Arguments: e.Arguments})
	case *ToolCallCompleted:
		c.noteFailure(e)
		c.CostMicroUSD += e.Charge.Amount()
		c.Pending = remove(c.Pending, e.Key)
		c.Transcript = append(c.Transcript, agent.Message{
			Role: agent.RoleTool, ToolCallID: c.Requested[e.Key].CallID, Name: e.Name, Content: e.Result,
		})
		c.LastProgressAt = e.CompletedAt
	case *ModelStepDiscarded:
		c.Abandoned = 0
		c.LastClaimed = max(c.LastClaimed, e.Step)
	case *Resolved:
		c.InFlight = 0
		c.Status, c.Reply, c.EndedAt, c.LastProgressAt = StatusResolved, e.Reply, e.ResolvedAt, e.ResolvedAt
		c.Outcome, c.Candidates = e.Outcome, e.Candidates
	case *Failed:
		if e.Code == CodeCancelled {
			c.Abandoned = c.InFlight
		}
		c.InFlight = 0
		c.Status, c.Failure, c.EndedAt, c.LastProgressAt = StatusFailed, e, e.FailedAt, e.FailedAt
	}
}

// Clone copies the state deeply enough that folding more facts into the
// copy never changes the original: a fold kept between commands is handed
// out as clones.
func (c *Conversation) Clone() Conversation {
	out := *c
	out.Transcript = make([]agent.Message, len(c.Transcript))
	for i, m := range c.Transcript {
		m.ToolCalls = append([]agent.ToolCall(nil), m.ToolCalls...)
		out.Transcript[i] = m
	}
	out.Pending = append([]string(nil), c.Pending...)
	if c.FollowUps != nil {
		out.FollowUps = make(map[string]FollowUpReceived, len(c.FollowUps))
		for k, v := range c.FollowUps {
			out.FollowUps[k] = v
		}
	}
	if c.Requested != nil {
		out.Requested = make(map[string]ToolCallRequested, len(c.Requested))
		for k, v := range c.Requested {
			out.Requested[k] = v
		}
	}
	return out
}

func remove(keys []string, k string) []string {
	out := keys[:0:0]
	for _, x := range keys {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

// TurnKeys are the keys whose tool scopes bind the latest turn: the
// conversation's own (it pays) and the one the turn came with.
func (c *Conversation) TurnKeys() []string {
	if c.TurnKeyID == "" || c.TurnKeyID == c.APIKeyID {
		return []string{c.APIKeyID}
	}
	return []string{c.APIKeyID, c.TurnKeyID}
}

// Exists reports whether the conversation has been opened.
func (c *Conversation) Exists() bool { return c.ID != "" }

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

// OpenParams are the inputs of a new conversation.
type OpenParams struct {
	ConversationID, WorkspaceID, UserID, APIKeyID string
	Message                                       string
	Context                                       *Context
	Metadata                                      json.RawMessage
	ResponseURL                                   string
	IdempotencyKey                                string
	Mode                                          string // "test" or "" (live)
	Agent                                         *AgentRun
	System                                        string
	Now                                           time.Time
}

// ValidateMessage applies the contract's message rules.
func ValidateMessage(msg string) error {
	if strings.TrimSpace(msg) == "" {
		return &ValidationError{Field: "message", Reason: "is required and must not be blank"}
	}
	if n := utf8.RuneCountInString(msg); n > MaxMessageChars {
		return &ValidationError{Field: "message", Reason: fmt.Sprintf("must be at most %d characters; it has %d", MaxMessageChars, n)}
	}
	return nil
}

// ValidateContext applies the limits on the hints.
func ValidateContext(c *Context) error {
	if c == nil {
		return nil
	}
	for name, v := range map[string]string{"context.entity_type": c.EntityType, "context.entity_id": c.EntityID, "context.action": c.Action} {
		if utf8.RuneCountInString(v) > MaxHintChars {
			return &ValidationError{Field: name, Reason: fmt.Sprintf("must be at most %d characters", MaxHintChars)}
		}
	}
	return nil
}

// Open decides a new conversation.
func Open(p OpenParams) ([]es.Fact, error) {
	if err := ValidateMessage(p.Message); err != nil {
		return nil, err
	}
	if err := ValidateContext(p.Context); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(p.System) > namedagent.MaxSystem {
		return nil, &ValidationError{Field: "system", Reason: fmt.Sprintf("must be at most %d characters", namedagent.MaxSystem)}
	}
	p.Context = normalContext(p.Context)
	return []es.Fact{&Opened{
		ConversationID: p.ConversationID, WorkspaceID: p.WorkspaceID, UserID: p.UserID, APIKeyID: p.APIKeyID,
		Message: p.Message, Context: p.Context, Metadata: p.Metadata, ResponseURL: p.ResponseURL,
		OpenedAt: p.Now, ExpiresAt: p.Now.Add(Lifetime), IdempotencyKey: p.IdempotencyKey, Mode: p.Mode,
		Agent: p.Agent, System: p.System,
	}}, nil
}

// SameRequest reports whether p asks for what opened c: the same person,
// message, context hints and metadata (compared as JSON values, so key
// order and spacing do not matter). A resend under one Idempotency-Key
// must be the same request; anything else is the key reused by mistake.
func (c *Conversation) SameRequest(p OpenParams) bool {
	var none Context
	mine, theirs := normalContext(c.Context), normalContext(p.Context)
	sameContext := *cmp.Or(mine, &none) == *cmp.Or(theirs, &none)
	return c.UserID == p.UserID && c.APIKeyID == p.APIKeyID && c.Message == p.Message && sameContext &&
		sameJSON(c.Metadata, p.Metadata) && c.AgentSlug() == p.Agent.slug() && c.System == p.System
}

// normalContext drops a context without hints: it says nothing.
func normalContext(c *Context) *Context {
	if c != nil && *c == (Context{}) {
		return nil
	}
	return c
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b) || string(a)+string(b) == "null"
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// ErrNothingToDo means the requested work was already done or is not due:
// a duplicate or stale command, harmless to drop.
var ErrNothingToDo = errors.New("nothing to do")

// Next is the work a conversation is waiting for.
type Next struct {
	// ModelStep is the number of the model step to run next (0: none).
	ModelStep int
	// ToolCalls are the keys of tool calls waiting for a result.
	ToolCalls []string
}

// Next derives the pending work from the state alone, so a resumed loop
// knows exactly where it stopped.
func (c *Conversation) Next() Next {
	if !c.Exists() || c.Status.Terminal() {
		return Next{}
	}
	if len(c.Pending) > 0 {
		return Next{ToolCalls: append([]string(nil), c.Pending...)}
	}
	return Next{ModelStep: c.LastStep + 1}
}

// StartProcessing marks the conversation as being worked on.
func (c *Conversation) StartProcessing(now time.Time) []es.Fact {
	if c.Status != StatusOpen {
		return nil
	}
	return []es.Fact{&ProcessingStarted{StartedAt: now}}
}

// ClaimModelStep decides whether this worker may call the model for step
// n: not while another worker's claim on it is younger than lease (that
// call is still running). A stale claim (its worker died) is taken over.
func (c *Conversation) ClaimModelStep(n int, lease time.Duration, now time.Time, owner string, alive func(owner string) bool) ([]es.Fact, error) {
	next := c.Next()
	if next.ModelStep == 0 || next.ModelStep != n {
		return nil, ErrNothingToDo
	}
	if c.ClaimHeld(n, lease, now, alive) {
		return nil, ErrNothingToDo
	}
	// The first claim also marks the conversation as processing; the
	// separate ProcessingStarted of older streams said nothing more.
	return []es.Fact{&ModelStepStarted{Step: n, StartedAt: now, Owner: owner}}, nil
}

// ClaimHeld reports whether step n is claimed by someone still at it: the
// claim is within its lease and its owner is alive (a claim that names no
// owner, recorded before owners were, is held for the whole lease).
// alive nil counts every owner as alive.
func (c *Conversation) ClaimHeld(n int, lease time.Duration, now time.Time, alive func(owner string) bool) bool {
	if c.InFlight != n || now.Sub(c.InFlightSince) >= lease {
		return false
	}
	return c.InFlightOwner == "" || alive == nil || alive(c.InFlightOwner)
}

// AgentSlug is the slug of the named agent the conversation runs with, "".
func (c *Conversation) AgentSlug() string { return c.Agent.slug() }

func (a *AgentRun) slug() string {
	if a == nil {
		return ""
	}
	return a.Slug
}

// LimitsFor is lim with the named agent's own step limit where it is
// lower: an agent narrows the gateway's limits, never widens them.
func (c *Conversation) LimitsFor(lim Limits) Limits {
	if c.Agent != nil && c.Agent.Config.MaxSteps > 0 && (lim.MaxSteps == 0 || c.Agent.Config.MaxSteps < lim.MaxSteps) {
		lim.MaxSteps = c.Agent.Config.MaxSteps
	}
	return lim
}

// AllowsTool reports whether the conversation's named agent (if any)
// allows the tool.
func (c *Conversation) AllowsTool(tool string) bool {
	return c.Agent == nil || c.Agent.Config.Allows(tool)
}

// CheckModelStep decides whether model step n may run now. A step cap that
// trips ends the conversation: the returned facts say so.
func (c *Conversation) CheckModelStep(n int, lim Limits, now time.Time) ([]es.Fact, error) {
	next := c.Next()
	if next.ModelStep == 0 || next.ModelStep != n {
		return nil, ErrNothingToDo
	}
	if lim.MaxSteps > 0 && c.Steps-c.turnSteps >= lim.MaxSteps {
		return []es.Fact{&Failed{Code: CodeStepLimit, FailedAt: now,
			Reason: fmt.Sprintf("The agent stopped after %d model steps (the step limit) without finishing your request.", lim.MaxSteps)}}, nil
	}
	if c.failRun >= MaxSameFailures {
		return []es.Fact{&Failed{Code: CodeRepeatedFailure, FailedAt: now,
			Reason: fmt.Sprintf("The agent called %s with the same arguments %d times in a row and it failed each time, so it stopped rather than keep trying. The last error: %s",
				strings.SplitN(c.failSig, "\x00", 2)[0], c.failRun, c.failLast)}}, nil
	}
	if lim.MaxDuration > 0 && now.Sub(c.TurnStartedAt) >= lim.MaxDuration {
		return []es.Fact{&Failed{Code: CodeTimeLimit, FailedAt: now,
			Reason: fmt.Sprintf("The agent stopped after working for %s (the time limit) without finishing your request.", lim.MaxDuration)}}, nil
	}
	return nil, nil
}

// RecordModelStep decides the facts of a finished model step: the step, the
// tool calls it asked for, or the final reply.
func (c *Conversation) RecordModelStep(n int, resp agent.Response, latency time.Duration, charge *Charge, lim Limits, now time.Time) ([]es.Fact, error) {
	if facts, err := c.CheckModelStep(n, lim, now); err != nil || facts != nil {
		return facts, err
	}
	facts := []es.Fact{&ModelStepCompleted{
		Step: n, Model: resp.Model, Content: resp.Content, FinishReason: resp.FinishReason,
		Usage: resp.Usage, LatencyMS: latency.Milliseconds(), CompletedAt: now, Charge: charge,
	}}
	switch {
	case len(resp.ToolCalls) > 0:
		if lim.MaxToolCalls > 0 && c.ToolCalls-c.turnToolCalls+len(resp.ToolCalls) > lim.MaxToolCalls {
			return append(facts, &Failed{Code: CodeToolCallLimit, FailedAt: now,
				Reason: fmt.Sprintf("The agent asked for more than %d tool calls (the tool call limit) without finishing your request.", lim.MaxToolCalls)}), nil
		}
		for i, tc := range resp.ToolCalls {
			args := tc.Arguments
			if len(args) == 0 || !json.Valid(args) {
				// Keep the record valid JSON; the tool reports the bad input.
				args, _ = json.Marshal(string(tc.Arguments))
			}
			facts = append(facts, &ToolCallRequested{Key: fmt.Sprintf("%d.%d", n, i+1), Step: n, CallID: tc.ID, Name: tc.Name, Arguments: args})
		}
	case resp.FinishReason == "content_filter":
		facts = append(facts, &Failed{Code: CodeContentFilter, FailedAt: now,
			Reason: "The language model's provider withheld its answer (its content filter); nothing more was done."})
	case resp.FinishReason == "length":
		facts = append(facts, &Failed{Code: CodeOutputLimit, FailedAt: now,
			Reason: "The language model's answer was cut off at its output limit before it finished, so it is not given as the reply."})
	case strings.TrimSpace(resp.Content) == "":
		facts = append(facts, &Failed{Code: CodeEmptyReply, FailedAt: now,
			Reason: "The language model returned an empty answer."})
	default:
		outcome := resp.Outcome
		if !agent.ValidOutcome(outcome) {
			outcome = agent.OutcomeCompleted
		}
		facts = append(facts, &Resolved{Reply: strings.TrimSpace(resp.Content), Outcome: outcome,
			Candidates: resp.Candidates, ResolvedAt: now})
	}
	return facts, nil
}

// RecordToolResult decides the fact of a finished tool call.
func (c *Conversation) RecordToolResult(key, result string, isError bool, took time.Duration, charge *Charge, now time.Time) ([]es.Fact, error) {
	if c.Status.Terminal() {
		return nil, ErrNothingToDo
	}
	req, ok := c.Requested[key]
	if !ok || !contains(c.Pending, key) {
		return nil, ErrNothingToDo
	}
	result, truncated := TruncateResult(result)
	return []es.Fact{&ToolCallCompleted{Key: key, Name: req.Name, Result: result, IsError: isError,
		Truncated: truncated, DurationMS: took.Milliseconds(), CompletedAt: now, Charge: charge}}, nil
}

// TruncateResult keeps what a conversation (or an MCP call's record)
// holds of a tool's result: MaxToolResultBytes, cut on a character.
func TruncateResult(result string) (string, bool) {
	if len(result) <= MaxToolResultBytes {
		return result, false
	}
	cut := MaxToolResultBytes
	for cut > 0 && !utf8.RuneStart(result[cut]) {
		cut--
	}
	return result[:cut], true
}

// Fail decides an end without a reply.
func (c *Conversation) Fail(code, reason string, now time.Time) ([]es.Fact, error) {
	if !c.Exists() || c.Status.Terminal() {
		return nil, ErrNothingToDo
	}
	return []es.Fact{&Failed{Code: code, Reason: reason, FailedAt: now}}, nil
}

// ErrEnded refuses to change a conversation that has ended.
var ErrEnded = errors.New("the conversation has already ended")

// Cancel ends a running conversation at its caller's request: no further
// model step or tool call runs, and a model step in flight has its result
// discarded when it comes (DiscardModelStep).
func (c *Conversation) Cancel(now time.Time) ([]es.Fact, error) {
	if !c.Exists() {
		return nil, ErrNothingToDo
	}
	if c.Status.Terminal() {
		return nil, ErrEnded
	}
	return []es.Fact{&Failed{Code: CodeCancelled, FailedAt: now,
		Reason: "The conversation was cancelled at the caller's request; nothing more was done after that."}}, nil
}

// DiscardModelStep records the result of model step n that came back
// after the conversation was cancelled: what it used, and that nothing
// came of it.
func (c *Conversation) DiscardModelStep(n int, resp agent.Response, latency time.Duration, now time.Time) ([]es.Fact, error) {
	if c.Abandoned == 0 || c.Abandoned != n {
		return nil, ErrNothingToDo
	}
	return []es.Fact{&ModelStepDiscarded{Step: n, Model: resp.Model, Usage: resp.Usage, LatencyMS: latency.Milliseconds(),
		DiscardedAt: now}}, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// FirstUserMessage renders the caller's message, hints and metadata as the
// model reads them.
func (c *Conversation) FirstUserMessage() agent.Message {
	return userMessage(c.Message, c.Context, c.Metadata)
}

func userMessage(msg string, hints *Context, md json.RawMessage) agent.Message {
	var b strings.Builder
	b.WriteString(msg)
	if hints != nil {
		j, _ := json.Marshal(hints)
		b.WriteString("\nContext: ")
		b.Write(j)
	}
	if len(md) > 0 && string(md) != "{}" && string(md) != "null" {
		b.WriteString("\nMetadata: ")
		b.Write(md)
	}
	return agent.Message{Role: agent.RoleUser, Content: b.String()}
}

// ModelMessages is the whole transcript for the next model step. The
// results of a step's tool calls are recorded as they finish (parallel
// calls finish in any order); the model reads them in the order it asked.
func (c *Conversation) ModelMessages() []agent.Message {
	out := append([]agent.Message{c.FirstUserMessage()}, c.Transcript...)
	for i := 0; i < len(out); i++ {
		calls := out[i].ToolCalls
		if out[i].Role != agent.RoleAssistant || len(calls) < 2 {
			continue
		}
		j := i + 1
		for j < len(out) && out[j].Role == agent.RoleTool {
			j++
		}
		order := func(m agent.Message) int {
			for k, tc := range calls {
				if tc.ID == m.ToolCallID {
					return k
				}
			}
			return len(calls)
		}
		slices.SortStableFunc(out[i+1:j], func(a, b agent.Message) int { return order(a) - order(b) })
	}
	return out
}

// noteFailure keeps the run of one tool call failing the same way.
func (c *Conversation) noteFailure(e *ToolCallCompleted) {
	if !e.IsError {
		c.failSig, c.failRun, c.failLast = "", 0, ""
		return
	}
	req := c.Requested[e.Key]
	sig := req.Name + "\x00" + string(req.Arguments)
	if sig == c.failSig {
		c.failRun++
	} else {
		c.failSig, c.failRun = sig, 1
	}
	c.failLast = e.Result
}

// IsPending reports whether the tool call with this key awaits its result.
func (c *Conversation) IsPending(key string) bool { return contains(c.Pending, key) }
