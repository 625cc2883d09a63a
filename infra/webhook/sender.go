package webhook

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	domain "github.com/sois-ai/chat-agent-gateway/domain/webhook"
)

// Sender adapts the Client to the commands' WebhookSender port.
type Sender struct{ Client *Client }

// Deliver posts one attempt and translates the result.
func (s Sender) Deliver(ctx context.Context, r commands.WebhookRequest) commands.WebhookResult {
	a := s.Client.Deliver(ctx, Request{URL: r.URL, ID: r.WebhookID, ConversationID: r.ConversationID,
		Body: r.Body, Secrets: r.Secrets, Now: r.Now, Test: r.Test})
	out := commands.WebhookResult{StatusCode: a.StatusCode, Duration: a.Duration, Error: a.Error,
		ResponsePrefix: a.ResponsePrefix, RetryAfter: a.RetryAfter, Outcome: domain.OutcomeFailed}
	switch a.Outcome {
	case Delivered:
		out.Outcome = domain.OutcomeDelivered
	case Gone:
		out.Outcome = domain.OutcomeGone
	}
	return out
}

// Policy returns the retry policy for a schedule and per-attempt timeout.
func Policy(schedule []time.Duration, timeout time.Duration) commands.WebhookPolicy {
	return commands.WebhookPolicy{
		NextDelay: func(failed int, retryAfter time.Duration) (time.Duration, bool) {
			return NextDelay(schedule, failed, retryAfter, rand.Float64)
		},
		// An attempt cannot legitimately run past its timeout; twice that
		// plus a margin means its worker is gone.
		Stale: 2*timeout + 5*time.Second,
	}
}
