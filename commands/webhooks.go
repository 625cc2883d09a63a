package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// WebhookRequest is one delivery attempt to send.
type WebhookRequest struct {
	URL            string
	WebhookID      string
	ConversationID string
	Body           []byte
	// Secrets sign the attempt, newest first.
	Secrets []string
	Now     time.Time
	// Test marks a test key's delivery (a header says so).
	Test bool
}

// WebhookResult is what one attempt got back.
type WebhookResult struct {
	Outcome        webhook.Outcome
	StatusCode     int
	Duration       time.Duration
	Error          string
	ResponsePrefix string
	RetryAfter     time.Duration
}

// WebhookSender posts signed deliveries.
type WebhookSender interface {
	Deliver(ctx context.Context, r WebhookRequest) WebhookResult
}

// WebhookPolicy decides retries.
type WebhookPolicy struct {
	// NextDelay returns the wait before the next attempt after failed
	// attempts so far, honouring the receiver's Retry-After; false when
	// the schedule is exhausted.
	NextDelay func(failed int, retryAfter time.Duration) (time.Duration, bool)
	// Stale is how old an unfinished attempt must be before it counts as
	// interrupted (a few per-attempt timeouts).
	Stale time.Duration
	// PerHost bounds the attempts in flight to one receiver host in this
	// process, so one hung receiver cannot hold every delivery worker.
	PerHost int
}

// hostSlots counts attempts in flight per receiver host.
type hostSlots struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *hostSlots) tryAcquire(host string, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	if limit > 0 && s.n[host] >= limit {
		return false
	}
	s.n[host]++
	return true
}

func (s *hostSlots) release(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[host]--; s.n[host] <= 0 {
		delete(s.n, host)
	}
}

// StartWebhookDelivery begins delivering a finished conversation's reply.
type StartWebhookDelivery struct {
	ConversationID string `json:"conversation_id"`
	Reason         string `json:"reason"`
	// AtVersion, when set, is the version of the ending to deliver: the
	// turn that ended there is delivered even if a follow-up began another
	// since (0: the conversation as it is now).
	AtVersion int64 `json:"at_version,omitempty"`
}

// AttemptWebhookDelivery sends attempt Attempt of delivery Delivery.
type AttemptWebhookDelivery struct {
	ConversationID string `json:"conversation_id"`
	Delivery       int    `json:"delivery"`
	Attempt        int    `json:"attempt"`
}

// Errors of webhook commands callers act on.
var (
	ErrNoResponseURL = errors.New("the conversation's key had no response_url when the message was accepted")
	ErrNotFinished   = errors.New("the conversation has not finished yet")
)

// UsageReport is what a conversation has used so far, as every reply of
// it (poll, sync, webhook) reports it.
type UsageReport struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	ToolCalls    int `json:"tool_calls"`
	ModelSteps   int `json:"model_steps"`
	// CostUSD is CostMicroUSD in dollars, rounded up to the cent as every
	// amount shown is, so a display never understates spend.
	CostUSD      string `json:"cost_usd"`
	CostMicroUSD int64  `json:"cost_microusd"`
}

// Usage reports steps, tool calls, tokens and cost.
func Usage(steps, toolCalls int, u agent.Usage, costMicroUSD int64) UsageReport {
	return UsageReport{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, ToolCalls: toolCalls, ModelSteps: steps,
		CostUSD: strings.TrimPrefix(billing.MicroUSD(costMicroUSD).Dollars(), "$"), CostMicroUSD: costMicroUSD}
}

// WebhookBody renders the exact JSON the receiver gets for a finished
// conversation, as the contract shows it.
func WebhookBody(c *conversation.Conversation) ([]byte, error) {
	usage := Usage(c.Steps, c.ToolCalls, c.Usage, c.CostMicroUSD)
	switch c.Status {
	case conversation.StatusResolved:
		return json.Marshal(struct {
			ConversationUUID string            `json:"conversation_uuid"`
			Status           string            `json:"status"`
			Response         string            `json:"response"`
			Outcome          string            `json:"outcome,omitempty"`
			Candidates       []agent.Candidate `json:"candidates,omitempty"`
			Turn             int               `json:"turn"`
			Usage            UsageReport       `json:"usage"`
			Mode             string            `json:"mode,omitempty"`
		}{c.ID, "resolved", c.Reply, c.Outcome, c.Candidates, c.Turn, usage, c.Mode})
	case conversation.StatusFailed:
		msg := "An error occurred while processing your request."
		if c.Failure != nil && c.Failure.Reason != "" {
			msg = c.Failure.Reason
		}
		return json.Marshal(struct {
			ConversationUUID string      `json:"conversation_uuid"`
			Status           string      `json:"status"`
			Error            string      `json:"error"`
			Turn             int         `json:"turn"`
			Usage            UsageReport `json:"usage"`
			Mode             string      `json:"mode,omitempty"`
		}{c.ID, "failed", msg, c.Turn, usage, c.Mode})
	}
	return nil, ErrNotFinished
}

// StartWebhookDelivery opens a delivery for a finished conversation whose
// key had a response_url when the message was accepted. A conversation
// without one, or one already delivering, is left alone when the reason is
// the automatic one; a redelivery request gets the error.
func (h *Handler) StartWebhookDelivery(ctx context.Context, cmd StartWebhookDelivery) (int, es.Position, error) {
	c, err := h.conversationAt(ctx, cmd.ConversationID, cmd.AtVersion)
	if err != nil {
		return 0, es.Position{}, err
	}
	if !c.Exists() {
		return 0, es.Position{}, conversation.ErrNothingToDo
	}
	if c.ResponseURL == "" {
		return 0, es.Position{}, ErrNoResponseURL
	}
	body, err := WebhookBody(c)
	if err != nil {
		return 0, es.Position{}, err
	}
	var delivery int
	var pos es.Position
	err = retry(ctx, func() error {
		var d webhook.Deliveries
		v, _, err := h.load(ctx, webhook.Stream(c.ID), webhook.Events, &d)
		if err != nil {
			return err
		}
		if cmd.Reason == ReasonConversationEnded && d.Count > 0 && d.Turn >= c.Turn {
			delivery = d.Count
			return nil // this turn's automatic delivery already started
		}
		facts, err := d.Start(webhook.Started{ConversationID: c.ID, Turn: c.Turn, APIKeyID: c.APIKeyID, URL: c.ResponseURL,
			WebhookID: webhook.ID(c.ID, c.Turn), Body: string(body), Reason: cmd.Reason, StartedAt: h.now()})
		if err != nil {
			return err
		}
		res, err := h.append(ctx, webhook.Stream(c.ID), v,
			es.Metadata{CorrelationID: c.ID, CausationID: "webhook:" + cmd.Reason, Actor: es.Actor{Kind: "system"}}, facts...)
		delivery, pos = facts[len(facts)-1].(*webhook.Started).Delivery, res.Position
		return err
	})
	return delivery, pos, err
}

// conversationAt folds a conversation up to version (0: all of it): the
// state a webhook of that ending carries.
func (h *Handler) conversationAt(ctx context.Context, id string, version int64) (*conversation.Conversation, error) {
	c, v, err := h.loadConversation(ctx, id)
	if err != nil || version <= 0 || v == version {
		return c, err // nothing came after the ending: the fold is that state
	}
	// A follow-up began since: fold the stream up to the ending.
	recs, err := h.Store.ReadStream(ctx, conversation.Stream(id), 0)
	if err != nil {
		return nil, err
	}
	c = &conversation.Conversation{}
	for _, r := range recs {
		if r.StreamVersion > version {
			break
		}
		f, err := conversation.Events.Decode(r)
		if err != nil {
			return nil, err
		}
		c.Apply(f)
	}
	return c, nil
}

// Reasons a delivery starts.
const (
	ReasonConversationEnded = "conversation ended"
	ReasonRedeliver         = "redelivery requested"
)

// AttemptWebhookDelivery claims the attempt (so one worker sends it),
// posts it, and records the result with the time of the next attempt. The
// schedule lives in these events: a restart during a backoff finds the
// next attempt's time there.
func (h *Handler) AttemptWebhookDelivery(ctx context.Context, cmd AttemptWebhookDelivery) error {
	var d webhook.Deliveries
	v, _, err := h.load(ctx, webhook.Stream(cmd.ConversationID), webhook.Events, &d)
	if err != nil {
		return err
	}
	// A busy receiver host gets no more attempts from this process until
	// one ends; the attempt stays due and is sent again shortly.
	host := hostOf(d.Current.URL)
	if !h.webhookHosts.tryAcquire(host, h.Webhooks.PerHost) {
		return nil
	}
	defer h.webhookHosts.release(host)
	claim, err := d.Claim(cmd.Delivery, cmd.Attempt, h.now(), h.Webhooks.Stale)
	if errors.Is(err, webhook.ErrNothingToDo) {
		return nil
	}
	if err != nil {
		return err
	}
	md := es.Metadata{CorrelationID: cmd.ConversationID, CausationID: fmt.Sprintf("webhook:%d", cmd.Delivery),
		Actor: es.Actor{Kind: "system"}}
	res, err := h.append(ctx, webhook.Stream(cmd.ConversationID), v, md, claim...)
	if err != nil {
		return ignoreConflict(err) // another worker claimed it
	}
	v = res.Version
	for _, f := range claim {
		d.Apply(f)
	}
	attempt := d.Claimed.Attempt

	result := h.deliver(ctx, &d)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the claim goes stale and is retried
	}
	var next *time.Time
	if result.Outcome == webhook.OutcomeFailed {
		if delay, ok := h.Webhooks.NextDelay(attempt, result.RetryAfter); ok {
			t := h.now().Add(delay)
			next = &t
		}
	}
	facts, err := d.Complete(webhook.AttemptCompleted{Delivery: d.Count, Attempt: attempt, URL: d.Current.URL,
		Outcome: result.Outcome, StatusCode: result.StatusCode, DurationMS: result.Duration.Milliseconds(),
		Error: result.Error, ResponsePrefix: result.ResponsePrefix}, next, h.now())
	if err != nil {
		return nil
	}
	_, err = h.append(ctx, webhook.Stream(cmd.ConversationID), v, md, facts...)
	return ignoreConflict(err)
}

// deliver signs with the key's current secrets and posts.
func (h *Handler) deliver(ctx context.Context, d *webhook.Deliveries) (out WebhookResult) {
	ctx, span := h.tracer().Start(ctx, "webhook POST", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("webhook.id", d.Current.WebhookID), attribute.String("server.address", hostOf(d.Current.URL))))
	defer func() {
		span.SetAttributes(attribute.Int("http.response.status_code", out.StatusCode), attribute.String("webhook.outcome", string(out.Outcome)))
		if out.Outcome != webhook.OutcomeDelivered {
			span.SetStatus(codes.Error, out.Error)
		}
		span.End()
	}()
	var k apikey.Key
	if _, _, err := h.load(ctx, apikey.Stream(d.Current.APIKeyID), apikey.Events, &k); err != nil {
		return WebhookResult{Outcome: webhook.OutcomeFailed, Error: "The signing secret could not be loaded: " + err.Error()}
	}
	var secrets []string
	for _, sealed := range k.SealedSecrets(h.now()) {
		s, err := h.Sealer.Open(sealed)
		if err != nil {
			return WebhookResult{Outcome: webhook.OutcomeFailed,
				Error: "The signing secret could not be unsealed (is GATEWAY_SECRET_KEY the one the key was created with?)."}
		}
		secrets = append(secrets, s)
	}
	return h.Webhook.Deliver(ctx, WebhookRequest{URL: d.Current.URL, WebhookID: d.Current.WebhookID,
		ConversationID: d.Current.ConversationID, Body: []byte(d.Current.Body), Secrets: secrets, Now: h.now(), Test: k.Test()})
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return raw
}
