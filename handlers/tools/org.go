package tools

import (
	"context"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
	"github.com/sois-ai/chat-agent-gateway/projections/org"
)

// MemberOut is a workspace member as the model reads it.
type MemberOut struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
}

// TeamOut is a team with its members.
type TeamOut struct {
	ID           string      `json:"id"`
	Name         string      `json:"name"`
	DepartmentID string      `json:"department_id,omitempty"`
	Department   string      `json:"department,omitempty"`
	Members      []MemberOut `json:"members"`
}

func (c *Catalog) addOrgTools() {
	c.add("list_departments", "List the workspace's departments.",
		`{"type": "object", "properties": {}, "additionalProperties": false}`, c.listDepartments)
	c.add("list_teams", "List teams, optionally of one department or whose name (or department's name) contains a text, with their members and emails.",
		`{"type": "object", "properties": {
  "department_id": {"type": "string"},
  "name":          {"type": "string", "description": "Text to find in the team's or its department's name, e.g. sales"}
}, "additionalProperties": false}`, c.listTeams)
	c.add("get_team", "Get one team by id with its members and their emails.",
		`{"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": false}`, c.getTeam)
	c.add("list_members", "List the people of the workspace (user id, email, role), or of one team.",
		`{"type": "object", "properties": {"team_id": {"type": "string"}}, "additionalProperties": false}`, c.listMembers)
}

func (c *Catalog) members(ctx context.Context, workspaceID string) (map[string]identity.Member, []identity.Member, error) {
	all, err := c.deps.Identity.Members(ctx, workspaceID)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]identity.Member, len(all))
	for _, m := range all {
		byID[m.UserID] = m
	}
	return byID, all, nil
}

func (c *Catalog) teamOut(t org.Team, byID map[string]identity.Member) TeamOut {
	out := TeamOut{ID: t.ID, Name: t.Name, DepartmentID: t.DepartmentID, Department: t.DepartmentName, Members: []MemberOut{}}
	for _, id := range t.MemberIDs {
		if m, ok := byID[id]; ok {
			out.Members = append(out.Members, MemberOut{UserID: m.UserID, Email: m.Email, Role: m.Role})
		}
	}
	return out
}

func (c *Catalog) listDepartments(ctx context.Context, call commands.ToolCall) (any, error) {
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	ds, err := c.deps.Org.Departments(ctx, call.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"count": len(ds), "departments": ds}, nil
}

func (c *Catalog) listTeams(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		DepartmentID string `json:"department_id"`
		Name         string
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	var teams []org.Team
	var err error
	if strings.TrimSpace(a.Name) != "" {
		teams, err = c.deps.Org.FindTeams(ctx, call.WorkspaceID, a.Name)
	} else {
		teams, err = c.deps.Org.Teams(ctx, call.WorkspaceID, a.DepartmentID)
	}
	if err != nil {
		return nil, err
	}
	byID, _, err := c.members(ctx, call.WorkspaceID)
	if err != nil {
		return nil, err
	}
	out := make([]TeamOut, 0, len(teams))
	for _, t := range teams {
		if a.DepartmentID != "" && t.DepartmentID != a.DepartmentID {
			continue
		}
		out = append(out, c.teamOut(t, byID))
	}
	return map[string]any{"count": len(out), "teams": out}, nil
}

func (c *Catalog) getTeam(ctx context.Context, call commands.ToolCall) (any, error) {
	var a idArgs
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	t, err := c.team(ctx, call.WorkspaceID, a.ID)
	if err != nil {
		return nil, err
	}
	byID, _, err := c.members(ctx, call.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"team": c.teamOut(t, byID)}, nil
}

func (c *Catalog) team(ctx context.Context, workspaceID, id string) (org.Team, error) {
	if !isUUID(id) {
		return org.Team{}, userErr("No team has the id %q.", id)
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return org.Team{}, err
	}
	t, ok, err := c.deps.Org.Team(ctx, workspaceID, id)
	if err != nil {
		return t, err
	}
	if !ok {
		return t, userErr("No team has the id %q.", id)
	}
	return t, nil
}

func (c *Catalog) listMembers(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		TeamID string `json:"team_id"`
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	byID, all, err := c.members(ctx, call.WorkspaceID)
	if err != nil {
		return nil, err
	}
	if a.TeamID != "" {
		t, err := c.team(ctx, call.WorkspaceID, a.TeamID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"team": t.Name, "members": c.teamOut(t, byID).Members}, nil
	}
	out := make([]MemberOut, 0, len(all))
	for _, m := range all {
		out = append(out, MemberOut{UserID: m.UserID, Email: m.Email, Role: m.Role})
	}
	return map[string]any{"count": len(out), "members": out}, nil
}
