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
	if err != nil {
		return document.Document{}, err
	}
	if _, err := h.append(ctx, document.Stream(id), es.NoStream, cause.meta(), facts...); err != nil && !isConflict(err) {
		return document.Document{}, err
	}
	return h.GetDocument(ctx, id, workspaceID)
}

// GetDocument folds a document from its facts.
func (h *Handler) GetDocument(ctx context.Context, id, workspaceID string) (document.Document, error) {
	var d document.Document
	if _, _, err := h.load(ctx, document.Stream(id), document.Events, &d); err != nil {
		return d, err
	}
	if d.ID == "" || d.WorkspaceID != workspaceID {
		return document.Document{}, document.ErrNotFound
	}
	return d, nil
}

// MoveDocument files a document in another folder.
func (h *Handler) MoveDocument(ctx context.Context, id, workspaceID, to string, cause Cause) (document.Document, error) {
	d, _, err := decide(ctx, h, document.Stream(id), document.Events, cause.meta(),
		func(d *document.Document, _ []es.Recorded) ([]es.Fact, error) {
			return d.Move(workspaceID, to, h.now())
		})
	return d, err
}
