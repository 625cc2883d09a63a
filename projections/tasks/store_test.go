package tasks

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/task"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

// eventLog is the shared log, with this read model's events.
type eventLog struct{ projectiontest.Log }

func (l *eventLog) created(t *testing.T, id, ws, title, description string, at time.Time) es.Recorded {
	return l.Rec(t, task.Stream(id), 1, &task.Created{TaskID: id, WorkspaceID: ws, Title: title,
		Description: description, CreatedAt: at})
}

func (l *eventLog) completed(t *testing.T, id string, version int64, at time.Time) es.Recorded {
	return l.Rec(t, task.Stream(id), version, &task.Completed{CompletedAt: at})
}

func mustGet(t testing.TB, s Store, ws, id string) (View, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), ws, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return v, ok
}

func mustList(t *testing.T, s Store, ws string, f Filter) ([]View, int) {
	t.Helper()
	vs, total, err := s.List(context.Background(), ws, f)
	if err != nil {
		t.Fatalf("list %+v: %v", f, err)
	}
	return vs, total
}

func titles(vs []View) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Title)
	}
	return out
}

// contract is this read model to the suite every read model passes.
var contract = projectiontest.Contract[View]{
	Name: Name, Strict: true,
	Open: func(l *projectiontest.Log, t testing.TB, id, ws string, v int64) es.Recorded {
		return l.Rec(t, task.Stream(id), v, &task.Created{TaskID: id, WorkspaceID: ws, Title: "Call Ada", CreatedAt: t0})
	},
	Change: func(l *projectiontest.Log, t testing.TB, id string, v int64) es.Recorded {
		return l.Rec(t, task.Stream(id), v, &task.DueDateSet{DueDate: fmt.Sprintf("2025-03-%02d", v), SetAt: t0})
	},
	Read: func(t testing.TB, s projections.Projection, ws, id string) (View, bool) {
		return mustGet(t, s.(Store), ws, id)
	},
}

func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	contract.Run(t, func(t *testing.T) projections.Projection { return newStore(t) })
	ws, otherWS := uuid.NewString(), uuid.NewString()

	t.Run("create and complete", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id := uuid.NewString()
		projectiontest.Apply(t, s, l.Rec(t, task.Stream(id), 1, &task.Created{TaskID: id, WorkspaceID: ws, Title: "Call Ada",
			Description: "about the engine", DueDate: "2025-03-07", CreatedBy: "user-1", CreatedAt: t0}))
		want := View{ID: id, WorkspaceID: ws, Title: "Call Ada", Description: "about the engine", DueDate: "2025-03-07",
			Status: "open", CreatedAt: projectiontest.US(t0), Version: 1}
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after create: %+v %v\nwant %+v", v, ok, want)
		}
		if vs, total := mustList(t, s, ws, Filter{Status: "open"}); total != 1 || !reflect.DeepEqual(vs, []View{want}) {
			t.Fatalf("open list = %+v, %d", vs, total)
		}

		t1 := t0.Add(26 * time.Hour)
		projectiontest.Apply(t, s, l.completed(t, id, 2, t1))
		done := projectiontest.US(t1)
		want.Status, want.CompletedAt, want.Version = "done", &done, 2
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after complete: %+v %v\nwant %+v", v, ok, want)
		}
		if vs, total := mustList(t, s, ws, Filter{Status: "open"}); len(vs) != 0 || total != 0 {
			t.Fatalf("completed task still open: %+v", vs)
		}
		if vs, total := mustList(t, s, ws, Filter{Status: "done"}); total != 1 || !reflect.DeepEqual(vs, []View{want}) {
			t.Fatalf("done list = %+v, %d", vs, total)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Seq: 2}) {
			t.Fatalf("checkpoint = %v, want 0:2", cp)
		}
	})

	t.Run("assign and set the due date", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id := uuid.NewString()
		ada, bob := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s, l.Rec(t, task.Stream(id), 1, &task.Created{TaskID: id, WorkspaceID: ws, Title: "Call Ada",
			DueDate: "2025-03-07", CreatedAt: t0}))
		want := View{ID: id, WorkspaceID: ws, Title: "Call Ada", DueDate: "2025-03-07", Status: "open",
			CreatedAt: projectiontest.US(t0), Version: 1}
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after create: %+v %v\nwant %+v", v, ok, want)
		}

		projectiontest.Apply(t, s,
			l.Rec(t, task.Stream(id), 2, &task.Assigned{AssigneeID: ada, AssignedAt: t0}),
			l.Rec(t, task.Stream(id), 3, &task.DueDateSet{DueDate: "2025-04-01", SetAt: t0}))
		want.AssigneeID, want.DueDate, want.Version = ada, "2025-04-01", 3
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after assign and due date: %+v %v\nwant %+v", v, ok, want)
		}

		// Reassigning replaces the assignee; an empty due date clears it.
		projectiontest.Apply(t, s,
			l.Rec(t, task.Stream(id), 4, &task.Assigned{AssigneeID: bob, AssignedAt: t0}),
			l.Rec(t, task.Stream(id), 5, &task.DueDateSet{DueDate: "", SetAt: t0}),
			l.completed(t, id, 6, t0.Add(time.Hour)))
		done := projectiontest.US(t0.Add(time.Hour))
		want.AssigneeID, want.DueDate, want.Status, want.CompletedAt, want.Version = bob, "", "done", &done, 6
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after reassign: %+v %v\nwant %+v", v, ok, want)
		}
		if vs, total := mustList(t, s, ws, Filter{AssigneeID: bob}); total != 1 || !reflect.DeepEqual(vs, []View{want}) {
			t.Fatalf("list by new assignee = %+v, %d", vs, total)
		}
		if vs, total := mustList(t, s, ws, Filter{AssigneeID: ada}); len(vs) != 0 || total != 0 {
			t.Fatalf("old assignee still has the task: %+v", vs)
		}

		// Replayed, the assignment events change nothing.
		projectiontest.Apply(t, s, l.Rec(t, task.Stream(id), 2, &task.Assigned{AssigneeID: ada, AssignedAt: t0}))
		if v, _ := mustGet(t, s, ws, id); !reflect.DeepEqual(v, want) {
			t.Fatalf("replayed assignment applied: %+v", v)
		}
		// A jump in an assignment is a gap like any other.
		err := s.Apply(context.Background(), []es.Recorded{
			l.Rec(t, task.Stream(id), 8, &task.Assigned{AssigneeID: ada, AssignedAt: t0})})
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("assignment with gap: err = %v, want ErrGap", err)
		}
		if v, _ := mustGet(t, s, ws, id); v.AssigneeID != bob {
			t.Fatalf("refused assignment applied: %+v", v)
		}
	})

	t.Run("workspace scoping", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		mine, theirs := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s, l.created(t, mine, ws, "Mine", "", t0), l.created(t, theirs, otherWS, "Theirs", "", t0))
		if _, ok := mustGet(t, s, otherWS, mine); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if _, ok := mustGet(t, s, ws, theirs); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if v, ok := mustGet(t, s, otherWS, theirs); !ok || v.Title != "Theirs" {
			t.Fatalf("Get in own workspace: %+v %v", v, ok)
		}
		if vs, total := mustList(t, s, ws, Filter{}); total != 1 || !reflect.DeepEqual(titles(vs), []string{"Mine"}) {
			t.Fatalf("list crossed workspaces: %v, %d", titles(vs), total)
		}
		for _, bad := range []string{"", "not-a-uuid", uuid.NewString()} {
			if vs, total := mustList(t, s, bad, Filter{}); len(vs) != 0 || total != 0 {
				t.Fatalf("list in workspace %q = %v", bad, titles(vs))
			}
			if _, ok := mustGet(t, s, bad, mine); ok {
				t.Fatalf("get in workspace %q found a task", bad)
			}
		}
		if _, ok := mustGet(t, s, ws, "not-a-uuid"); ok {
			t.Fatalf("get of a malformed id found a task")
		}
	})

	t.Run("list filters", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		ids := map[string]string{}
		var batch []es.Recorded
		for i, tc := range []struct{ title, desc string }{
			{"Send invoice", "to Acme, 100% of the fee"},
			{"Call Bob", "about the 1000 units"},
			{"Renew contract", "snake_case matters"},
			{"Review Q3", "snake-case draft"},
			{"Pay rent", `path C:\rent`},
			{"Water plants", "crent is not rent"},
		} {
			id := uuid.NewString()
			ids[tc.title] = id
			batch = append(batch, l.created(t, id, ws, tc.title, tc.desc, t0.Add(time.Duration(i)*time.Minute)))
		}
		batch = append(batch, l.completed(t, ids["Call Bob"], 2, t0), l.completed(t, ids["Review Q3"], 2, t0))
		ada, bob := uuid.NewString(), uuid.NewString()
		batch = append(batch,
			l.Rec(t, task.Stream(ids["Send invoice"]), 2, &task.Assigned{AssigneeID: ada, AssignedAt: t0}),
			l.Rec(t, task.Stream(ids["Call Bob"]), 3, &task.Assigned{AssigneeID: ada, AssignedAt: t0}),
			l.Rec(t, task.Stream(ids["Pay rent"]), 2, &task.Assigned{AssigneeID: bob, AssignedAt: t0}),
			// Given to Bob, then taken back: nobody's task any more.
			l.Rec(t, task.Stream(ids["Water plants"]), 2, &task.Assigned{AssigneeID: bob, AssignedAt: t0}),
			l.Rec(t, task.Stream(ids["Water plants"]), 3, &task.Assigned{AssigneeID: "", AssignedAt: t0}))
		// Another workspace's task assigned to Ada stays out of every list.
		foreign := uuid.NewString()
		batch = append(batch, l.created(t, foreign, otherWS, "Foreign", "", t0),
			l.Rec(t, task.Stream(foreign), 2, &task.Assigned{AssigneeID: ada, AssignedAt: t0}))
		projectiontest.Apply(t, s, batch...)

		all := []string{"Send invoice", "Call Bob", "Renew contract", "Review Q3", "Pay rent", "Water plants"}
		cases := []struct {
			name string
			f    Filter
			want []string
		}{
			{"empty status is all", Filter{}, all},
			{"all", Filter{Status: "all"}, all},
			{"status is trimmed and case-folded", Filter{Status: " ALL "}, all},
			{"open", Filter{Status: "open"}, []string{"Send invoice", "Renew contract", "Pay rent", "Water plants"}},
			{"done", Filter{Status: "done"}, []string{"Call Bob", "Review Q3"}},
			{"query on title ignores case", Filter{Query: "CALL"}, []string{"Call Bob"}},
			{"query on description", Filter{Query: "acme"}, []string{"Send invoice"}},
			{"query and status", Filter{Query: "re", Status: "done"}, []string{"Review Q3"}},
			{"query and status, none", Filter{Query: "invoice", Status: "done"}, nil},
			{"percent is literal", Filter{Query: "100%"}, []string{"Send invoice"}},
			{"underscore is literal", Filter{Query: "e_c"}, []string{"Renew contract"}},
			{"backslash is literal", Filter{Query: `\r`}, []string{"Pay rent"}},
			{"no match", Filter{Query: "nothing"}, nil},
			{"assignee", Filter{AssigneeID: ada}, []string{"Send invoice", "Call Bob"}},
			{"assignee is trimmed", Filter{AssigneeID: " " + bob + " "}, []string{"Pay rent"}},
			{"assignee and status", Filter{AssigneeID: ada, Status: "open"}, []string{"Send invoice"}},
			{"assignee and query", Filter{AssigneeID: ada, Query: "bob"}, []string{"Call Bob"}},
			{"assignee is exact", Filter{AssigneeID: ada[:8]}, nil},
			{"unknown assignee", Filter{AssigneeID: uuid.NewString()}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				vs, total := mustList(t, s, ws, c.f)
				if got := titles(vs); !reflect.DeepEqual(got, append([]string{}, c.want...)) {
					t.Fatalf("list %+v = %v, want %v", c.f, got, c.want)
				}
				if total != len(c.want) {
					t.Fatalf("total = %d, want %d", total, len(c.want))
				}
			})
		}

		for _, bad := range []string{"closed", "completed", "opened"} {
			_, _, err := s.List(context.Background(), ws, Filter{Status: bad})
			if !errors.Is(err, ErrInvalidStatus) {
				t.Fatalf("status %q: err = %v, want ErrInvalidStatus", bad, err)
			}
		}
	})

	t.Run("order limit and total", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		var batch []es.Recorded
		for i := range 105 {
			// Applied newest first so the order must come from the query.
			n := 104 - i
			batch = append(batch, l.created(t, uuid.NewString(), ws, fmt.Sprintf("Task %03d", n), "", t0.Add(time.Duration(n)*time.Second)))
		}
		late, early := "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a"
		batch = append(batch,
			l.created(t, uuid.NewString(), otherWS, "Later", "", t0.Add(time.Hour)),
			l.created(t, late, otherWS, "Same time b", "", t0),
			l.created(t, early, otherWS, "Same time a", "", t0),
			// Microseconds apart: the order must survive Postgres' precision.
			l.created(t, uuid.NewString(), otherWS, "Earliest", "", t0.Add(-time.Microsecond)))
		projectiontest.Apply(t, s, batch...)

		vs, total := mustList(t, s, ws, Filter{})
		if total != 105 || len(vs) != 20 || vs[0].Title != "Task 000" || vs[19].Title != "Task 019" {
			t.Fatalf("default limit: %d results, total %d", len(vs), total)
		}
		vs, total = mustList(t, s, ws, Filter{Limit: 3, Status: "open"})
		if total != 105 || !reflect.DeepEqual(titles(vs), []string{"Task 000", "Task 001", "Task 002"}) {
			t.Fatalf("limit 3: %v, total %d", titles(vs), total)
		}
		vs, total = mustList(t, s, ws, Filter{Limit: 500})
		if total != 105 || len(vs) != 100 || vs[99].Title != "Task 099" {
			t.Fatalf("limit above max: %d results, total %d", len(vs), total)
		}
		vs, total = mustList(t, s, ws, Filter{Limit: -1, Query: "task 10"})
		if total != 5 || len(vs) != 5 {
			t.Fatalf("negative limit: %v, total %d", titles(vs), total)
		}
		vs, _ = mustList(t, s, otherWS, Filter{})
		if got := titles(vs); !reflect.DeepEqual(got, []string{"Earliest", "Same time a", "Same time b", "Later"}) {
			t.Fatalf("order = %v", got)
		}
	})
}
