package tools

import (
	"context"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
	"github.com/sois-ai/chat-agent-gateway/projections/tasks"
)

// TaskOut is how a task is shown to the model.
type TaskOut struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Status      string `json:"status"`
	DueDate     string `json:"due_date,omitempty"`
	AssigneeID  string `json:"assignee_id,omitempty"`
}

func taskFromDomain(t task.Task) TaskOut {
	return TaskOut{ID: t.ID, Title: t.Title, Description: t.Description, Status: string(t.Status), DueDate: t.DueDate, AssigneeID: t.AssigneeID}
}

func (c *Catalog) addTaskTools() {
	c.add("create_task", "Create a task in the workspace.",
		`{"type": "object", "properties": {
  "title":       {"type": "string", "description": "What has to be done"},
  "description": {"type": "string"},
  "due_date":    {"type": "string", "description": "Due date as YYYY-MM-DD"}
}, "required": ["title"], "additionalProperties": false}`,
		c.createTask)
	c.add("list_tasks", "List or search the workspace's tasks, oldest first.",
		`{"type": "object", "properties": {
  "status": {"type": "string", "enum": ["open", "done", "all"], "description": "Which tasks (default all)"},
  "query":  {"type": "string", "description": "Text to find in the title or description"},
  "limit":  {"type": "integer", "minimum": 1, "maximum": 100}
}, "additionalProperties": false}`,
		c.listTasks)
	c.add("complete_task", "Mark a task as done (find its id with list_tasks first).",
		`{"type": "object", "properties": {"id": {"type": "string", "description": "The task's id"}}, "required": ["id"], "additionalProperties": false}`,
		c.completeTask)
}

func (c *Catalog) createTask(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		DueDate     string `json:"due_date"`
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	t, err := c.deps.Commands.CreateTask(ctx, call.EffectID(), call.WorkspaceID,
		commands.NewTask{Title: a.Title, Description: a.Description, DueDate: a.DueDate, CreatedBy: call.UserID}, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"task": taskFromDomain(t)}, nil
}

func (c *Catalog) listTasks(ctx context.Context, call commands.ToolCall) (any, error) {
	var f tasks.Filter
	if err := decode(call, &f); err != nil {
		return nil, err
	}
	switch f.Status {
	case "", "all", "open", "done":
	default:
		return nil, userErr("status must be open, done or all, not %q.", f.Status)
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	views, total, err := c.deps.Tasks.List(ctx, call.WorkspaceID, f)
	if err != nil {
		return nil, err
	}
	out := make([]TaskOut, 0, len(views))
	for _, v := range views {
		out = append(out, TaskOut{ID: v.ID, Title: v.Title, Description: v.Description, Status: v.Status, DueDate: v.DueDate, AssigneeID: v.AssigneeID})
	}
	return map[string]any{"count": total, "tasks": out}, nil
}

func (c *Catalog) completeTask(ctx context.Context, call commands.ToolCall) (any, error) {
	a, err := idArg(call, "task")
	if err != nil {
		return nil, err
	}
	t, err := c.deps.Commands.CompleteTask(ctx, a.ID, call.WorkspaceID, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"task": taskFromDomain(t)}, nil
}

func (c *Catalog) addTaskExtraTools() {
	c.add("assign_task", "Assign a task to a member of the workspace (by user id or email; see list_members).",
		`{"type": "object", "properties": {
  "id":       {"type": "string", "description": "The task's id"},
  "assignee": {"type": "string", "description": "The member's user id or email"}
}, "required": ["id", "assignee"], "additionalProperties": false}`,
		c.assignTask)
	c.add("set_task_due_date", "Set or clear a task's due date.",
		`{"type": "object", "properties": {
  "id":       {"type": "string"},
  "due_date": {"type": "string", "description": "YYYY-MM-DD, or empty to clear"}
}, "required": ["id", "due_date"], "additionalProperties": false}`,
		c.setTaskDueDate)
}

func (c *Catalog) assignTask(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct{ ID, Assignee string }
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if !isUUID(a.ID) {
		return nil, userErr("No task has the id %q.", a.ID)
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	_, all, err := c.members(ctx, call.WorkspaceID)
	if err != nil {
		return nil, err
	}
	assignee := ""
	for _, m := range all {
		if m.UserID == a.Assignee || strings.EqualFold(m.Email, strings.TrimSpace(a.Assignee)) {
			assignee = m.UserID
		}
	}
	if assignee == "" {
		return nil, userErr("No member of the workspace is %q; list_members shows who can be assigned.", a.Assignee)
	}
	t, err := c.deps.Commands.AssignTask(ctx, a.ID, call.WorkspaceID, assignee, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"task": taskFromDomain(t)}, nil
}

func (c *Catalog) setTaskDueDate(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		ID      string
		DueDate string `json:"due_date"`
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if !isUUID(a.ID) {
		return nil, userErr("No task has the id %q.", a.ID)
	}
	t, err := c.deps.Commands.SetTaskDueDate(ctx, a.ID, call.WorkspaceID, a.DueDate, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"task": taskFromDomain(t)}, nil
}
