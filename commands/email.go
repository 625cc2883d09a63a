package commands

import (
	"context"
	"errors"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/email"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// SendEmail sends a mail with a caller-chosen id, once: the queued fact
// claims the send, the sent fact records it, and a repeated call finds
// either and does not mail again. Only a crash between the transport taking
// the mail and the sent fact being recorded sends it twice, with the same
// Message-ID so mail systems can recognise the copy.
func (h *Handler) SendEmail(ctx context.Context, q email.Queued, cause Cause) (email.Email, error) {
	q.QueuedAt = h.now()
	q.Sandbox = cause.Sandbox
	if q.From == "" {
		q.From = h.MailFrom
	}
	var m email.Email
	v, _, err := h.load(ctx, email.Stream(q.EmailID), email.Events, &m)
	if err != nil {
		return m, err
	}
	claimed := false
	if v == 0 {
		facts, err := email.Compose(q)
		if err != nil {
			return m, err
		}
		res, err := h.append(ctx, email.Stream(q.EmailID), es.NoStream, cause.meta(), facts...)
		if err != nil && !isConflict(err) {
			return m, err
		}
		if err == nil {
			v, claimed = res.Version, true
			m.Apply(facts[0])
		} else if v, _, err = h.load(ctx, email.Stream(q.EmailID), email.Events, &m); err != nil {
			return m, err
		}
	}
	if m.Status != email.StatusQueued || m.WorkspaceID != q.WorkspaceID {
		return m, nil // already sent, recorded or failed: report it as it is
	}
	if !claimed {
		// Someone else queued it and may be sending right now: wait for
		// their outcome while their claim can still be alive, and send
		// only once it has lapsed (the sender died).
		var again email.Email
		if v, again, err = h.awaitEmail(ctx, q.EmailID, m.QueuedAt.Add(emailLease)); err != nil || again.Status != email.StatusQueued {
			return again, err
		}
		m = again
	}
	var receipt MailReceipt
	var sendErr error
	if m.Sandbox {
		// A test key's mail is recorded and never handed to a mail server.
		receipt = MailReceipt{Transport: email.TransportSandbox, MessageID: "<" + m.EmailID + "@sandbox>"}
	} else {
		receipt, sendErr = h.Mailer.Send(ctx, MailMessage{ID: m.EmailID, From: m.From, To: m.To, Subject: m.Subject, Body: m.Body})
	}
	if ctx.Err() != nil {
		return m, ctx.Err()
	}
	var fact es.Fact
	if sendErr != nil {
		fact = &email.Failed{Reason: sendErr.Error(), FailedAt: h.now()}
	} else {
		fact = &email.Sent{Transport: receipt.Transport, MessageID: receipt.MessageID, SentAt: h.now()}
	}
	if _, err := h.append(ctx, email.Stream(q.EmailID), v, cause.meta(), fact); err != nil {
		if isConflict(err) {
			var again email.Email
			_, _, _ = h.load(ctx, email.Stream(q.EmailID), email.Events, &again)
			return again, nil
		}
		return m, err
	}
	m.Apply(fact)
	if sendErr != nil {
		return m, &SendFailedError{Reason: sendErr.Error()}
	}
	return m, nil
}

// SendFailedError reports that the mail transport refused the mail.
type SendFailedError struct{ Reason string }

func (e *SendFailedError) Error() string { return "the mail could not be sent: " + e.Reason }

// IsSendFailed reports a transport refusal.
func IsSendFailed(err error) bool {
	var s *SendFailedError
	return errors.As(err, &s)
}

// emailLease is how long a queued email belongs to the worker that queued
// it: longer than any SMTP send may take.
const emailLease = 2 * time.Minute

// awaitEmail polls an email's stream until it is no longer queued or the
// queuing worker's lease ends.
func (h *Handler) awaitEmail(ctx context.Context, id string, until time.Time) (int64, email.Email, error) {
	for {
		var m email.Email
		v, _, err := h.load(ctx, email.Stream(id), email.Events, &m)
		if err != nil || m.Status != email.StatusQueued || !h.now().Before(until) {
			return v, m, err
		}
		select {
		case <-ctx.Done():
			return v, m, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
