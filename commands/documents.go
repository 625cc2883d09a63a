package commands

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/document"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// CreateDocument records a document with a caller-chosen id; the same id
// twice returns the first document.
func (h *Handler) CreateDocument(ctx context.Context, id, workspaceID, title, folder, body, createdBy string, cause Cause) (document.Document, error) {
	facts, err := document.Create(id, workspaceID, title, folder, body, createdBy, h.now())
	if err == nil {
		facts[0].(*document.Created).Sandbox = cause.Sandbox
		err = h.createOnce(ctx, document.Stream(id), cause.meta(), facts)
	}
	if err != nil {
		return document.Document{}, err
	}
	return h.GetDocument(ctx, id, workspaceID, cause.Sandbox)
}

// GetDocument folds a document from its facts, on the caller's side (live
// or sandbox).
func (h *Handler) GetDocument(ctx context.Context, id, workspaceID string, sandbox bool) (document.Document, error) {
	return found(ctx, h, document.Stream(id), document.Events, document.ErrNotFound,
		func(d *document.Document) bool {
			return d.ID != "" && d.WorkspaceID == workspaceID && d.Sandbox == sandbox
		})
}

// MoveDocument files a document in another folder.
func (h *Handler) MoveDocument(ctx context.Context, id, workspaceID, to string, cause Cause) (document.Document, error) {
	d, _, err := decide(ctx, h, document.Stream(id), document.Events, cause.meta(),
		func(d *document.Document, _ []es.Recorded) ([]es.Fact, error) {
			if d.ID != "" && d.Sandbox != cause.Sandbox {
				return nil, document.ErrNotFound
			}
			return d.Move(workspaceID, to, h.now())
		})
	return d, err
}
