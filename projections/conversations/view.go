// Package conversations is the read model behind polling: one view per
// conversation, shaped like the poll response, plus the counts key usage
// needs and the list of unfinished conversations the reaper watches.
package conversations

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "conversations"

// Turn is one entry of the poll response's turns.
type Turn struct {
	Role      string         `json:"role"`
	Payload   map[string]any `json:"payload"`
	Timestamp time.Time      `json:"timestamp"`
}

// Webhook is the delivery state shown in the poll response.
type Webhook struct {
	Status         string     `json:"status"` // pending | delivered | failed
	Attempts       int        `json:"attempts"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	LastStatusCode *int       `json:"last_status_code"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastError      string     `json:"last_error,omitempty"`
	// Delivery is the number of the current delivery (redeliveries add one).
	Delivery int `json:"delivery"`
	// Turn is the conversation turn the current delivery carries.
	Turn int `json:"turn"`
	// ClaimedAt is when the attempt in flight started (nil: none in flight).
	ClaimedAt *time.Time `json:"claimed_at,omitempty"`
	// History lists every attempt of every delivery, oldest first.
	History []Attempt `json:"history,omitempty"`
	// Version is the webhook stream's version this view holds.
	Version int64 `json:"version"`
}

// Attempt is one webhook delivery attempt as operators read it.
type Attempt struct {
	Delivery       int        `json:"delivery"`
	Attempt        int        `json:"attempt"`
	URL            string     `json:"url"`
	Outcome        string     `json:"outcome"`
	StatusCode     int        `json:"status_code"`
	DurationMS     int64      `json:"duration_ms"`
	Error          string     `json:"error,omitempty"`
	ResponsePrefix string     `json:"response_prefix,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	CompletedAt    time.Time  `json:"completed_at"`
}

// Due reports whether the delivery waits for an attempt at now: the next
// attempt's time has come, or an attempt in flight is older than stale
// (its worker died). This is the durable timer of webhook retries.
func (w *Webhook) Due(now time.Time, stale time.Duration) bool {
	if w == nil || w.Status != "pending" {
		return false
	}
	if w.Delivery == 0 {
		return false // not started: see View.WebhookDue
	}
	if w.ClaimedAt != nil {
		return !now.Before(w.ClaimedAt.Add(stale))
	}
	return w.NextAttemptAt == nil || !now.Before(*w.NextAttemptAt)
}

// Failure is shown on failed conversations.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// AgentRef names the named agent (and its version) a conversation runs with.
type AgentRef struct {
	Slug    string `json:"slug"`
	Version int64  `json:"version"`
}

func agentRef(a *conversation.AgentRun) *AgentRef {
	if a == nil {
		return nil
	}
	return &AgentRef{Slug: a.Slug, Version: a.Version}
}

// View is one conversation as callers and operators read it.
type View struct {
	ID          string `json:"conversation_uuid"`
	WorkspaceID string `json:"workspace_id"`
	UserID      string `json:"user_id"`
	APIKeyID    string `json:"api_key_id"`
	// Mode is "test" for a test key's conversation, "" for live.
	Mode string `json:"mode,omitempty"`
	// Agent is the named agent the conversation runs with (nil: none).
	Agent  *AgentRef `json:"agent,omitempty"`
	Status string    `json:"status"`
	Turns  []Turn    `json:"turns"`
	// Outcome and Candidates come with a resolved turn's reply.
	Outcome    string            `json:"outcome,omitempty"`
	Candidates []agent.Candidate `json:"candidates,omitempty"`
	// Turn is the number of the caller's latest message.
	Turn         int        `json:"turn"`
	Webhook      *Webhook   `json:"webhook"`
	Error        *Failure   `json:"error,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	ResolvedAt   *time.Time `json:"resolved_at"`
	FailedAt     *time.Time `json:"failed_at,omitempty"`
	UpdatedAt    time.Time  `json:"updated_at"`
	Steps        int        `json:"steps"`
	ToolCalls    int        `json:"tool_calls"`
	InputTokens  int        `json:"input_tokens"`
	OutputTokens int        `json:"output_tokens"`
	CostMicroUSD int64      `json:"cost_microusd"`
	Version      int64      `json:"version"`
}

// Terminal reports whether the conversation has ended.
func (v *View) Terminal() bool {
	return conversation.Status(v.Status).Terminal()
}

// WebhookDue reports whether the conversation waits for webhook work at
// now: an attempt that is due, or a delivery that should have started (the
// conversation ended with a webhook, and nothing started it).
func (v *View) WebhookDue(now time.Time, stale time.Duration) bool {
	if v.Webhook == nil {
		return false
	}
	if !v.webhookStarted() {
		if v.Terminal() {
			return true // the latest turn ended: its delivery starts
		}
		// The latest turn runs: an earlier turn's delivery may still retry.
		return v.Webhook.Delivery > 0 && v.Webhook.Due(now, stale)
	}
	return v.Webhook.Due(now, stale)
}

// WebhookStartDue reports whether what is due is starting the latest
// ended turn's delivery (rather than an attempt of one under way).
func (v *View) WebhookStartDue() bool {
	return v.Webhook != nil && v.Terminal() && !v.webhookStarted()
}

// webhookStarted reports whether the delivery of the latest turn began.
func (v *View) webhookStarted() bool {
	return v.Webhook != nil && v.Webhook.Delivery > 0 && v.Webhook.Turn >= v.Turn
}

// Fold applies one recorded conversation or webhook event to a view. It
// skips events the view already holds and refuses to jump over a missing
// one.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	if strings.HasPrefix(rec.Stream, webhookPrefix) {
		return foldWebhook(v, rec)
	}
	f, ok, err := projections.Next(v.Version, rec, conversation.Events, nil)
	if err != nil || !ok {
		return false, err
	}
	v.Version = rec.StreamVersion
	switch e := f.(type) {
	case *conversation.Opened:
		payload := userPayload(e.Message, e.Context, e.Metadata)
		*v = View{ID: e.ConversationID, WorkspaceID: e.WorkspaceID, UserID: e.UserID, APIKeyID: e.APIKeyID, Mode: e.Mode, Agent: agentRef(e.Agent),
			Status: string(conversation.StatusOpen), Turn: 1, CreatedAt: e.OpenedAt, ExpiresAt: e.ExpiresAt, UpdatedAt: e.OpenedAt,
			Turns:   []Turn{{Role: "user", Payload: payload, Timestamp: e.OpenedAt}},
			Version: rec.StreamVersion}
		if e.ResponseURL != "" {
			v.Webhook = &Webhook{Status: "pending"}
		}
	case *conversation.FollowUpReceived:
		t := e.ReceivedAt
		v.Turns = append(v.Turns, Turn{Role: "user", Payload: userPayload(e.Message, e.Context, e.Metadata), Timestamp: t})
		v.Status, v.Turn, v.ExpiresAt, v.UpdatedAt = string(conversation.StatusOpen), e.Turn, e.ExpiresAt, t
		v.ResolvedAt, v.FailedAt, v.Error = nil, nil, nil
		v.Outcome, v.Candidates = "", nil
		if w := v.Webhook; w != nil && (w.Delivery == 0 || w.Status != "pending") {
			// The new turn's delivery waits for the turn to end. One of an
			// earlier turn still under way goes on retrying meanwhile.
			*w = Webhook{Status: "pending", Delivery: w.Delivery, Turn: w.Turn, History: w.History, Version: w.Version}
		}
	case *conversation.ProcessingStarted:
		v.Status = string(conversation.StatusProcessing)
		v.UpdatedAt = e.StartedAt
	case *conversation.ModelStepStarted:
		// The first claim marks the work begun (streams from before
		// ProcessingStarted was folded into it say so with that event).
		if v.Status == string(conversation.StatusOpen) {
			v.Status = string(conversation.StatusProcessing)
		}
		v.UpdatedAt = e.StartedAt
	case *conversation.ModelStepCompleted:
		// A model that needs no claim (see commands.Instant) goes from
		// open to a recorded step at once.
		if v.Status == string(conversation.StatusOpen) {
			v.Status = string(conversation.StatusProcessing)
		}
		v.Steps++
		v.InputTokens += e.Usage.InputTokens
		v.OutputTokens += e.Usage.OutputTokens
		v.CostMicroUSD += e.Charge.Amount()
		v.UpdatedAt = e.CompletedAt
	case *conversation.ToolCallRequested:
		v.ToolCalls++
	case *conversation.ToolCallCompleted:
		v.CostMicroUSD += e.Charge.Amount()
		v.UpdatedAt = e.CompletedAt
	case *conversation.Resolved:
		t := e.ResolvedAt
		v.Status, v.ResolvedAt, v.UpdatedAt = string(conversation.StatusResolved), &t, t
		v.Outcome, v.Candidates = e.Outcome, e.Candidates
		v.Turns = append(v.Turns, Turn{Role: "agent", Payload: map[string]any{"content": e.Reply}, Timestamp: t})
	case *conversation.Failed:
		t := e.FailedAt
		v.Status, v.FailedAt, v.UpdatedAt = string(conversation.StatusFailed), &t, t
		v.Error = &Failure{Code: e.Code, Message: e.Reason}
	}
	return true, nil
}

// userPayload is a user turn as the poll response shows it.
func userPayload(msg string, hints *conversation.Context, md json.RawMessage) map[string]any {
	payload := map[string]any{"message": msg}
	if hints != nil {
		payload["context"] = hints
	}
	if len(md) > 0 {
		var v any
		if json.Unmarshal(md, &v) == nil && v != nil {
			payload["metadata"] = v
		}
	}
	return payload
}

// Usage is what one key's conversations add up to.
type Usage struct {
	Conversations int            `json:"conversations"`
	ByStatus      map[string]int `json:"by_status"`
	Steps         int            `json:"model_steps"`
	ToolCalls     int            `json:"tool_calls"`
	InputTokens   int            `json:"input_tokens"`
	OutputTokens  int            `json:"output_tokens"`
	// FailedForBudget counts conversations the budget stopped inside the
	// loop (error code BUDGET_EXCEEDED). A message refused at accept with
	// 429 appends nothing, so no read model can count it.
	FailedForBudget int `json:"failed_for_budget"`
	// Webhooks counts the conversations with a webhook by the state of
	// their delivery: pending, delivered or failed (abandoned).
	Webhooks map[string]int `json:"webhooks"`
}

// NewUsage returns a zero usage with every status present.
func NewUsage() Usage {
	return Usage{
		ByStatus: map[string]int{"open": 0, "processing": 0, "resolved": 0, "failed": 0},
		Webhooks: map[string]int{"pending": 0, "delivered": 0, "failed": 0},
	}
}

func foldWebhook(v *View, rec es.Recorded) (bool, error) {
	if v.ID == "" {
		return false, projections.GapError(rec.Stream, 0, rec.StreamVersion)
	}
	if v.Webhook == nil {
		v.Webhook = &Webhook{Status: "pending"}
	}
	w := v.Webhook
	f, ok, err := projections.Next(w.Version, rec, webhook.Events, nil)
	if err != nil || !ok {
		return false, err
	}
	w.Version = rec.StreamVersion
	switch e := f.(type) {
	case *webhook.Started:
		*w = Webhook{Status: "pending", Delivery: e.Delivery, Turn: max(e.Turn, 1), History: w.History, Version: w.Version}
	case *webhook.AttemptStarted:
		t := e.StartedAt
		w.ClaimedAt = &t
	case *webhook.AttemptCompleted:
		w.ClaimedAt = nil
		w.Attempts = e.Attempt
		if e.StatusCode != 0 {
			c := e.StatusCode
			w.LastStatusCode = &c
		}
		w.LastError = e.Error
		w.NextAttemptAt = e.NextAttemptAt
		w.History = append(w.History, Attempt{Delivery: e.Delivery, Attempt: e.Attempt, URL: e.URL, Outcome: string(e.Outcome),
			StatusCode: e.StatusCode, DurationMS: e.DurationMS, Error: e.Error, ResponsePrefix: e.ResponsePrefix,
			NextAttemptAt: e.NextAttemptAt, CompletedAt: e.CompletedAt})
	case *webhook.Delivered:
		t := e.DeliveredAt
		w.Status, w.DeliveredAt, w.NextAttemptAt, w.LastError = "delivered", &t, nil, ""
	case *webhook.Abandoned:
		w.Status, w.NextAttemptAt, w.LastError = "failed", nil, e.Reason
	}
	return true, nil
}

// StreamReader reads one stream of the event log.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, afterVersion int64) ([]es.Recorded, error)
}

// Replay folds one conversation's view straight from its streams (the
// conversation's, then its webhook delivery's, whose events all come after
// the conversation ended). A poll uses it when the read model does not
// hold the conversation yet, so that the conversation a 202 promised is
// always there, even while the read models catch up after a restart.
func Replay(ctx context.Context, r StreamReader, id string) (View, bool, error) {
	var v View
	for _, stream := range []string{conversationPrefix + id, webhookPrefix + id} {
		recs, err := r.ReadStream(ctx, stream, 0)
		if err != nil {
			return View{}, false, err
		}
		if len(recs) == 0 && stream == conversationPrefix+id {
			return View{}, false, nil
		}
		for _, rec := range recs {
			if _, err := Fold(&v, rec); err != nil {
				return View{}, false, err
			}
		}
	}
	return v, v.ID != "", nil
}
