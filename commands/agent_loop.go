package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/mcpcall"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// SystemPrompt tells the model how this gateway's agent behaves.
const SystemPrompt = `You are the agent of a business workspace (contacts, tasks, emails, documents, teams).
A system with no AI of its own sent you one plain-English request. Carry it out with the tools, then answer in a few sentences.
- Search before you act: look records up instead of guessing ids.
- To read (a search, a summary), if several records match, pick the best one and say which and why.
- To change (update, delete, send an email) a record found by name, act only if exactly one record matches;
  if several do, change nothing: list them (name, company, email, id) and ask which one.
- Never put words you did not understand into a field; say what you could not do instead.
- Confirm what you did with the facts: names, ids, dates.
- If the request cannot be done, say so plainly and why. Never invent data.
- A request with several steps: do them in order, carry each result into the next, and report every step.
- End your final reply with one last line "OUTCOME: <word>", the word being completed (all done),
  partially_completed (some steps done, then one not), needs_clarification (you ask the caller to choose or
  to give a missing detail), not_understood, or could_not_complete (understood, but a tool failed or is not allowed).`

// RunModelStep asks the model for step Step of a conversation.
type RunModelStep struct {
	ConversationID string `json:"conversation_id"`
	Step           int    `json:"step"`
}

// StartConversation runs a new conversation's first model step. It is
// RunModelStep for step 1 under a name of its own, so that workers can
// give a running conversation's next step priority over starting another.
type StartConversation struct {
	ConversationID string `json:"conversation_id"`
}

// StartConversation runs the first step (see the type).
func (h *Handler) StartConversation(ctx context.Context, cmd StartConversation) error {
	return h.RunModelStep(ctx, RunModelStep{ConversationID: cmd.ConversationID, Step: 1})
}

// ExecuteToolCall runs one requested tool call of a conversation.
type ExecuteToolCall struct {
	ConversationID string `json:"conversation_id"`
	Key            string `json:"key"`
}

// FailConversation ends a conversation that cannot go on.
type FailConversation struct {
	ConversationID string
	Code, Reason   string
}

func agentMeta(c *conversation.Conversation, cause string) es.Metadata {
	return es.Metadata{CorrelationID: c.ID, CausationID: cause, Actor: es.Actor{Kind: "agent"}}
}

// RunModelStep runs one model step. Duplicate or stale commands (the step
// already ran, tool calls still pending, the conversation ended) do
// nothing, so the command can be delivered any number of times.
func (h *Handler) RunModelStep(ctx context.Context, cmd RunModelStep) error {
	c, v, fresh, err := h.conversationForCommand(ctx, cmd.ConversationID)
	if err != nil {
		return err
	}
	stop, err := c.CheckModelStep(cmd.Step, c.LimitsFor(h.Limits), h.now())
	if errors.Is(err, conversation.ErrNothingToDo) && !fresh {
		// The cache may lag what another instance recorded: decide on the
		// stream before dropping the command.
		if c, v, err = h.loadConversation(ctx, cmd.ConversationID); err != nil {
			return err
		}
		fresh = true
		stop, err = c.CheckModelStep(cmd.Step, c.LimitsFor(h.Limits), h.now())
	}
	if errors.Is(err, conversation.ErrNothingToDo) {
		return nil
	}
	cause := fmt.Sprintf("step:%s:%d", c.ID, cmd.Step)
	if stop != nil {
		res, err := h.append(ctx, conversation.Stream(c.ID), v, agentMeta(c, cause), stop...)
		if err == nil {
			h.keep(c, res.Version, stop...)
		}
		return ignoreConflict(err)
	}
	// Claim the step before calling the model: a duplicate command, or the
	// reaper, finds the claim and leaves the running call alone. A model
	// that answers at once in process needs no claim: two workers running
	// the same step cost nothing, and the expected version lets one record.
	if _, instant := h.Model.(Instant); !instant {
		claim, err := c.ClaimModelStep(cmd.Step, h.stepLease(), h.now(), h.Instance, h.alive(ctx))
		if errors.Is(err, conversation.ErrNothingToDo) && !fresh {
			if c, v, err = h.loadConversation(ctx, cmd.ConversationID); err != nil {
				return err
			}
			claim, err = c.ClaimModelStep(cmd.Step, h.stepLease(), h.now(), h.Instance, h.alive(ctx))
		}
		if errors.Is(err, conversation.ErrNothingToDo) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := h.append(ctx, conversation.Stream(c.ID), v, agentMeta(c, cause), claim...)
		if err != nil {
			return ignoreConflict(err)
		}
		v = res.Version
		h.keep(c, v, claim...)
	}

	req := h.stepRequest(c)
	if req.Tools, err = h.scoped(ctx, req.Tools, c.TurnKeys()...); err != nil {
		return err
	}
	charge, err := h.reserve(ctx, c, billing.CauseModelStep, "step "+strconv.Itoa(cmd.Step), h.worstCase(req))
	var exceeded *billing.ExceededError
	if errors.As(err, &exceeded) {
		return h.budgetFailure(ctx, c, cause, exceeded)
	}
	if err != nil {
		return err
	}
	mctx := ctx
	if budget := h.callBudget(); budget > 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	began := time.Now()
	var resp agent.Response
	// The model call's span, named and described as the OpenTelemetry
	// gen-ai conventions say.
	mctx, span := h.tracer().Start(mctx, "chat "+h.modelOf(req), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", h.modelOf(req)),
			attribute.String("gen_ai.conversation.id", c.ID), attribute.Int("gateway.step", cmd.Step)))
	if sm, ok := h.Model.(Streamer); ok && h.Relay != nil {
		// Watchers of the conversation see the text as it is written.
		pub := newDeltaPublisher(h.Relay, c.ID, cmd.Step)
		resp, err = sm.CompleteStreaming(mctx, req, pub.add)
		pub.close()
	} else {
		resp, err = h.Model.Complete(mctx, req)
	}
	took := time.Since(began)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.String("gen_ai.response.model", resp.Model), attribute.Int("gen_ai.usage.input_tokens", resp.Usage.InputTokens),
			attribute.Int("gen_ai.usage.output_tokens", resp.Usage.OutputTokens))
	}
	span.End()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: the step runs again after restart
		}
		h.logger().Warn("model call failed", "conversation", c.ID, "step", cmd.Step, "err", err)
		reason := "The language model could not complete the request: " + err.Error()
		if errors.Is(mctx.Err(), context.DeadlineExceeded) {
			// Say which setting bounded the call, so an operator knows
			// what to raise for a slow model.
			reason += fmt.Sprintf(" (GATEWAY_MODEL_TIMEOUT is %s per attempt; the whole call, retries included, may take %s)", h.ModelTimeout, h.callBudget())
		}
		facts, ferr := c.Fail(conversation.CodeModelError, reason, h.now())
		if ferr != nil {
			return nil
		}
		res, err := h.append(ctx, conversation.Stream(c.ID), v, agentMeta(c, cause), facts...)
		if err == nil {
			h.keep(c, res.Version, facts...)
		}
		return ignoreConflict(err)
	}
	charge.AmountMicroUSD = int64(h.Prices.Cost(h.modelOf(req), resp.Usage))
	recorded := false
	turn := c.Turn
	err = retry(ctx, func() error {
		if c.Turn != turn {
			// The turn this step was for ended (a cancel) and a follow-up
			// began another: this answer belongs to neither.
			return nil
		}
		facts, err := c.RecordModelStep(cmd.Step, resp, took, charge, c.LimitsFor(h.Limits), h.now())
		discard := errors.Is(err, conversation.ErrNothingToDo)
		if discard {
			// Another worker recorded this step first, or the conversation
			// was cancelled while the model worked: then what the step used
			// is recorded, and that nothing came of it.
			facts, err = c.DiscardModelStep(cmd.Step, resp, took, h.now())
		}
		if errors.Is(err, conversation.ErrNothingToDo) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := h.append(ctx, conversation.Stream(c.ID), v, agentMeta(c, cause), facts...)
		if errors.Is(err, es.ErrConcurrency) {
			var lerr error
			if c, v, lerr = h.loadConversation(ctx, cmd.ConversationID); lerr != nil {
				return lerr
			}
		}
		if err == nil {
			h.keep(c, res.Version, facts...)
		}
		recorded = err == nil && !discard // a discarded step is not charged: its reservation goes back
		return err
	})
	if recorded {
		h.chargeRecorded(ctx, c, charge, billing.CauseModelStep, "step "+strconv.Itoa(cmd.Step), resp.Model, resp.Usage, h.now(), cause)
	}
	return err
}

// stepRequest is what the model is asked at a conversation's next step.
func (h *Handler) stepRequest(c *conversation.Conversation) agent.Request {
	// The date lets the model read "by Friday" or "next month" as the
	// caller means them: the time the caller's message arrived, so every
	// step of a turn (and a replay) reads them alike.
	now := c.TurnStartedAt
	if now.IsZero() {
		now = h.now()
	}
	system := SystemPrompt + "\nThe caller's message arrived " + now.UTC().Format("Monday 2 January 2006, 15:04 UTC") + "."
	if a := c.Agent; a != nil && strings.TrimSpace(a.Config.Instructions) != "" {
		system += "\n\nYou are the agent \"" + a.Config.Name + "\" of this workspace. Its instructions:\n" + a.Config.Instructions
	}
	if strings.TrimSpace(c.System) != "" {
		system += "\n\nFor this conversation:\n" + c.System
	}
	req := agent.Request{System: system, Messages: agent.FitHistory(c.ModelMessages(), h.historyTokens()),
		MaxTokens: h.MaxOutputTokens, Now: now.UTC()}
	if a := c.Agent; a != nil {
		req.Model, req.Temperature = a.Config.Model, a.Config.Temperature
	}
	if h.Tools != nil {
		for _, s := range h.Tools.Specs() {
			if c.AllowsTool(s.Name) {
				req.Tools = append(req.Tools, s)
			}
		}
	}
	return req
}

// modelOf is the model a request runs on, which prices it: the named
// agent's, or the gateway's.
func (h *Handler) modelOf(req agent.Request) string {
	if req.Model != "" {
		return req.Model
	}
	return h.ModelName
}

// historyTokens bounds the history a model step sends (see agent.FitHistory).
func (h *Handler) historyTokens() int {
	if h.HistoryTokens > 0 {
		return h.HistoryTokens
	}
	return agent.DefaultHistoryTokens
}

// ExecuteToolCall runs one tool call and records its result. The tool's
// side effect carries an id derived from the call, so running the command
// twice (a retry, a resumed loop) has the effect once.
func (h *Handler) ExecuteToolCall(ctx context.Context, cmd ExecuteToolCall) error {
	c, v, fresh, err := h.conversationForCommand(ctx, cmd.ConversationID)
	if err != nil {
		return err
	}
	req, ok := c.Requested[cmd.Key]
	if (!ok || c.Status.Terminal() || !c.IsPending(cmd.Key)) && !fresh {
		// Decide on the stream before dropping the command.
		if c, v, err = h.loadConversation(ctx, cmd.ConversationID); err != nil {
			return err
		}
		req, ok = c.Requested[cmd.Key]
	}
	if !ok || c.Status.Terminal() || !c.IsPending(cmd.Key) {
		return nil
	}
	cause := fmt.Sprintf("toolcall:%s:%s", c.ID, cmd.Key)
	if !c.AllowsTool(req.Name) {
		// The named agent does not have the tool (a model may name one it
		// was not offered): the call never runs, and the model reads why.
		msg := fmt.Sprintf("The agent %q does not have the tool %s; nothing was done. An owner can add it to the agent's tools.", c.Agent.Slug, req.Name)
		return h.recordToolResult(ctx, cmd, c, v, req, errorJSONCode(msg, mcpcall.CodeNotAllowed), true, 0, nil, cause)
	}
	if allowed, err := h.allows(ctx, req.Name, c.TurnKeys()...); err != nil {
		return err
	} else if !allowed {
		// The key does not allow the tool (its scope changed, or the
		// model named a tool it was not offered): the model reads why.
		return h.recordToolResult(ctx, cmd, c, v, req, errorJSONCode(notAllowed(req.Name), mcpcall.CodeNotAllowed), true, 0, nil, cause)
	}
	if checker, ok := h.Tools.(ArgumentChecker); ok {
		// A call of a tool that does not exist, or with arguments that do
		// not fit its schema, does not run and is not charged: the model
		// reads what is wrong, the field named.
		if err := checker.CheckArguments(req.Name, req.Arguments); err != nil {
			return h.recordToolResult(ctx, cmd, c, v, req, errorJSONCode(err.Error(), mcpcall.CodeInvalidArguments), true, 0, nil, cause)
		}
	}
	charge, err := h.reserve(ctx, c, billing.CauseToolCall, "tool call "+cmd.Key, h.Prices.ToolCall)
	var exceeded *billing.ExceededError
	if errors.As(err, &exceeded) {
		return h.budgetFailure(ctx, c, cause, exceeded)
	}
	if err != nil {
		return err
	}
	charge.AmountMicroUSD = int64(h.Prices.ToolCall)
	began := time.Now()
	tctx, span := h.tracer().Start(ctx, "execute_tool "+req.Name, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", req.Name)))
	result, isErr := h.Tools.Execute(tctx, ToolCall{
		WorkspaceID: c.WorkspaceID, UserID: c.UserID, ConversationID: c.ID,
		Key: cmd.Key, Name: req.Name, Arguments: req.Arguments, Sandbox: c.Mode == apikey.ModeTest,
	})
	if isErr {
		span.SetStatus(codes.Error, "the tool answered with an error")
	}
	span.End()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return h.recordToolResult(ctx, cmd, c, v, req, result, isErr, time.Since(began), charge, cause)
}

// recordToolResult records a tool call's result and charges it. Parallel
// tool calls of one step finish concurrently: on a conflict, it reloads
// and records again unless this result is already there.
func (h *Handler) recordToolResult(ctx context.Context, cmd ExecuteToolCall, c *conversation.Conversation, v int64,
	req conversation.ToolCallRequested, result string, isErr bool, took time.Duration, charge *conversation.Charge, cause string) error {
	recorded := false
	first := true
	err := retry(ctx, func() error {
		if !first {
			var err error
			if c, v, err = h.loadConversation(ctx, cmd.ConversationID); err != nil {
				return err
			}
		}
		first = false
		facts, err := c.RecordToolResult(cmd.Key, result, isErr, took, charge, h.now())
		if errors.Is(err, conversation.ErrNothingToDo) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := h.append(ctx, conversation.Stream(c.ID), v, agentMeta(c, cause), facts...)
		recorded = err == nil
		if recorded {
			h.keep(c, res.Version, facts...)
		}
		return err
	})
	if recorded {
		h.chargeRecorded(ctx, c, charge, billing.CauseToolCall, "tool call "+cmd.Key+" ("+req.Name+")", "", agent.Usage{}, h.now(), cause)
	}
	return err
}

// FailConversation ends an unfinished conversation with a clear reason.
func (h *Handler) FailConversation(ctx context.Context, cmd FailConversation) error {
	return retry(ctx, func() error {
		c, v, err := h.loadConversation(ctx, cmd.ConversationID)
		if err != nil {
			return err
		}
		facts, err := c.Fail(cmd.Code, cmd.Reason, h.now())
		if errors.Is(err, conversation.ErrNothingToDo) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = h.append(ctx, conversation.Stream(c.ID), v,
			es.Metadata{CorrelationID: c.ID, CausationID: "reaper", Actor: es.Actor{Kind: "system"}}, facts...)
		return err
	})
}

// NextCommands derives what a conversation waits for from its facts alone;
// the reaper uses it to resume work a crash or a lost message left behind.
func (h *Handler) NextCommands(ctx context.Context, conversationID string) ([]any, *conversation.Conversation, error) {
	c, _, err := h.loadConversation(ctx, conversationID)
	if err != nil {
		return nil, nil, err
	}
	next := c.Next()
	var out []any
	if next.ModelStep > 0 {
		out = append(out, &RunModelStep{ConversationID: c.ID, Step: next.ModelStep})
	}
	for _, k := range next.ToolCalls {
		out = append(out, &ExecuteToolCall{ConversationID: c.ID, Key: k})
	}
	return out, c, nil
}

// Instant is a model that answers in process, at once and deterministically
// (the offline model): its steps are not claimed before they run, which
// saves an append per step.
type Instant interface {
	Instant()
}

// callBudget bounds a model step's whole call, retries included.
func (h *Handler) callBudget() time.Duration {
	if h.ModelCallBudget > 0 {
		return h.ModelCallBudget
	}
	return h.ModelTimeout
}

// stepLease is how long a claimed model step counts as running: the model
// call cannot outlive callBudget, and the rest of the step is quick.
func (h *Handler) stepLease() time.Duration {
	t := h.callBudget()
	if t <= 0 {
		t = 60 * time.Second
	}
	return t + 30*time.Second
}

func ignoreConflict(err error) error {
	if errors.Is(err, es.ErrConcurrency) {
		return nil
	}
	return err
}
