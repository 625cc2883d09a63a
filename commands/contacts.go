package commands

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Cause says who asked for a workspace change and why; tool calls pass
// their own CauseID so a repeated call finds its earlier effect.
type Cause struct {
	CorrelationID string
	CausationID   string
	Actor         es.Actor
	// Sandbox is set for work under a test API key: what it makes is
	// marked sandbox, and it finds and changes only sandbox records (a
	// live record is "not found" to it, and a sandbox record to live work).
	Sandbox bool
}

func (c Cause) meta() es.Metadata {
	return es.Metadata{CorrelationID: c.CorrelationID, CausationID: c.CausationID, Actor: c.Actor}
}

// CreateContact records a contact with a caller-chosen id; creating the same
// id twice returns the first contact unchanged.
func (h *Handler) CreateContact(ctx context.Context, id, workspaceID string, f contact.Fields, cause Cause) (contact.Contact, error) {
	facts, err := contact.Create(id, workspaceID, f, h.now())
	if err == nil {
		facts[0].(*contact.Created).Sandbox = cause.Sandbox
		err = h.createOnce(ctx, contact.Stream(id), cause.meta(), facts)
	}
	if err != nil {
		return contact.Contact{}, err
	}
	return found(ctx, h, contact.Stream(id), contact.Events, contact.ErrNotFound,
		func(c *contact.Contact) bool { return c.WorkspaceID == workspaceID && c.Sandbox == cause.Sandbox })
}

// GetContact folds a contact from its facts (for consistent reads), on
// the side (live or sandbox) the caller works on.
func (h *Handler) GetContact(ctx context.Context, id, workspaceID string, sandbox bool) (contact.Contact, error) {
	return found(ctx, h, contact.Stream(id), contact.Events, contact.ErrNotFound,
		func(c *contact.Contact) bool {
			return c.ID != "" && !c.Deleted && c.WorkspaceID == workspaceID && c.Sandbox == sandbox
		})
}

// UpdateContact changes the given fields, once per cause.
func (h *Handler) UpdateContact(ctx context.Context, id, workspaceID string, patch map[string]string, cause Cause) (contact.Contact, error) {
	return h.changeContact(ctx, id, cause, func(c *contact.Contact) ([]es.Fact, error) { return c.Update(workspaceID, patch, h.now()) })
}

// DeleteContact removes a contact, once per cause.
func (h *Handler) DeleteContact(ctx context.Context, id, workspaceID string, cause Cause) (contact.Contact, error) {
	return h.changeContact(ctx, id, cause, func(c *contact.Contact) ([]es.Fact, error) { return c.Delete(workspaceID, h.now()) })
}

// changeContact decides a change to a contact once per cause: a cause the
// stream already holds changes nothing and returns the contact as it is.
func (h *Handler) changeContact(ctx context.Context, id string, cause Cause, fn func(*contact.Contact) ([]es.Fact, error)) (contact.Contact, error) {
	c, _, err := decide(ctx, h, contact.Stream(id), contact.Events, cause.meta(),
		func(c *contact.Contact, recs []es.Recorded) ([]es.Fact, error) {
			if cause.CausationID != "" && causedBy(recs, cause.CausationID) {
				return nil, nil
			}
			if c.ID != "" && c.Sandbox != cause.Sandbox {
				return nil, contact.ErrNotFound
			}
			return fn(c)
		})
	return c, err
}
