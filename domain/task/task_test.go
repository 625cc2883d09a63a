package task_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
)

// Given/When/Then: given folds past facts into a fresh state, the test calls
// one decision on it, and then checks the exact facts (or the error).

func given[S any, P interface {
	*S
	Apply(es.Fact)
}](facts ...es.Fact) P {
	p := P(new(S))
	for _, f := range facts {
		p.Apply(f)
	}
	return p
}

func render(facts []es.Fact) string {
	var b strings.Builder
	for _, f := range facts {
		j, _ := json.Marshal(f)
		b.WriteString("\n  " + f.EventType() + " " + string(j))
	}
	if b.Len() == 0 {
		return " (none)"
	}
	return b.String()
}

func thenFacts(t *testing.T, got []es.Fact, err error, want ...es.Fact) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("facts:%s\nwant:%s", render(got), render(want))
	}
}

func thenError(t *testing.T, got []es.Fact, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if got != nil {
		t.Fatalf("facts with an error:%s", render(got))
	}
}

func thenInvalid(t *testing.T, got []es.Fact, err error, field string) {
	t.Helper()
	var v *task.ValidationError
	if !errors.As(err, &v) || v.Field != field {
		t.Fatalf("err = %v, want a ValidationError on %s", err, field)
	}
	if got != nil {
		t.Fatalf("facts with an error:%s", render(got))
	}
}

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func created() *task.Created {
	return &task.Created{TaskID: "t-1", WorkspaceID: "ws-1", Title: "Call Ada", Description: "about the engine",
		DueDate: "2025-03-15", CreatedBy: "agent", CreatedAt: t0}
}

func TestCreate(t *testing.T) {
	t.Run("trimmed", func(t *testing.T) {
		facts, err := task.Create("t-1", "ws-1", "  Call Ada ", " about the engine\n", " 2025-03-15 ", "agent", t0)
		thenFacts(t, facts, err, created())
	})
	t.Run("no due date", func(t *testing.T) {
		facts, err := task.Create("t-1", "ws-1", "Call Ada", "", "  ", "", t0)
		thenFacts(t, facts, err, &task.Created{TaskID: "t-1", WorkspaceID: "ws-1", Title: "Call Ada", CreatedAt: t0})
	})
	t.Run("title is required and at most 500 characters", func(t *testing.T) {
		facts, err := task.Create("t-1", "ws-1", " \t", "", "", "", t0)
		thenInvalid(t, facts, err, "title")
		if _, err := task.Create("t-1", "ws-1", strings.Repeat("ø", 500), "", "", "", t0); err != nil {
			t.Fatalf("500 characters refused: %v", err)
		}
		facts, err = task.Create("t-1", "ws-1", strings.Repeat("ø", 501), "", "", "", t0)
		thenInvalid(t, facts, err, "title")
	})
	t.Run("due date must be YYYY-MM-DD", func(t *testing.T) {
		for _, d := range []string{"15.03.2025", "2025-3-15", "2025-02-30", "2025-13-01", "2025-03-15T10:00:00Z", "tomorrow", "03/15/2025"} {
			facts, err := task.Create("t-1", "ws-1", "Call", "", d, "", t0)
			thenInvalid(t, facts, err, "due_date")
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
	facts, err := given[task.Task](created()).Complete("ws-1", later)
	thenFacts(t, facts, err, &task.Completed{CompletedAt: later})

	facts, err = given[task.Task](created(), &task.Completed{CompletedAt: t0}).Complete("ws-1", later)
	thenFacts(t, facts, err)

	facts, err = given[task.Task](created()).Complete("ws-2", later)
	thenError(t, facts, err, task.ErrNotFound)
	facts, err = given[task.Task](created(), &task.Completed{CompletedAt: t0}).Complete("ws-2", later)
	thenError(t, facts, err, task.ErrNotFound)
	facts, err = given[task.Task]().Complete("ws-1", later)
	thenError(t, facts, err, task.ErrNotFound)
}

func TestApply(t *testing.T) {
	tk := given[task.Task](created())
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
