package commands

import (
	"context"
	"errors"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
)

func isConflict(err error) bool { return errors.Is(err, es.ErrConcurrency) }

// NewTask are the fields of a task to create.
type NewTask struct {
	Title, Description, DueDate, CreatedBy string
}

// CreateTask records a task with a caller-chosen id; the same id twice
// returns the first task.
func (h *Handler) CreateTask(ctx context.Context, id, workspaceID string, t NewTask, cause Cause) (task.Task, error) {
	facts, err := task.Create(id, workspaceID, t.Title, t.Description, t.DueDate, t.CreatedBy, h.now())
	if err == nil {
		facts[0].(*task.Created).Sandbox = cause.Sandbox
		err = h.createOnce(ctx, task.Stream(id), cause.meta(), facts)
	}
	if err != nil {
		return task.Task{}, err
	}
	return h.GetTask(ctx, id, workspaceID, cause.Sandbox)
}

// GetTask folds a task from its facts, on the caller's side (live or
// sandbox).
func (h *Handler) GetTask(ctx context.Context, id, workspaceID string, sandbox bool) (task.Task, error) {
	return found(ctx, h, task.Stream(id), task.Events, task.ErrNotFound,
		func(t *task.Task) bool { return t.ID != "" && t.WorkspaceID == workspaceID && t.Sandbox == sandbox })
}

// CompleteTask marks a task done; completing it again changes nothing.
func (h *Handler) CompleteTask(ctx context.Context, id, workspaceID string, cause Cause) (task.Task, error) {
	return h.changeTask(ctx, id, workspaceID, cause, func(t *task.Task) ([]es.Fact, error) {
		return t.Complete(workspaceID, h.now())
	})
}

// AssignTask gives a task to a member of the workspace (checked on the
// workspace's own facts).
func (h *Handler) AssignTask(ctx context.Context, id, workspaceID, assigneeID string, cause Cause) (task.Task, error) {
	var ws workspace.Workspace
	if _, _, err := h.load(ctx, workspace.Stream(workspaceID), workspace.Events, &ws); err != nil {
		return task.Task{}, err
	}
	if _, ok := ws.Members[assigneeID]; !ok {
		return task.Task{}, &task.ValidationError{Field: "assignee_id", Reason: "is not a member of this workspace"}
	}
	return h.changeTask(ctx, id, workspaceID, cause, func(t *task.Task) ([]es.Fact, error) {
		return t.Assign(workspaceID, assigneeID, h.now())
	})
}

// SetTaskDueDate changes when a task is due.
func (h *Handler) SetTaskDueDate(ctx context.Context, id, workspaceID, due string, cause Cause) (task.Task, error) {
	return h.changeTask(ctx, id, workspaceID, cause, func(t *task.Task) ([]es.Fact, error) {
		return t.SetDueDate(workspaceID, due, h.now())
	})
}

func (h *Handler) changeTask(ctx context.Context, id, workspaceID string, cause Cause, fn func(*task.Task) ([]es.Fact, error)) (task.Task, error) {
	t, _, err := decide(ctx, h, task.Stream(id), task.Events, cause.meta(),
		func(t *task.Task, _ []es.Recorded) ([]es.Fact, error) {
			if t.ID != "" && t.Sandbox != cause.Sandbox {
				return nil, task.ErrNotFound
			}
			return fn(t)
		})
	return t, err
}
