package commands

import (
	"context"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
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
	// A call refused before it runs is recorded with its refusal in one
	// append; one that runs is recorded before it does, so a crash
	// mid-call leaves a record the reaper closes.
	refuse := func(code, reason string) (McpResult, error) {
		out.Result, out.IsError = errorJSON(reason), true
		_, err := h.append(ctx, mcpcall.Stream(id), es.NoStream, md, requested,
			&mcpcall.Refused{APIKeyID: call.APIKeyID, Code: code, Reason: reason, RefusedAt: h.now()})
		return out, err
	}
	allowed, err := h.allows(ctx, call.APIKeyID, call.Tool)
	if err != nil {
		return out, err
	}
	if !allowed {
		var e map[string]string
		_ = json.Unmarshal([]byte(notAllowedResult(call.Tool)), &e)
		return refuse(mcpcall.CodeNotAllowed, e["error"])
	}
	if c, ok := h.Tools.(ArgumentChecker); ok {
		if err := c.CheckArguments(call.Tool, call.Arguments); err != nil {
			return refuse(mcpcall.CodeInvalidArguments, err.Error())
		}
	}
	res, err := h.append(ctx, mcpcall.Stream(id), es.NoStream, md, requested)
	if err != nil {
		return out, err
	}
	v := res.Version
	py := payer{ID: id, KeyID: call.APIKeyID, WorkspaceID: call.WorkspaceID, UserID: call.UserID, Turn: 1, WaitUntil: h.now().Add(mcpWait)}
	charge, err := h.reserveFor(ctx, py, billing.CauseMcpToolCall, "mcp "+call.Tool, h.Prices.ToolCall)
	var exceeded *billing.ExceededError
	if errors.As(err, &exceeded) {
		reason := "The API key's budget cannot pay for this tool call, so nothing was done. " + exceeded.Error()
		out.Result, out.IsError = errorJSON(reason), true
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
		ConversationID: id, Key: "mcp", Name: call.Tool, Arguments: call.Arguments})
	kept, truncated := out.Result, false
	if len(kept) > mcpcall.MaxResultBytes {
		cut := mcpcall.MaxResultBytes
		for cut > 0 && !utf8.RuneStart(kept[cut]) {
			cut--
		}
		kept, truncated = kept[:cut], true
	}
	// The record is written even if the caller went away: the tool ran.
	rctx := context.WithoutCancel(ctx)
	if _, err := h.append(rctx, mcpcall.Stream(id), v, md, &mcpcall.Completed{Result: kept, IsError: out.IsError, Truncated: truncated,
		DurationMS: time.Since(began).Milliseconds(), CompletedAt: h.now(), Charge: charge}); err != nil {
		return out, err
	}
	h.chargeFor(rctx, py, charge, billing.CauseMcpToolCall, "mcp "+call.Tool, "", agent.Usage{}, h.now(), "mcp:"+id)
	return out, nil
}

func errorJSON(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
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
		if err != nil {
			return err
		}
		facts := c.Interrupt(h.now())
		if len(facts) == 0 {
			return nil
		}
		md := es.Metadata{CorrelationID: callID, CausationID: "reaper", Actor: es.Actor{Kind: "system"}}
		if _, err := h.append(ctx, mcpcall.Stream(callID), v, md, facts...); err != nil {
			return err
		}
		k, _, err := h.refreshKey(ctx, c.Requested.APIKeyID)
		if err != nil {
			return err
		}
		periods := map[string]billing.Period{}
		for _, at := range []time.Time{c.Requested.RequestedAt, h.now()} {
			if p, err := billing.PeriodAt(string(k.Settings.BudgetPeriod), at); err == nil {
				periods[p.Key] = p
			}
		}
		for _, p := range periods {
			if err := h.budgetLine(p, k.ID).submit(ctx, &budgetOp{releaseOf: callID,
				releaseReason: "the MCP call was interrupted before it finished", md: md}); err != nil {
				return err
			}
		}
		return nil
	})
}
