// Package org is the organisation of a workspace: departments, and teams
// (optionally inside a department) whose members are workspace members.
package org

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// DepartmentStream names a department's stream.
func DepartmentStream(id string) string { return "department-" + id }

// TeamStream names a team's stream.
func TeamStream(id string) string { return "team-" + id }

// DepartmentCreated is the first fact of a department.
type DepartmentCreated struct {
	DepartmentID string    `json:"department_id"`
	WorkspaceID  string    `json:"workspace_id"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"created_at"`
}

// TeamCreated is the first fact of a team.
type TeamCreated struct {
	TeamID       string    `json:"team_id"`
	WorkspaceID  string    `json:"workspace_id"`
	DepartmentID string    `json:"department_id,omitempty"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"created_at"`
}

// TeamMemberAdded puts a workspace member in a team.
type TeamMemberAdded struct {
	UserID  string    `json:"user_id"`
	AddedAt time.Time `json:"added_at"`
}

// TeamMemberRemoved takes a member out of a team.
type TeamMemberRemoved struct {
	UserID    string    `json:"user_id"`
	RemovedAt time.Time `json:"removed_at"`
}

func (DepartmentCreated) EventType() string { return "DepartmentCreated" }
func (TeamCreated) EventType() string       { return "TeamCreated" }
func (TeamMemberAdded) EventType() string   { return "TeamMemberAdded" }
func (TeamMemberRemoved) EventType() string { return "TeamMemberRemoved" }

// Events decodes this package's facts.
var Events = es.Registered(
	es.Of[DepartmentCreated], es.Of[TeamCreated], es.Of[TeamMemberAdded], es.Of[TeamMemberRemoved],
)

// Errors callers act on.
var (
	ErrNotFound = errors.New("not found")
)

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", &ValidationError{Field: "name", Reason: "is required"}
	}
	if utf8.RuneCountInString(name) > 200 {
		return "", &ValidationError{Field: "name", Reason: fmt.Sprintf("must be at most %d characters", 200)}
	}
	return name, nil
}

// CreateDepartment decides a new department.
func CreateDepartment(id, workspaceID, name string, now time.Time) ([]es.Fact, error) {
	name, err := validName(name)
	if err != nil {
		return nil, err
	}
	return []es.Fact{&DepartmentCreated{DepartmentID: id, WorkspaceID: workspaceID, Name: name, CreatedAt: now}}, nil
}

// Team is the state folded from a team's stream.
type Team struct {
	ID, WorkspaceID, DepartmentID, Name string
	Members                             map[string]bool
}

// Apply folds one fact.
func (t *Team) Apply(f es.Fact) {
	switch e := f.(type) {
	case *TeamCreated:
		t.ID, t.WorkspaceID, t.DepartmentID, t.Name = e.TeamID, e.WorkspaceID, e.DepartmentID, e.Name
		t.Members = map[string]bool{}
	case *TeamMemberAdded:
		t.Members[e.UserID] = true
	case *TeamMemberRemoved:
		delete(t.Members, e.UserID)
	}
}

// CreateTeam decides a new team.
func CreateTeam(id, workspaceID, departmentID, name string, now time.Time) ([]es.Fact, error) {
	name, err := validName(name)
	if err != nil {
		return nil, err
	}
	return []es.Fact{&TeamCreated{TeamID: id, WorkspaceID: workspaceID, DepartmentID: departmentID, Name: name, CreatedAt: now}}, nil
}

// AddMember decides putting a member in the team; adding twice changes nothing.
func (t *Team) AddMember(workspaceID, userID string, now time.Time) ([]es.Fact, error) {
	if t.ID == "" || t.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	if t.Members[userID] {
		return nil, nil
	}
	return []es.Fact{&TeamMemberAdded{UserID: userID, AddedAt: now}}, nil
}
