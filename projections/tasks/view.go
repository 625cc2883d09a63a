// Package tasks is the read model behind the agent's task tools: one row per
// task of a workspace, listable by status without replaying streams.
package tasks

import (
	"fmt"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "tasks"

const streamPrefix = "task-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Table: "tasks", Columns: columns, Scan: scanView, Save: upsertMany,
}

// View is one task as the tools read it.
type View struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	DueDate     string     `json:"due_date"`    // YYYY-MM-DD or empty
	AssigneeID  string     `json:"assignee_id"` // the member the task is assigned to, or empty
	Status      string     `json:"status"`      // "open" | "done"
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at"`
	Version     int64      `json:"version"`
}

// Filter narrows a listing.
type Filter struct {
	// Status is "open", "done", or "" / "all" for both.
	Status string `json:"status,omitempty"`
	// Query is a case-insensitive substring of the title or description,
	// taken literally (no wildcards).
	Query string `json:"query,omitempty"`
	// AssigneeID keeps only the tasks assigned to this member (exact id);
	// empty means any assignee or none.
	AssigneeID string `json:"assignee_id,omitempty"`
	// Limit defaults to DefaultLimit and is capped at MaxLimit, so a tool
	// result never floods the model's context.
	Limit int `json:"limit,omitempty"`
}

// Limits of List.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// ErrInvalidStatus is returned for a status filter other than open, done or
// all: silently listing nothing would read to the model as "no tasks".
var ErrInvalidStatus = fmt.Errorf("task status filter must be %q, %q or %q", task.Open, task.Done, "all")

// normalized settles the filter: "all" becomes "", the query is trimmed and
// the limit bounded.
func (f Filter) normalized() (Filter, error) {
	f.Status = strings.ToLower(strings.TrimSpace(f.Status))
	switch f.Status {
	case "", "all":
		f.Status = ""
	case string(task.Open), string(task.Done):
	default:
		return f, fmt.Errorf("%w, not %q", ErrInvalidStatus, f.Status)
	}
	f.Query, f.AssigneeID = strings.TrimSpace(f.Query), strings.TrimSpace(f.AssigneeID)
	switch {
	case f.Limit <= 0:
		f.Limit = DefaultLimit
	case f.Limit > MaxLimit:
		f.Limit = MaxLimit
	}
	return f, nil
}

// Fold applies one recorded task event to a view. It skips events the view
// already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	if rec.StreamVersion <= v.Version {
		return false, nil
	}
	if rec.StreamVersion != v.Version+1 {
		return false, projections.GapError(rec.Stream, v.Version, rec.StreamVersion)
	}
	f, err := task.Events.Decode(rec)
	if err != nil {
		return false, err
	}
	if _, created := f.(*task.Created); created != (v.Version == 0) {
		// Without its Created event a view has no id or workspace to be
		// found by; a second Created would silently reset it.
		return false, fmt.Errorf("stream %s version %d: %s out of place", rec.Stream, rec.StreamVersion, rec.Type)
	}
	switch e := f.(type) {
	case *task.Created:
		// The stream names the task: it is what later events and Get find
		// the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, Title: e.Title, Description: e.Description,
			DueDate: e.DueDate, Status: string(task.Open), CreatedAt: projections.Stamp(e.CreatedAt)}
	case *task.Completed:
		at := projections.Stamp(e.CompletedAt)
		v.Status, v.CompletedAt = string(task.Done), &at
	case *task.Assigned:
		v.AssigneeID = e.AssigneeID
	case *task.DueDateSet:
		v.DueDate = e.DueDate
	}
	v.Version = rec.StreamVersion
	return true, nil
}
