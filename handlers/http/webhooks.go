package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/webhook"
)

type attemptBody struct {
	Delivery       int        `json:"delivery"`
	Attempt        int        `json:"attempt"`
	URL            string     `json:"url"`
	Outcome        string     `json:"outcome"`
	StatusCode     int        `json:"status_code"`
	DurationMS     int64      `json:"duration_ms"`
	Error          string     `json:"error,omitempty"`
	ResponsePrefix string     `json:"response_body_prefix,omitempty"`
	NextAttemptAt  *Timestamp `json:"next_attempt_at"`
	CompletedAt    Timestamp  `json:"completed_at"`
}

// webhookAttempts pages a conversation's webhook attempts, oldest first.
// Attempts are only ever added after the last one, so a cursor naming
// the last attempt shown (delivery and attempt number) keeps its place.
func (s *Server) webhookAttempts(w http.ResponseWriter, r *http.Request) {
	v, e := s.readableConversation(r)
	if e != nil {
		writeError(w, e)
		return
	}
	list := "attempts/" + v.ID
	q, e := s.parsePage(r, list)
	if e != nil {
		writeError(w, e)
		return
	}
	out := []attemptBody{}
	var next *string
	turn := v.Turn
	if wh := v.Webhook; wh != nil {
		turn = max(wh.Turn, 1)
		for _, a := range wh.History {
			key := attemptKey(a.Delivery, a.Attempt)
			if q.after != nil && key <= q.after.ID {
				continue
			}
			if len(out) == q.limit {
				last := out[len(out)-1]
				next = s.sealCursor(pageKey{List: list, ID: attemptKey(last.Delivery, last.Attempt)})
				break
			}
			out = append(out, attemptBody{Delivery: a.Delivery, Attempt: a.Attempt, URL: a.URL, Outcome: a.Outcome,
				StatusCode: a.StatusCode, DurationMS: a.DurationMS, Error: a.Error, ResponsePrefix: a.ResponsePrefix,
				NextAttemptAt: tsp(a.NextAttemptAt), CompletedAt: ts(a.CompletedAt)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation_uuid": v.ID, "webhook_id": webhook.ID(v.ID, turn),
		"attempts": out, "next_cursor": next})
}

// attemptKey orders attempts as strings: delivery, then attempt.
func attemptKey(delivery, attempt int) string { return fmt.Sprintf("%010d.%010d", delivery, attempt) }

func (s *Server) redeliverWebhook(w http.ResponseWriter, r *http.Request) {
	_, v, e := s.heldConversation(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if !v.Terminal() {
		writeError(w, errorf(http.StatusConflict, CodeConflict,
			"Conversation %s is still %s; a webhook can be redelivered once it is resolved or failed.", v.ID, v.Status))
		return
	}
	delivery, pos, err := s.d.Commands.StartWebhookDelivery(r.Context(), commands.StartWebhookDelivery{ConversationID: v.ID, Reason: commands.ReasonRedeliver})
	switch {
	case errors.Is(err, commands.ErrNoResponseURL):
		writeError(w, errorf(http.StatusConflict, CodeConflict,
			"Conversation %s has no webhook: its key had no response_url when the message was accepted.", v.ID))
		return
	case errors.Is(err, webhook.ErrInProgress):
		writeError(w, errorf(http.StatusConflict, CodeConflict,
			"A delivery of conversation %s is still in progress; redeliver once it has been delivered or has failed.", v.ID))
		return
	case err != nil:
		writeError(w, s.internal(r, err))
		return
	}
	s.settle(r, pos)
	writeJSON(w, http.StatusAccepted, map[string]any{"conversation_uuid": v.ID, "webhook_id": webhook.ID(v.ID, v.Turn),
		"delivery": delivery, "status": "pending"})
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	c, v, e := s.managedKey(r)
	if e != nil {
		writeError(w, e)
		return
	}
	out, err := s.d.Commands.RotateSigningSecret(r.Context(), v.ID, c.UserID)
	if err != nil {
		writeError(w, s.commandError(r, err))
		return
	}
	s.settle(r, out.Position)
	writeJSON(w, http.StatusOK, map[string]any{"id": v.ID, "signing_secret": out.SigningSecret,
		"previous_secret_valid_until": ts(out.PreviousValidUntil),
		"warning":                     "Store the new signing secret now: it is shown only once. Deliveries are signed with both secrets until previous_secret_valid_until."})
}
