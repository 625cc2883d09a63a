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
		err = h.createOnce(ctx, document.Stream(id), cause.meta(), facts)
	}
	if err != nil {
		return document.Document{}, err
	}
	return h.GetDocument(ctx, id, workspaceID)
}

// GetDocument folds a document from its facts.
func (h *Handler) GetDocument(ctx context.Context, id, workspaceID string) (document.Document, error) {
	return found(ctx, h, document.Stream(id), document.Events, document.ErrNotFound,
		func(d *document.Document) bool { return d.ID != "" && d.WorkspaceID == workspaceID })
}

// MoveDocument files a document in another folder.
func (h *Handler) MoveDocument(ctx context.Context, id, workspaceID, to string, cause Cause) (document.Document, error) {
	d, _, err := decide(ctx, h, document.Stream(id), document.Events, cause.meta(),
		func(d *document.Document, _ []es.Recorded) ([]es.Fact, error) {
			return d.Move(workspaceID, to, h.now())
		})
	return d, err
}
