// Package task is the task aggregate of a workspace.
package task

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Stream names a task's stream.
func Stream(id string) string { return "task-" + id }

// Status of a task.
type Status string

const (
	Open Status = "open"
	Done Status = "done"
)

// Created is the first fact of a task.
type Created struct {
	TaskID      string `json:"task_id"`
	WorkspaceID string `json:"workspace_id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	DueDate     string `json:"due_date,omitempty"` // YYYY-MM-DD
	CreatedBy   string `json:"created_by,omitempty"`
	// Sandbox marks a record made under a test API key: only test keys
	// of the workspace see it (the workspace's live data never holds it).
	Sandbox   bool      `json:"sandbox,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Completed marks the task done.
type Completed struct {
	CompletedAt time.Time `json:"completed_at"`
}

// Assigned gives the task to a workspace member.
type Assigned struct {
	AssigneeID string    `json:"assignee_id"`
	AssignedAt time.Time `json:"assigned_at"`
}

// DueDateSet changes when the task is due ("" clears it).
type DueDateSet struct {
	DueDate string    `json:"due_date"`
	SetAt   time.Time `json:"set_at"`
}

func (Created) EventType() string    { return "TaskCreated" }
func (Completed) EventType() string  { return "TaskCompleted" }
func (Assigned) EventType() string   { return "TaskAssigned" }
func (DueDateSet) EventType() string { return "TaskDueDateSet" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Created], es.Of[Completed], es.Of[Assigned], es.Of[DueDateSet])

// Task is the state folded from its stream.
type Task struct {
	ID, WorkspaceID, Title, Description, DueDate string
	AssigneeID                                   string
	Sandbox                                      bool
	Status                                       Status
	Version                                      int64
}

// Apply folds one fact into the state.
func (t *Task) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Created:
		t.ID, t.WorkspaceID, t.Title, t.Description, t.DueDate = e.TaskID, e.WorkspaceID, e.Title, e.Description, e.DueDate
		t.Sandbox = e.Sandbox
		t.Status = Open
	case *Completed:
		t.Status = Done
	case *Assigned:
		t.AssigneeID = e.AssigneeID
	case *DueDateSet:
		t.DueDate = e.DueDate
	}
}

// ErrNotFound is returned for tasks outside the caller's workspace too.
var ErrNotFound = errors.New("task not found")

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

// Create decides a new task.
func Create(id, workspaceID, title, description, dueDate, createdBy string, now time.Time) ([]es.Fact, error) {
	title, description, dueDate = strings.TrimSpace(title), strings.TrimSpace(description), strings.TrimSpace(dueDate)
	if title == "" {
		return nil, &ValidationError{Field: "title", Reason: "is required"}
	}
	if utf8.RuneCountInString(title) > 500 {
		return nil, &ValidationError{Field: "title", Reason: "must be at most 500 characters"}
	}
	if dueDate != "" {
		if _, err := time.Parse("2006-01-02", dueDate); err != nil {
			return nil, &ValidationError{Field: "due_date", Reason: fmt.Sprintf("must be a date as YYYY-MM-DD, not %q", dueDate)}
		}
	}
	return []es.Fact{&Created{TaskID: id, WorkspaceID: workspaceID, Title: title, Description: description,
		DueDate: dueDate, CreatedBy: createdBy, CreatedAt: now}}, nil
}

// Complete decides marking the task done; completing twice changes nothing.
func (t *Task) Complete(workspaceID string, now time.Time) ([]es.Fact, error) {
	if t.ID == "" || t.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	if t.Status == Done {
		return nil, nil
	}
	return []es.Fact{&Completed{CompletedAt: now}}, nil
}

// Assign decides giving the task to a member; the caller checks the member
// belongs to the workspace.
func (t *Task) Assign(workspaceID, assigneeID string, now time.Time) ([]es.Fact, error) {
	if t.ID == "" || t.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	if t.AssigneeID == assigneeID {
		return nil, nil
	}
	return []es.Fact{&Assigned{AssigneeID: assigneeID, AssignedAt: now}}, nil
}

// SetDueDate decides a new due date (YYYY-MM-DD, or "" to clear it).
func (t *Task) SetDueDate(workspaceID, due string, now time.Time) ([]es.Fact, error) {
	if t.ID == "" || t.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	due = strings.TrimSpace(due)
	if due != "" {
		if _, err := time.Parse("2006-01-02", due); err != nil {
			return nil, &ValidationError{Field: "due_date", Reason: fmt.Sprintf("must be a date as YYYY-MM-DD, not %q", due)}
		}
	}
	if due == t.DueDate {
		return nil, nil
	}
	return []es.Fact{&DueDateSet{DueDate: due, SetAt: now}}, nil
}
