package commands

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/org"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
)

// CreateDepartment records a department.
func (h *Handler) CreateDepartment(ctx context.Context, workspaceID, name string, cause Cause) (string, es.Position, error) {
	id := NewID()
	facts, err := org.CreateDepartment(id, workspaceID, name, h.now())
	if err != nil {
		return "", es.Position{}, err
	}
	res, err := h.append(ctx, org.DepartmentStream(id), es.NoStream, cause.meta(), facts...)
	return id, res.Position, err
}

// DepartmentExists checks a department of the workspace on its own facts.
func (h *Handler) DepartmentExists(ctx context.Context, workspaceID, id string) (bool, error) {
	recs, err := h.Store.ReadStream(ctx, org.DepartmentStream(id), 0)
	if err != nil || len(recs) == 0 {
		return false, err
	}
	f, err := org.Events.Decode(recs[0])
	if err != nil {
		return false, err
	}
	d, ok := f.(*org.DepartmentCreated)
	return ok && d.WorkspaceID == workspaceID, nil
}

// CreateTeam records a team, optionally inside a department of the workspace.
func (h *Handler) CreateTeam(ctx context.Context, workspaceID, departmentID, name string, cause Cause) (string, es.Position, error) {
	if departmentID != "" {
		ok, err := h.DepartmentExists(ctx, workspaceID, departmentID)
		if err != nil {
			return "", es.Position{}, err
		}
		if !ok {
			return "", es.Position{}, &org.ValidationError{Field: "department_id", Reason: "is not a department of this workspace"}
		}
	}
	id := NewID()
	facts, err := org.CreateTeam(id, workspaceID, departmentID, name, h.now())
	if err != nil {
		return "", es.Position{}, err
	}
	res, err := h.append(ctx, org.TeamStream(id), es.NoStream, cause.meta(), facts...)
	return id, res.Position, err
}

// AddTeamMember puts a workspace member in a team; the membership is
// checked on the workspace's own facts.
func (h *Handler) AddTeamMember(ctx context.Context, workspaceID, teamID, userID string, cause Cause) (es.Position, error) {
	var ws workspace.Workspace
	if _, _, err := h.load(ctx, workspace.Stream(workspaceID), workspace.Events, &ws); err != nil {
		return es.Position{}, err
	}
	if _, ok := ws.Members[userID]; !ok {
		return es.Position{}, &org.ValidationError{Field: "user_id", Reason: "is not a member of this workspace"}
	}
	_, pos, err := decide(ctx, h, org.TeamStream(teamID), org.Events, cause.meta(),
		func(t *org.Team, _ []es.Recorded) ([]es.Fact, error) {
			return t.AddMember(workspaceID, userID, h.now())
		})
	return pos, err
}
