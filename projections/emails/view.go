// Package emails is the read model of the mail the agent sent: one row per
// email of a workspace, with its delivery status, listable by recipient,
// contact or text without replaying streams.
package emails

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/email"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "emails"

const streamPrefix = "email-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Table: "emails", Columns: columns, Scan: scanView, Save: projections.EachSave(upsert),
}

// View is one email as the tools read it.
type View struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspace_id"`
	From        string   `json:"from"`
	To          []string `json:"to"` // never nil
	Subject     string   `json:"subject"`
	Body        string   `json:"body"`
	ContactIDs  []string `json:"contact_ids"` // never nil
	TeamID      string   `json:"team_id"`
	// Status is "queued", "sent", "outbox" (recorded without an SMTP
	// server) or "failed".
	Status        string     `json:"status"`
	Transport     string     `json:"transport"`
	MessageID     string     `json:"message_id"`
	FailureReason string     `json:"failure_reason"` // set while Status is "failed"
	QueuedAt      time.Time  `json:"queued_at"`
	SentAt        *time.Time `json:"sent_at"`
	Version       int64      `json:"version"`
}

// Filter narrows a listing. Every non-blank field must match (AND); the text
// fields are case-insensitive substrings taken literally (no wildcards),
// because the values come from a model's tool call and must not be able to
// widen the match.
type Filter struct {
	// To is part of any one recipient's address.
	To string `json:"to,omitempty"`
	// ContactID keeps the mails sent to this contact (exact id).
	ContactID string `json:"contact_id,omitempty"`
	// Query is part of the subject or the body.
	Query string `json:"query,omitempty"`
	// Limit defaults to DefaultLimit and is capped at MaxLimit, so a tool
	// result never floods the model's context.
	Limit int `json:"limit,omitempty"`
}

// Limits of List.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// normalized trims the terms and settles the limit.
func (f Filter) normalized() Filter {
	f.To, f.ContactID, f.Query = strings.TrimSpace(f.To), strings.TrimSpace(f.ContactID), strings.TrimSpace(f.Query)
	switch {
	case f.Limit <= 0:
		f.Limit = DefaultLimit
	case f.Limit > MaxLimit:
		f.Limit = MaxLimit
	}
	return f
}

// matches is the memory twin of the Postgres conditions.
func (f Filter) matches(v View) bool {
	return (f.To == "" || slices.ContainsFunc(v.To, func(a string) bool { return projections.ContainsFold(a, f.To) })) &&
		(f.ContactID == "" || slices.Contains(v.ContactIDs, f.ContactID)) &&
		(projections.ContainsFold(v.Subject, f.Query) || projections.ContainsFold(v.Body, f.Query))
}

// newer is List's order: newest first, and for mails queued at the same
// instant the greater id first.
func newer(a, b View) bool {
	if !a.QueuedAt.Equal(b.QueuedAt) {
		return a.QueuedAt.After(b.QueuedAt)
	}
	return a.ID > b.ID
}

// list copies a slice, never nil, so views never share (or lose) their lists.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// Fold applies one recorded email event to a view. It skips events the view
// already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
//
// The status follows the domain: EmailSent makes it "sent", or "outbox"
// when the transport is the outbox; EmailFailed makes it "failed" with the
// reason. A mail sent after a failed attempt drops the old reason.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	if rec.StreamVersion <= v.Version {
		return false, nil
	}
	if rec.StreamVersion != v.Version+1 {
		return false, projections.GapError(rec.Stream, v.Version, rec.StreamVersion)
	}
	f, err := email.Events.Decode(rec)
	if err != nil {
		return false, err
	}
	if _, queued := f.(*email.Queued); queued != (v.Version == 0) {
		// Without its Queued event a view has no id or workspace to be
		// found by; a second Queued would silently reset it.
		return false, fmt.Errorf("stream %s version %d: %s out of place", rec.Stream, rec.StreamVersion, rec.Type)
	}
	switch e := f.(type) {
	case *email.Queued:
		// The stream names the email: it is what later events and Get find
		// the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, From: e.From, To: list(e.To), Subject: e.Subject,
			Body: e.Body, ContactIDs: list(e.ContactIDs), TeamID: e.TeamID, Status: string(email.StatusQueued),
			QueuedAt: projections.Stamp(e.QueuedAt)}
	case *email.Sent:
		at := projections.Stamp(e.SentAt)
		v.Status, v.Transport, v.MessageID, v.FailureReason, v.SentAt = string(email.StatusSent), e.Transport, e.MessageID, "", &at
		if e.Transport == "outbox" {
			v.Status = string(email.StatusOutbox)
		}
	case *email.Failed:
		v.Status, v.FailureReason = string(email.StatusFailed), e.Reason
	}
	v.Version = rec.StreamVersion
	return true, nil
}
