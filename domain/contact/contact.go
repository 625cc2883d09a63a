// Package contact is the contact aggregate of a workspace's CRM.
package contact

import (
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Stream names a contact's stream.
func Stream(id string) string { return "contact-" + id }

// Fields are what is known about a contact.
type Fields struct {
	Name    string `json:"name"`
	Company string `json:"company,omitempty"`
	Title   string `json:"title,omitempty"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	City    string `json:"city,omitempty"`
	Notes   string `json:"notes,omitempty"`
}

// Created is the first fact of a contact.
type Created struct {
	ContactID   string `json:"contact_id"`
	WorkspaceID string `json:"workspace_id"`
	Fields      Fields `json:"fields"`
	// Sandbox marks a record made under a test API key: only test keys
	// of the workspace see it (the workspace's live data never holds it).
	Sandbox   bool      `json:"sandbox,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Updated records the contact's fields after a change, in full.
type Updated struct {
	Fields    Fields    `json:"fields"`
	Changed   []string  `json:"changed"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Deleted removes the contact from the workspace.
type Deleted struct {
	DeletedAt time.Time `json:"deleted_at"`
}

func (Created) EventType() string { return "ContactCreated" }
func (Updated) EventType() string { return "ContactUpdated" }
func (Deleted) EventType() string { return "ContactDeleted" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Created], es.Of[Updated], es.Of[Deleted])

// Contact is the state folded from its stream.
type Contact struct {
	ID          string
	WorkspaceID string
	Fields      Fields
	Sandbox     bool
	Deleted     bool
	Version     int64
}

// Apply folds one fact into the state.
func (c *Contact) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Created:
		c.ID, c.WorkspaceID, c.Fields, c.Sandbox = e.ContactID, e.WorkspaceID, e.Fields, e.Sandbox
	case *Updated:
		c.Fields = e.Fields
	case *Deleted:
		c.Deleted = true
	}
}

// Errors.
var (
	ErrNotFound = errors.New("contact not found")
)

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

const maxField = 500

// Normalize trims and validates fields.
func (f Fields) Normalize() (Fields, error) {
	f.Name, f.Company, f.Title = strings.TrimSpace(f.Name), strings.TrimSpace(f.Company), strings.TrimSpace(f.Title)
	f.Email, f.Phone, f.City = strings.TrimSpace(f.Email), strings.TrimSpace(f.Phone), strings.TrimSpace(f.City)
	f.Notes = strings.TrimSpace(f.Notes)
	if f.Name == "" {
		return f, &ValidationError{Field: "name", Reason: "is required"}
	}
	for name, v := range map[string]string{"name": f.Name, "company": f.Company, "title": f.Title, "email": f.Email, "phone": f.Phone, "city": f.City} {
		if utf8.RuneCountInString(v) > maxField {
			return f, &ValidationError{Field: name, Reason: fmt.Sprintf("must be at most %d characters", maxField)}
		}
	}
	if f.Email != "" {
		if a, err := mail.ParseAddress(f.Email); err != nil || a.Address != f.Email {
			return f, &ValidationError{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address", f.Email)}
		}
	}
	return f, nil
}

// Create decides a new contact.
func Create(id, workspaceID string, f Fields, now time.Time) ([]es.Fact, error) {
	f, err := f.Normalize()
	if err != nil {
		return nil, err
	}
	return []es.Fact{&Created{ContactID: id, WorkspaceID: workspaceID, Fields: f, CreatedAt: now}}, nil
}

// Update decides a change; only fields present in patch change.
func (c *Contact) Update(workspaceID string, patch map[string]string, now time.Time) ([]es.Fact, error) {
	if c.ID == "" || c.Deleted || c.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	f := c.Fields
	var changed []string
	for k, v := range patch {
		var p *string
		switch k {
		case "name":
			p = &f.Name
		case "company":
			p = &f.Company
		case "title":
			p = &f.Title
		case "email":
			p = &f.Email
		case "phone":
			p = &f.Phone
		case "city":
			p = &f.City
		case "notes":
			p = &f.Notes
		default:
			return nil, &ValidationError{Field: k, Reason: "is not a contact field"}
		}
		if strings.TrimSpace(v) != *p {
			*p = v
			changed = append(changed, k)
		}
	}
	f, err := f.Normalize()
	if err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return nil, nil
	}
	sort.Strings(changed)
	return []es.Fact{&Updated{Fields: f, Changed: changed, UpdatedAt: now}}, nil
}

// Delete decides a removal.
func (c *Contact) Delete(workspaceID string, now time.Time) ([]es.Fact, error) {
	if c.ID == "" || c.Deleted || c.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	return []es.Fact{&Deleted{DeletedAt: now}}, nil
}
