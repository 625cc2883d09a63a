package commands

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
)

// AddMember lets an owner add a person to their workspace.
type AddMember struct {
	WorkspaceID string
	ActorID     string
	Email       string
	Role        workspace.Role
}

// AddedMember carries the new person's token, shown once.
type AddedMember struct {
	UserID, Token string
	Position      es.Position
}

// AddMember decides on the workspace's own facts, so two owners adding the
// same email at once cannot both succeed.
func (h *Handler) AddMember(ctx context.Context, cmd AddMember) (AddedMember, error) {
	out := AddedMember{UserID: NewID(), Token: NewToken()}
	err := retry(ctx, func() error {
		var ws workspace.Workspace
		v, _, err := h.load(ctx, workspace.Stream(cmd.WorkspaceID), workspace.Events, &ws)
		if err != nil {
			return err
		}
		facts, err := ws.AddMember(cmd.ActorID, out.UserID, cmd.Email, cmd.Role, HashSecret(out.Token), h.now())
		if err != nil {
			return err
		}
		res, err := h.append(ctx, workspace.Stream(cmd.WorkspaceID), v,
			es.Metadata{CorrelationID: cmd.WorkspaceID, Actor: es.Actor{Kind: "user", ID: cmd.ActorID}}, facts...)
		out.Position = res.Position
		return err
	})
	return out, err
}
