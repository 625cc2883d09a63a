package org

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the organisation read model: a projection plus its queries.
// Every query is scoped to one workspace, so a tool can never see another
// tenant's departments or teams. Lists are ordered by name, then id
// (byte-wise, so both stores agree).
type Store interface {
	projections.Projection
	// Departments returns the workspace's departments with their team counts.
	Departments(ctx context.Context, workspaceID string) ([]Department, error)
	// Department returns one department of the workspace.
	Department(ctx context.Context, workspaceID, id string) (Department, bool, error)
	// Teams returns the workspace's teams, only those of one department
	// unless departmentID is empty.
	Teams(ctx context.Context, workspaceID, departmentID string) ([]Team, error)
	// Team returns one team of the workspace.
	Team(ctx context.Context, workspaceID, id string) (Team, bool, error)
	// FindTeams returns the teams whose name, or whose department's name,
	// holds name as a case-insensitive substring, taken literally (no
	// wildcards); a blank name finds every team.
	FindTeams(ctx context.Context, workspaceID, name string) ([]Team, error)
	// TeamsOf returns the teams the user is a member of.
	TeamsOf(ctx context.Context, workspaceID, userID string) ([]Team, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct {
	projections.MemoryLock
	departments map[string]Department
	teams       map[string]Team
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{departments: map[string]Department{}, teams: map[string]Team{}}
}

func (m *Memory) Name() string { return Name }

// Apply folds the batch into copies and swaps them in only if every event
// folded, so a refused batch leaves the store as it was, like the Postgres
// transaction does.
func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	departments, teams := projections.Stage(m.departments, nil), projections.Stage(m.teams, nil)
	cp := m.Cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		var err error
		switch {
		case isDepartment(rec):
			err = departments.Fold(departmentIDOf(rec), rec, FoldDepartment)
		case isTeam(rec):
			err = teams.Fold(teamIDOf(rec), rec, FoldTeam)
		}
		if err != nil {
			return err
		}
		cp = rec.Position
	}
	departments.Commit(nil)
	teams.Commit(nil)
	m.Cp = cp
	return nil
}

// department completes a stored department for a query; m.mu is held.
func (m *Memory) department(d Department) Department {
	d.Teams = 0
	for _, t := range m.teams {
		if t.WorkspaceID == d.WorkspaceID && t.DepartmentID == d.ID {
			d.Teams++
		}
	}
	return d
}

// team completes a stored team for a query; m.mu is held. The members are
// copied so the caller cannot change the store.
func (m *Memory) team(t Team) Team {
	t.DepartmentName = ""
	if d, ok := m.departments[t.DepartmentID]; ok && t.DepartmentID != "" && d.WorkspaceID == t.WorkspaceID {
		t.DepartmentName = d.Name
	}
	t.MemberIDs = slices.Clone(t.MemberIDs)
	if t.MemberIDs == nil {
		t.MemberIDs = []string{}
	}
	return t
}

func (m *Memory) Departments(_ context.Context, workspaceID string) ([]Department, error) {
	m.Mu.RLock()
	out := []Department{}
	for _, d := range m.departments {
		if d.WorkspaceID == workspaceID {
			out = append(out, m.department(d))
		}
	}
	m.Mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return byName(out[i].Name, out[i].ID, out[j].Name, out[j].ID) })
	return out, nil
}

func (m *Memory) Department(_ context.Context, workspaceID, id string) (Department, bool, error) {
	m.Mu.RLock()
	defer m.Mu.RUnlock()
	d, ok := m.departments[id]
	if !ok || d.WorkspaceID != workspaceID {
		return Department{}, false, nil
	}
	return m.department(d), true, nil
}

// teams returns the workspace's teams that keep says to, completed and
// ordered.
func (m *Memory) teamsWhere(workspaceID string, keep func(Team) bool) []Team {
	m.Mu.RLock()
	out := []Team{}
	for _, t := range m.teams {
		if t.WorkspaceID != workspaceID {
			continue
		}
		if t = m.team(t); keep(t) {
			out = append(out, t)
		}
	}
	m.Mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return byName(out[i].Name, out[i].ID, out[j].Name, out[j].ID) })
	return out
}

func (m *Memory) Teams(_ context.Context, workspaceID, departmentID string) ([]Team, error) {
	departmentID = strings.TrimSpace(departmentID)
	return m.teamsWhere(workspaceID, func(t Team) bool {
		return departmentID == "" || t.DepartmentID == departmentID
	}), nil
}

func (m *Memory) Team(_ context.Context, workspaceID, id string) (Team, bool, error) {
	m.Mu.RLock()
	defer m.Mu.RUnlock()
	t, ok := m.teams[id]
	if !ok || t.WorkspaceID != workspaceID {
		return Team{}, false, nil
	}
	return m.team(t), true, nil
}

func (m *Memory) FindTeams(_ context.Context, workspaceID, name string) ([]Team, error) {
	name = strings.TrimSpace(name)
	return m.teamsWhere(workspaceID, func(t Team) bool {
		return projections.ContainsFold(t.Name, name) || projections.ContainsFold(t.DepartmentName, name)
	}), nil
}

func (m *Memory) TeamsOf(_ context.Context, workspaceID, userID string) ([]Team, error) {
	return m.teamsWhere(workspaceID, func(t Team) bool {
		_, found := slices.BinarySearch(t.MemberIDs, userID)
		return found
	}), nil
}

// byName is the order of every list: name, then id, byte-wise.
func byName(nameA, idA, nameB, idB string) bool {
	if nameA != nameB {
		return nameA < nameB
	}
	return idA < idB
}
