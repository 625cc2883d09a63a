package task_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es/estest"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func created() *task.Created {
	return &task.Created{TaskID: "t-1", WorkspaceID: "ws-1", Title: "Call Ada", Description: "about the engine",
		DueDate: "2025-03-15", CreatedBy: "agent", CreatedAt: t0}
}

func TestCreate(t *testing.T) {
	t.Run("trimmed", func(t *testing.T) {
		facts, err := task.Create("t-1", "ws-1", "  Call Ada ", " about the engine\n", " 2025-03-15 ", "agent", t0)
		estest.ThenFacts(t, facts, err, created())
	})
	t.Run("no due date", func(t *testing.T) {
		facts, err := task.Create("t-1", "ws-1", "Call Ada", "", "  ", "", t0)
		estest.ThenFacts(t, facts, err, &task.Created{TaskID: "t-1", WorkspaceID: "ws-1", Title: "Call Ada", CreatedAt: t0})
	})
	t.Run("title is required and at most 500 characters", func(t *testing.T) {
		facts, err := task.Create("t-1", "ws-1", " \t", "", "", "", t0)
		estest.ThenInvalid(t, facts, err, "title")
		if _, err := task.Create("t-1", "ws-1", strings.Repeat("ø", 500), "", "", "", t0); err != nil {
			t.Fatalf("500 characters refused: %v", err)
		}
		facts, err = task.Create("t-1", "ws-1", strings.Repeat("ø", 501), "", "", "", t0)
		estest.ThenInvalid(t, facts, err, "title")
	})
	t.Run("due date must be YYYY-MM-DD", func(t *testing.T) {
		for _, d := range []string{"15.03.2025", "2025-3-15", "2025-02-30", "2025-13-01", "2025-03-15T10:00:00Z", "tomorrow", "03/15/2025"} {
			facts, err := task.Create("t-1", "ws-1", "Call", "", d, "", t0)
			estest.ThenInvalid(t, facts, err, "due_date")
		}
		for _, d := range []string{"2024-02-29", "2025-12-31"} {
			if _, err := task.Create("t-1", "ws-1", "Call", "", d, "", t0); err != nil {
				t.Fatalf("%s refused: %v", d, err)
			}
		}
	})
}

func TestComplete(t *testing.T) {
	later := t0.Add(time.Hour)
	facts, err := estest.Given[task.Task](created()).Complete("ws-1", later)
	estest.ThenFacts(t, facts, err, &task.Completed{CompletedAt: later})

	facts, err = estest.Given[task.Task](created(), &task.Completed{CompletedAt: t0}).Complete("ws-1", later)
	estest.ThenFacts(t, facts, err)

	facts, err = estest.Given[task.Task](created()).Complete("ws-2", later)
	estest.ThenError(t, facts, err, task.ErrNotFound)
	facts, err = estest.Given[task.Task](created(), &task.Completed{CompletedAt: t0}).Complete("ws-2", later)
	estest.ThenError(t, facts, err, task.ErrNotFound)
	facts, err = estest.Given[task.Task]().Complete("ws-1", later)
	estest.ThenError(t, facts, err, task.ErrNotFound)
}

func TestApply(t *testing.T) {
	tk := estest.Given[task.Task](created())
	want := task.Task{ID: "t-1", WorkspaceID: "ws-1", Title: "Call Ada", Description: "about the engine", DueDate: "2025-03-15", Status: task.Open}
	if !reflect.DeepEqual(*tk, want) {
		t.Fatalf("state = %+v", *tk)
	}
	tk.Apply(&task.Completed{CompletedAt: t0})
	if tk.Status != task.Done {
		t.Fatalf("status = %s", tk.Status)
	}
	if task.Stream("t-1") != "task-t-1" {
		t.Fatal("Stream")
	}
}
