// Package org is the read model of a workspace's organisation: its
// departments, and its teams with their members, so the agent's tools can
// answer "who is in which team" without replaying streams.
package org

import (
	"slices"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/org"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "org"

const (
	departmentPrefix = "department-"
	teamPrefix       = "team-"
)

// Department is one department as the tools read it.
type Department struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
	// Teams counts the workspace's teams in this department; queries fill
	// it in, Fold leaves it alone.
	Teams int `json:"teams"`
	// Version is the stream version of the last event folded in.
	Version int64 `json:"version"`
}

// Team is one team as the tools read it.
type Team struct {
	ID           string `json:"id"`
	WorkspaceID  string `json:"workspace_id"`
	DepartmentID string `json:"department_id"` // empty for a team outside any department
	// DepartmentName is the name of the team's department, filled in by
	// queries; empty when the department is unknown (not in the log yet, or
	// in another workspace).
	DepartmentName string `json:"department_name"`
	Name           string `json:"name"`
	// MemberIDs are the user ids of the members, sorted byte-wise; never nil.
	MemberIDs []string  `json:"member_ids"`
	CreatedAt time.Time `json:"created_at"`
	Version   int64     `json:"version"`
}

func isDepartment(rec es.Recorded) bool { return strings.HasPrefix(rec.Stream, departmentPrefix) }

func isTeam(rec es.Recorded) bool { return strings.HasPrefix(rec.Stream, teamPrefix) }

func isOrg(rec es.Recorded) bool { return isDepartment(rec) || isTeam(rec) }

func departmentIDOf(rec es.Recorded) string { return strings.TrimPrefix(rec.Stream, departmentPrefix) }

func teamIDOf(rec es.Recorded) string { return strings.TrimPrefix(rec.Stream, teamPrefix) }

// decode checks the stream version and decodes the event: ok is false for an
// event the view already holds.
func decode(version int64, rec es.Recorded) (f es.Fact, ok bool, err error) {
	return projections.Next(version, rec, org.Events, nil)
}

// FoldDepartment applies one recorded event of a department stream. It skips
// events the view already holds and refuses to jump over a missing one, so
// replays are harmless and a lost event stops the projection instead of
// hiding. A department stream holds only its DepartmentCreated for now;
// anything else in it is refused.
func FoldDepartment(d *Department, rec es.Recorded) (changed bool, err error) {
	f, ok, err := decode(d.Version, rec)
	if err != nil || !ok {
		return false, err
	}
	e, created := f.(*org.DepartmentCreated)
	if !created || d.Version != 0 {
		return false, projections.OutOfPlace(rec)
	}
	// The stream names the department, whatever the payload says.
	*d = Department{ID: departmentIDOf(rec), WorkspaceID: e.WorkspaceID, Name: e.Name, CreatedAt: projections.Stamp(e.CreatedAt),
		Version: rec.StreamVersion}
	return true, nil
}

// FoldTeam applies one recorded event of a team stream, with the same
// version checks as FoldDepartment. It never changes t.MemberIDs in place:
// a view handed out earlier keeps its members.
func FoldTeam(t *Team, rec es.Recorded) (changed bool, err error) {
	f, ok, err := decode(t.Version, rec)
	if err != nil || !ok {
		return false, err
	}
	switch f.(type) {
	case *org.TeamCreated:
		if t.Version != 0 {
			return false, projections.OutOfPlace(rec) // a second TeamCreated would reset the team
		}
	case *org.TeamMemberAdded, *org.TeamMemberRemoved:
		if t.Version == 0 {
			return false, projections.OutOfPlace(rec) // without TeamCreated there is no team to join
		}
	default:
		return false, projections.OutOfPlace(rec)
	}
	switch e := f.(type) {
	case *org.TeamCreated:
		*t = Team{ID: teamIDOf(rec), WorkspaceID: e.WorkspaceID, DepartmentID: e.DepartmentID, Name: e.Name,
			MemberIDs: []string{}, CreatedAt: projections.Stamp(e.CreatedAt)}
	case *org.TeamMemberAdded:
		if i, found := slices.BinarySearch(t.MemberIDs, e.UserID); !found {
			t.MemberIDs = slices.Insert(slices.Clone(t.MemberIDs), i, e.UserID)
		}
	case *org.TeamMemberRemoved:
		if i, found := slices.BinarySearch(t.MemberIDs, e.UserID); found {
			t.MemberIDs = slices.Delete(slices.Clone(t.MemberIDs), i, i+1)
		}
	}
	t.Version = rec.StreamVersion
	return true, nil
}

// escapeLike makes the text match literally: % and _ would otherwise be
// wildcards, and the escape character itself must be escaped first.
