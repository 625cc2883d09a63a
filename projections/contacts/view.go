// Package contacts is the read model the agent's tools search: one row per
// contact of a workspace, with the fields flattened so they can be matched
// without replaying streams.
package contacts

import (
	"fmt"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "contacts"

const streamPrefix = "contact-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Table: "contacts", Columns: columns, Scan: scanView, Save: upsertMany,
}

// View is one contact as the tools read it. Deleted contacts keep their row
// (and version) so that a replayed event is still recognised as already
// applied; queries hide them.
type View struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	Company     string    `json:"company"`
	Title       string    `json:"title"`
	Email       string    `json:"email"`
	Phone       string    `json:"phone"`
	City        string    `json:"city"`
	Notes       string    `json:"notes"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Deleted     bool      `json:"deleted"`
	Version     int64     `json:"version"`
}

// Filter narrows a search. Every non-blank field must match (AND); each is a
// case-insensitive substring, taken literally (no wildcards), because the
// values come from a model's tool call and must not be able to widen the
// match.
type Filter struct {
	// Query matches any of name, company, city, email, title or notes.
	Query   string `json:"query,omitempty"`
	Name    string `json:"name,omitempty"`
	Company string `json:"company,omitempty"`
	City    string `json:"city,omitempty"`
	Email   string `json:"email,omitempty"`
	// Limit defaults to DefaultLimit and is capped at MaxLimit, so a tool
	// result never floods the model's context.
	Limit int `json:"limit,omitempty"`
}

// Limits of Search.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// normalized trims the terms, so a stray space from a tool call does not turn
// into a term that matches nothing, and settles the limit.
func (f Filter) normalized() Filter {
	f.Query, f.Name, f.Company = strings.TrimSpace(f.Query), strings.TrimSpace(f.Name), strings.TrimSpace(f.Company)
	f.City, f.Email = strings.TrimSpace(f.City), strings.TrimSpace(f.Email)
	switch {
	case f.Limit <= 0:
		f.Limit = DefaultLimit
	case f.Limit > MaxLimit:
		f.Limit = MaxLimit
	}
	return f
}

// Fold applies one recorded contact event to a view. It skips events the
// view already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	if rec.StreamVersion <= v.Version {
		return false, nil
	}
	if rec.StreamVersion != v.Version+1 {
		return false, projections.GapError(rec.Stream, v.Version, rec.StreamVersion)
	}
	f, err := contact.Events.Decode(rec)
	if err != nil {
		return false, err
	}
	if _, created := f.(*contact.Created); created != (v.Version == 0) {
		// Without its Created event a view has no id or workspace to be
		// found by; a second Created would silently reset it.
		return false, fmt.Errorf("stream %s version %d: %s out of place", rec.Stream, rec.StreamVersion, rec.Type)
	}
	switch e := f.(type) {
	case *contact.Created:
		at := projections.Stamp(e.CreatedAt)
		// The stream names the contact: it is what later events and Get
		// find the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, CreatedAt: at, UpdatedAt: at}
		v.setFields(e.Fields)
	case *contact.Updated:
		v.setFields(e.Fields)
		v.UpdatedAt = projections.Stamp(e.UpdatedAt)
	case *contact.Deleted:
		v.Deleted = true
		v.UpdatedAt = projections.Stamp(e.DeletedAt)
	}
	v.Version = rec.StreamVersion
	return true, nil
}

func (v *View) setFields(f contact.Fields) {
	v.Name, v.Company, v.Title, v.Email = f.Name, f.Company, f.Title, f.Email
	v.Phone, v.City, v.Notes = f.Phone, f.City, f.Notes
}
