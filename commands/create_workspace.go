package commands

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
)

// CreateWorkspace opens a workspace with its first owner.
type CreateWorkspace struct {
	Name       string
	OwnerEmail string
}

// CreatedWorkspace carries the owner's token, shown once.
type CreatedWorkspace struct {
	WorkspaceID, UserID, Token string
	Position                   es.Position
}

// CreateWorkspace decides and records a new workspace.
func (h *Handler) CreateWorkspace(ctx context.Context, cmd CreateWorkspace) (CreatedWorkspace, error) {
	out := CreatedWorkspace{WorkspaceID: NewID(), UserID: NewID(), Token: NewToken()}
	facts, err := workspace.Create(out.WorkspaceID, cmd.Name, out.UserID, cmd.OwnerEmail, HashSecret(out.Token), h.now())
	if err != nil {
		return CreatedWorkspace{}, err
	}
	res, err := h.append(ctx, workspace.Stream(out.WorkspaceID), es.NoStream,
		es.Metadata{CorrelationID: out.WorkspaceID, Actor: es.Actor{Kind: "admin"}}, facts...)
	out.Position = res.Position
	return out, err
}
