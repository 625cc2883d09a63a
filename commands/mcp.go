package commands

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/mcpcall"
)

// McpCall is a tool call a caller's own agent makes over the MCP server.
type McpCall struct {
	WorkspaceID, UserID, APIKeyID string
	Tool                          string
	Arguments                     json.RawMessage
}

// McpResult is what the caller's agent reads back: the tool's JSON result
// (or an error saying what is wrong), and the call's id, under which its
// record and everything it caused are found (GET /api/agent/{id}/events).
type McpResult struct {
	CallID  string
	Result  string
	IsError bool
}

// ArgumentChecker is a catalog that validates arguments against a tool's
// schema before anything runs (see tools.Catalog.CheckArguments).
type ArgumentChecker interface {
	CheckArguments(name string, args json.RawMessage) error
}

// mcpWait bounds how long an MCP call waits for budget room that running
// work holds, before it is refused.
const mcpWait = 30 * time.Second

// payerOfCall is who an MCP call is charged to: its key, as one turn.
func payerOfCall(r *mcpcall.Requested) payer {
	return payer{ID: r.CallID, KeyID: r.APIKeyID, WorkspaceID: r.WorkspaceID, UserID: r.UserID, Mode: r.Mode, Turn: 1}
}

// CallTool runs one MCP tool call and records it: the request, then its
// result or why it was refused (the key does not allow the tool, its
// budget cannot pay the tool-call fee, the arguments do not fit). The fee
// is reserved before the tool runs and charged after, on the same budget
// line as conversations, so MCP calls never overspend a budget either.
// No model runs: the caller brings its own.
func (h *Handler) CallTool(ctx context.Context, call McpCall) (McpResult, error) {
	id := NewID()
	out := McpResult{CallID: id}
	md := es.Metadata{CorrelationID: id, CausationID: "mcp:" + call.APIKeyID, Actor: es.Actor{Kind: "user", ID: call.UserID}}
	args := call.Arguments
	if len(args) == 0 || !json.Valid(args) {
		args = json.RawMessage("{}")
	}
	requested := &mcpcall.Requested{CallID: id, WorkspaceID: call.WorkspaceID, UserID: call.UserID, APIKeyID: call.APIKeyID,
		Tool: call.Tool, Arguments: args, RequestedAt: h.now()}
	// The key's own fold decides (revoked? may it use the tool?), and the
	// record is appended guarded by the version it was folded at: a key
	// revoked or narrowed since is read again and decided on anew. A call
	// refused before it runs is recorded with its refusal in one append;
	// one that runs is recorded before it does, so a crash mid-call
	// leaves a record the reaper closes.
	var res es.AppendResult
	for attempt := 0; ; attempt++ {
		k, kv, err := h.key(ctx, call.APIKeyID)
		if err != nil {
			return out, err
		}
		requested.Mode = ""
		if k.Test() {
			requested.Mode = apikey.ModeTest
		}
		facts := []es.Fact{requested}
		code, reason := "", ""
		switch {
		case k.Usable(call.UserID) != nil:
			code, reason = mcpcall.CodeKeyUnusable, "This API key has been revoked (or is not yours); nothing was done."
		case !k.Settings.Allows(call.Tool):
			code, reason = mcpcall.CodeNotAllowed, notAllowed(call.Tool)
		default:
			if c, ok := h.Tools.(ArgumentChecker); ok {
				if err := c.CheckArguments(call.Tool, call.Arguments); err != nil {
					code, reason = mcpcall.CodeInvalidArguments, err.Error()
				}
			}
		}
		if code != "" {
			facts = append(facts, &mcpcall.Refused{APIKeyID: call.APIKeyID, Code: code, Reason: reason, RefusedAt: h.now()})
		}
		res, err = h.appendGuarded(ctx, mcpcall.Stream(id), es.NoStream, []es.Guard{{Stream: apikey.Stream(k.ID), Version: kv}}, md, facts...)
		if keyMoved(err, k.ID) && attempt < 5 {
			if _, _, err := h.refreshKey(ctx, k.ID); err != nil {
				return out, err
			}
			continue
		}
		if err != nil {
			return out, err
		}
		if code != "" {
			out.Result, out.IsError = errorJSONCode(reason, code), true
			return out, nil
		}
		break
	}
	v := res.Version
	py := payerOfCall(requested)
	py.WaitUntil = h.now().Add(mcpWait)
	charge, err := h.reserveFor(ctx, py, billing.CauseMcpToolCall, "mcp "+call.Tool, h.Prices.ToolCall)
	var exceeded *billing.ExceededError
	if errors.As(err, &exceeded) {
		reason := "The API key's budget cannot pay for this tool call, so nothing was done. " + exceeded.Error()
		out.Result, out.IsError = errorJSONCode(reason, mcpcall.CodeBudget), true
		_, err := h.append(ctx, mcpcall.Stream(id), v, md, &mcpcall.Refused{APIKeyID: call.APIKeyID, Code: mcpcall.CodeBudget,
			Reason: reason, RefusedAt: h.now()})
		return out, err
	}
	if err != nil {
		return out, err
	}
	charge.AmountMicroUSD = int64(h.Prices.ToolCall)
	began := time.Now()
	out.Result, out.IsError = h.Tools.Execute(ctx, ToolCall{WorkspaceID: call.WorkspaceID, UserID: call.UserID,
		ConversationID: id, Key: "mcp", Name: call.Tool, Arguments: call.Arguments, Sandbox: requested.Mode == apikey.ModeTest})
	kept, truncated := conversation.TruncateResult(out.Result)
	// The record is written even if the caller went away: the tool ran.
	rctx := context.WithoutCancel(ctx)
	if _, err := h.append(rctx, mcpcall.Stream(id), v, md, &mcpcall.Completed{Result: kept, IsError: out.IsError, Truncated: truncated,
		DurationMS: time.Since(began).Milliseconds(), CompletedAt: h.now(), Charge: charge}); err != nil {
		return out, err
	}
	h.chargeFor(rctx, py, charge, billing.CauseMcpToolCall, "mcp "+call.Tool, "", agent.Usage{}, h.now(), "mcp:"+id)
	return out, nil
}

// errorJSONCode is a refused call's result: what happened, and its code.
func errorJSONCode(msg, code string) string {
	b, _ := json.Marshal(map[string]string{"error": msg, "code": code})
	return string(b)
}

// CloseInterruptedMcpCall closes an MCP call its gateway stopped in the
// middle of (the reaper finds it open for too long): it is recorded as
// refused (INTERRUPTED), and what it set aside is given back, so a crash
// costs the key nothing.
func (h *Handler) CloseInterruptedMcpCall(ctx context.Context, callID string) error {
	return retry(ctx, func() error {
		var c mcpcall.Call
		v, _, err := h.load(ctx, mcpcall.Stream(callID), mcpcall.Events, &c)
		if err != nil || c.Requested == nil {
			return err
		}
		facts := c.Interrupt(h.now())
		if len(facts) == 0 {
			return nil
		}
		md := es.Metadata{CorrelationID: callID, CausationID: "reaper", Actor: es.Actor{Kind: "system"}}
		// What it set aside goes back first (releasing twice is nothing):
		// once the call is closed, nothing looks at it again.
		k, _, err := h.refreshKey(ctx, c.Requested.APIKeyID)
		if err != nil {
			return err
		}
		for _, p := range periodsAt(k.Settings.BudgetPeriod, c.Requested.RequestedAt, h.now()) {
			if err := h.budgetLine(p, k.ID).submit(ctx, &budgetOp{releaseOf: callID,
				releaseReason: "the MCP call was interrupted before it finished", md: md}); err != nil {
				return err
			}
		}
		_, err = h.append(ctx, mcpcall.Stream(callID), v, md, facts...)
		return err
	})
}

// McpCallLimit is the longest an MCP call can run: the wait for budget
// room, the tool's own limit, and the records around them. A call open
// for longer was cut short.
const McpCallLimit = mcpWait + 30*time.Second + 30*time.Second

// SettleMcpCall makes sure a completed MCP call is charged (the call
// charged itself as it ended; a charge lost to a crash is made here) and
// that what it set aside and did not use is given back.
type SettleMcpCall struct {
	CallID string `json:"call_id"`
}

// SettleMcpCall settles one call (see the type); settling twice records
// nothing more.
func (h *Handler) SettleMcpCall(ctx context.Context, cmd SettleMcpCall) error {
	var c mcpcall.Call
	if _, _, err := h.load(ctx, mcpcall.Stream(cmd.CallID), mcpcall.Events, &c); err != nil {
		return err
	}
	if c.Requested == nil || c.Completed == nil || c.Completed.Charge == nil {
		return nil
	}
	r, charge := c.Requested, c.Completed.Charge
	p, err := h.periodOf(ctx, r.APIKeyID, charge.Period)
	if err != nil {
		return err
	}
	py := payerOfCall(r)
	return h.budgetLine(p, r.APIKeyID).submit(ctx, &budgetOp{
		charges:   []billing.Charged{chargeOf(py, charge, billing.CauseMcpToolCall, "mcp "+r.Tool, "", agent.Usage{}, c.Completed.CompletedAt)},
		releaseOf: cmd.CallID, releaseReason: "the MCP call ended without using it",
		md: es.Metadata{CorrelationID: cmd.CallID, CausationID: "settle:" + cmd.CallID, Actor: es.Actor{Kind: "system"}},
	})
}
