package org

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/org"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

// eventLog is the shared log, with this read model's events.
type eventLog struct{ projectiontest.Log }

func (l *eventLog) department(t *testing.T, id, ws, name string) es.Recorded {
	return l.Rec(t, org.DepartmentStream(id), 1, &org.DepartmentCreated{DepartmentID: id, WorkspaceID: ws, Name: name, CreatedAt: t0})
}

func (l *eventLog) team(t *testing.T, id, ws, departmentID, name string) es.Recorded {
	return l.Rec(t, org.TeamStream(id), 1, &org.TeamCreated{TeamID: id, WorkspaceID: ws, DepartmentID: departmentID, Name: name, CreatedAt: t0})
}

func (l *eventLog) added(t *testing.T, teamID string, version int64, userID string) es.Recorded {
	return l.Rec(t, org.TeamStream(teamID), version, &org.TeamMemberAdded{UserID: userID, AddedAt: t0})
}

func (l *eventLog) removed(t *testing.T, teamID string, version int64, userID string) es.Recorded {
	return l.Rec(t, org.TeamStream(teamID), version, &org.TeamMemberRemoved{UserID: userID, RemovedAt: t0})
}

func mustDepartments(t *testing.T, s Store, ws string) []Department {
	t.Helper()
	ds, err := s.Departments(context.Background(), ws)
	if err != nil {
		t.Fatalf("departments: %v", err)
	}
	if ds == nil {
		t.Fatalf("departments returned nil")
	}
	return ds
}

func mustDepartment(t *testing.T, s Store, ws, id string) (Department, bool) {
	t.Helper()
	d, ok, err := s.Department(context.Background(), ws, id)
	if err != nil {
		t.Fatalf("department: %v", err)
	}
	return d, ok
}

func checkTeams(t *testing.T, what string, ts []Team, err error) []Team {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if ts == nil {
		t.Fatalf("%s returned nil", what)
	}
	for _, tm := range ts {
		if tm.MemberIDs == nil {
			t.Fatalf("%s: team %q has nil members", what, tm.Name)
		}
	}
	return ts
}

func mustTeams(t *testing.T, s Store, ws, departmentID string) []Team {
	t.Helper()
	ts, err := s.Teams(context.Background(), ws, departmentID)
	return checkTeams(t, "teams", ts, err)
}

func mustFind(t *testing.T, s Store, ws, name string) []Team {
	t.Helper()
	ts, err := s.FindTeams(context.Background(), ws, name)
	return checkTeams(t, "find teams", ts, err)
}

func mustTeamsOf(t *testing.T, s Store, ws, userID string) []Team {
	t.Helper()
	ts, err := s.TeamsOf(context.Background(), ws, userID)
	return checkTeams(t, "teams of", ts, err)
}

func mustTeam(t *testing.T, s Store, ws, id string) (Team, bool) {
	t.Helper()
	tm, ok, err := s.Team(context.Background(), ws, id)
	if err != nil {
		t.Fatalf("team: %v", err)
	}
	return tm, ok
}

func teamNames(ts []Team) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func departmentNames(ds []Department) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	ws, otherWS := uuid.NewString(), uuid.NewString()

	t.Run("name", func(t *testing.T) {
		if got := newStore(t).Name(); got != "org" {
			t.Fatalf("Name() = %q", got)
		}
	})

	t.Run("empty store starts at the beginning", func(t *testing.T) {
		s := newStore(t)
		if cp := projectiontest.Checkpoint(t, s); cp != es.Start {
			t.Fatalf("checkpoint = %v, want start", cp)
		}
		if err := s.Apply(context.Background(), nil); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
		if ds := mustDepartments(t, s, ws); len(ds) != 0 {
			t.Fatalf("departments = %+v", ds)
		}
		if ts := mustTeams(t, s, ws, ""); len(ts) != 0 {
			t.Fatalf("teams = %+v", ts)
		}
		if ts := mustFind(t, s, ws, ""); len(ts) != 0 {
			t.Fatalf("find = %+v", ts)
		}
	})

	t.Run("departments teams and members", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		dept, team, solo := uuid.NewString(), uuid.NewString(), uuid.NewString()
		ada, bob, cy := "user-b-ada", "user-a-bob", "user-c-cy"
		projectiontest.Apply(t, s,
			l.department(t, dept, ws, "Engineering"),
			l.team(t, team, ws, dept, "Platform"),
			l.team(t, solo, ws, "", "Founders"))
		wantDept := Department{ID: dept, WorkspaceID: ws, Name: "Engineering", CreatedAt: projectiontest.US(t0), Teams: 1, Version: 1}
		if d, ok := mustDepartment(t, s, ws, dept); !ok || !reflect.DeepEqual(d, wantDept) {
			t.Fatalf("department = %+v %v\nwant %+v", d, ok, wantDept)
		}
		if ds := mustDepartments(t, s, ws); !reflect.DeepEqual(ds, []Department{wantDept}) {
			t.Fatalf("departments = %+v", ds)
		}
		want := Team{ID: team, WorkspaceID: ws, DepartmentID: dept, DepartmentName: "Engineering", Name: "Platform",
			MemberIDs: []string{}, CreatedAt: projectiontest.US(t0), Version: 1}
		if tm, ok := mustTeam(t, s, ws, team); !ok || !reflect.DeepEqual(tm, want) {
			t.Fatalf("team = %+v %v\nwant %+v", tm, ok, want)
		}

		// Members come back sorted, whatever order they joined in; joining
		// twice or leaving a team one is not in changes nothing.
		projectiontest.Apply(t, s,
			l.added(t, team, 2, ada),
			l.added(t, team, 3, cy),
			l.added(t, team, 4, bob),
			l.added(t, team, 5, ada),
			l.removed(t, team, 6, "user-nobody"))
		want.MemberIDs, want.Version = []string{bob, ada, cy}, 6
		if tm, ok := mustTeam(t, s, ws, team); !ok || !reflect.DeepEqual(tm, want) {
			t.Fatalf("team with members = %+v %v\nwant %+v", tm, ok, want)
		}
		projectiontest.Apply(t, s, l.removed(t, team, 7, ada), l.added(t, solo, 2, ada))
		want.MemberIDs, want.Version = []string{bob, cy}, 7
		if tm, _ := mustTeam(t, s, ws, team); !reflect.DeepEqual(tm, want) {
			t.Fatalf("team after removal = %+v\nwant %+v", tm, want)
		}
		wantSolo := Team{ID: solo, WorkspaceID: ws, Name: "Founders", MemberIDs: []string{ada}, CreatedAt: projectiontest.US(t0), Version: 2}
		if ts := mustTeams(t, s, ws, ""); !reflect.DeepEqual(ts, []Team{wantSolo, want}) {
			t.Fatalf("teams = %+v\nwant %+v", ts, []Team{wantSolo, want})
		}
		if ts := mustTeamsOf(t, s, ws, ada); !reflect.DeepEqual(ts, []Team{wantSolo}) {
			t.Fatalf("teams of ada = %+v", ts)
		}
		if ts := mustTeamsOf(t, s, ws, bob); !reflect.DeepEqual(ts, []Team{want}) {
			t.Fatalf("teams of bob = %+v", ts)
		}

		// Everyone leaves: an empty member list, not nil.
		projectiontest.Apply(t, s, l.removed(t, team, 8, bob), l.removed(t, team, 9, cy))
		want.MemberIDs, want.Version = []string{}, 9
		if tm, _ := mustTeam(t, s, ws, team); !reflect.DeepEqual(tm, want) {
			t.Fatalf("emptied team = %+v\nwant %+v", tm, want)
		}
		if ts := mustTeamsOf(t, s, ws, bob); len(ts) != 0 {
			t.Fatalf("teams of bob after leaving = %+v", ts)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Seq: 12}) {
			t.Fatalf("checkpoint = %v, want 0:12", cp)
		}
	})

	t.Run("returned members are copies", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		team := uuid.NewString()
		projectiontest.Apply(t, s, l.team(t, team, ws, "", "Ops"), l.added(t, team, 2, "u1"))
		tm, _ := mustTeam(t, s, ws, team)
		tm.MemberIDs[0] = "changed"
		ts := mustTeams(t, s, ws, "")
		ts[0].MemberIDs[0] = "changed too"
		if tm, _ := mustTeam(t, s, ws, team); !reflect.DeepEqual(tm.MemberIDs, []string{"u1"}) {
			t.Fatalf("store changed through a returned slice: %v", tm.MemberIDs)
		}
	})

	t.Run("a team's department may come later", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		dept, team := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s, l.team(t, team, ws, dept, "Early"))
		if tm, _ := mustTeam(t, s, ws, team); tm.DepartmentID != dept || tm.DepartmentName != "" {
			t.Fatalf("team before its department = %+v", tm)
		}
		projectiontest.Apply(t, s, l.department(t, dept, ws, "Late"))
		if tm, _ := mustTeam(t, s, ws, team); tm.DepartmentName != "Late" {
			t.Fatalf("team after its department = %+v", tm)
		}
		if d, _ := mustDepartment(t, s, ws, dept); d.Teams != 1 {
			t.Fatalf("department = %+v", d)
		}
	})

	t.Run("checkpoint is the last event of the batch", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		dept, team := uuid.NewString(), uuid.NewString()
		batch := []es.Recorded{
			l.department(t, dept, ws, "D"),
			l.team(t, team, ws, dept, "T"),
			l.added(t, team, 2, "u"),
		}
		for i := range batch {
			batch[i].Position = es.Position{Tx: 7, Seq: uint64(10 + i)}
		}
		projectiontest.Apply(t, s, batch...)
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Tx: 7, Seq: 12}) {
			t.Fatalf("checkpoint = %v, want 7:12", cp)
		}
		if ts := mustTeamsOf(t, s, ws, "u"); !reflect.DeepEqual(teamNames(ts), []string{"T"}) {
			t.Fatalf("teams of u = %v", teamNames(ts))
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		dept, team := uuid.NewString(), uuid.NewString()
		batch := []es.Recorded{
			l.department(t, dept, ws, "Sales"),
			l.team(t, team, ws, dept, "Inside sales"),
			l.added(t, team, 2, "u1"),
			l.added(t, team, 3, "u2"),
			l.removed(t, team, 4, "u1"),
		}
		projectiontest.Apply(t, s, batch...)
		beforeTeams, beforeDepts := mustTeams(t, s, ws, ""), mustDepartments(t, s, ws)
		cp := projectiontest.Checkpoint(t, s)

		projectiontest.Apply(t, s, batch...)
		projectiontest.Apply(t, s, batch[2:]...)
		if ts, ds := mustTeams(t, s, ws, ""), mustDepartments(t, s, ws); !reflect.DeepEqual(ts, beforeTeams) || !reflect.DeepEqual(ds, beforeDepts) {
			t.Fatalf("second apply changed the views:\n%+v\n%+v", ts, ds)
		}
		if got := projectiontest.Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved back: %v -> %v", cp, got)
		}

		// Versions the views already hold, delivered again at new positions,
		// are skipped — but the checkpoint still moves past them.
		staleDept := l.department(t, dept, ws, "Impostor")
		staleAdd := l.added(t, team, 4, "u1") // version 4 was the removal
		projectiontest.Apply(t, s, staleDept, staleAdd)
		if ts, ds := mustTeams(t, s, ws, ""), mustDepartments(t, s, ws); !reflect.DeepEqual(ts, beforeTeams) || !reflect.DeepEqual(ds, beforeDepts) {
			t.Fatalf("stale events applied:\n%+v\n%+v", ts, ds)
		}
		if got := projectiontest.Checkpoint(t, s); got != staleAdd.Position {
			t.Fatalf("checkpoint = %v, want %v", got, staleAdd.Position)
		}
	})

	t.Run("version gap is refused", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		team := uuid.NewString()
		projectiontest.Apply(t, s, l.team(t, team, ws, "", "Existing"), l.added(t, team, 2, "u1"))
		cp := projectiontest.Checkpoint(t, s)
		dept, newTeam := uuid.NewString(), uuid.NewString()
		batch := []es.Recorded{
			l.department(t, dept, ws, "New department"),
			l.team(t, newTeam, ws, dept, "New team"),
			l.added(t, newTeam, 2, "u2"),
			l.added(t, team, 3, "u3"),
			l.removed(t, team, 5, "u1"),
		}
		err := s.Apply(context.Background(), batch)
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("apply with gap: err = %v, want ErrGap", err)
		}
		// Nothing of the refused batch may stick: the runner retries it
		// from the unchanged checkpoint.
		if got := projectiontest.Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved to %v on a refused batch, want %v", got, cp)
		}
		if d, ok := mustDepartment(t, s, ws, dept); ok {
			t.Fatalf("department created by a refused batch: %+v", d)
		}
		if tm, ok := mustTeam(t, s, ws, newTeam); ok {
			t.Fatalf("team created by a refused batch: %+v", tm)
		}
		if ts := mustTeamsOf(t, s, ws, "u2"); len(ts) != 0 {
			t.Fatalf("membership of a refused batch: %+v", ts)
		}
		if tm, _ := mustTeam(t, s, ws, team); !reflect.DeepEqual(tm.MemberIDs, []string{"u1"}) || tm.Version != 2 {
			t.Fatalf("team changed by a refused batch: %+v", tm)
		}

		// A department stream can jump too.
		err = s.Apply(context.Background(), []es.Recorded{l.Rec(t, org.DepartmentStream(uuid.NewString()), 2,
			&org.DepartmentCreated{WorkspaceID: ws, Name: "Second of nothing", CreatedAt: t0})})
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("department at version 2 first: err = %v, want ErrGap", err)
		}
		orphan := uuid.NewString()
		err = s.Apply(context.Background(), []es.Recorded{l.added(t, orphan, 2, "u1")})
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("member without team: err = %v, want ErrGap", err)
		}
		if _, ok := mustTeam(t, s, ws, orphan); ok {
			t.Fatalf("team without TeamCreated appeared")
		}

		projectiontest.Apply(t, s, batch[:4]...)
		if tm, _ := mustTeam(t, s, ws, team); !reflect.DeepEqual(tm.MemberIDs, []string{"u1", "u3"}) || tm.Version != 3 {
			t.Fatalf("after in-order retry: %+v", tm)
		}
		if tm, ok := mustTeam(t, s, ws, newTeam); !ok || tm.DepartmentName != "New department" {
			t.Fatalf("new team after retry: %+v %v", tm, ok)
		}
	})

	t.Run("out of place events are refused", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		team, dept := uuid.NewString(), uuid.NewString()
		refused := map[string]es.Recorded{
			"a stream starting with TeamMemberAdded":   l.added(t, team, 1, "u1"),
			"a stream starting with TeamMemberRemoved": l.removed(t, team, 1, "u1"),
			"DepartmentCreated in a team stream": l.Rec(t, org.TeamStream(team), 1,
				&org.DepartmentCreated{DepartmentID: team, WorkspaceID: ws, Name: "Wrong", CreatedAt: t0}),
			"TeamCreated in a department stream": l.Rec(t, org.DepartmentStream(dept), 1,
				&org.TeamCreated{TeamID: dept, WorkspaceID: ws, Name: "Wrong", CreatedAt: t0}),
			"a member event in a department stream": l.Rec(t, org.DepartmentStream(dept), 1,
				&org.TeamMemberAdded{UserID: "u1", AddedAt: t0}),
		}
		for what, rec := range refused {
			if err := s.Apply(context.Background(), []es.Recorded{rec}); err == nil {
				t.Fatalf("%s was accepted", what)
			}
		}
		if ts, ds := mustTeams(t, s, ws, ""), mustDepartments(t, s, ws); len(ts) != 0 || len(ds) != 0 {
			t.Fatalf("refused events made views: %+v %+v", ts, ds)
		}

		projectiontest.Apply(t, s, l.department(t, dept, ws, "Ok"), l.team(t, team, ws, dept, "Ok team"))
		for what, rec := range map[string]es.Recorded{
			"a second TeamCreated": l.Rec(t, org.TeamStream(team), 2,
				&org.TeamCreated{TeamID: team, WorkspaceID: otherWS, Name: "Again", CreatedAt: t0}),
			"a second DepartmentCreated": l.Rec(t, org.DepartmentStream(dept), 2,
				&org.DepartmentCreated{DepartmentID: dept, WorkspaceID: otherWS, Name: "Again", CreatedAt: t0}),
		} {
			if err := s.Apply(context.Background(), []es.Recorded{rec}); err == nil {
				t.Fatalf("%s was accepted", what)
			}
		}
		if tm, ok := mustTeam(t, s, ws, team); !ok || tm.Name != "Ok team" || tm.DepartmentName != "Ok" {
			t.Fatalf("team changed: %+v %v", tm, ok)
		}
	})

	t.Run("other streams are ignored and never move the checkpoint elsewhere", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		team := uuid.NewString()
		// Shaped like a team event, but in somebody else's stream.
		conv := l.Rec(t, "conversation-"+uuid.NewString(), 1, &org.TeamCreated{TeamID: team, WorkspaceID: ws, Name: "Not a team", CreatedAt: t0})
		c := uuid.NewString()
		contactRec := l.Rec(t, contact.Stream(c), 1, &contact.Created{ContactID: c, WorkspaceID: ws,
			Fields: contact.Fields{Name: "Ada"}, CreatedAt: t0})
		projectiontest.Apply(t, s, conv, contactRec)
		if cp := projectiontest.Checkpoint(t, s); cp != contactRec.Position && cp != es.Start {
			t.Fatalf("checkpoint = %v, want %v or the start", cp, contactRec.Position)
		}
		if ts := mustTeams(t, s, ws, ""); len(ts) != 0 {
			t.Fatalf("foreign events made teams: %+v", ts)
		}
		projectiontest.Apply(t, s, l.team(t, team, ws, "", "Real"))
		if tm, ok := mustTeam(t, s, ws, team); !ok || tm.Name != "Real" {
			t.Fatalf("team after foreign events: %+v %v", tm, ok)
		}
	})

	t.Run("workspace scoping", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		dept, mine, theirs := uuid.NewString(), uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			l.department(t, dept, ws, "Research"),
			l.team(t, mine, ws, dept, "Lab"),
			// Another workspace's team naming this workspace's department
			// neither learns its name nor counts towards it.
			l.team(t, theirs, otherWS, dept, "Lab"),
			l.added(t, mine, 2, "u1"),
			l.added(t, theirs, 2, "u1"))
		if _, ok := mustDepartment(t, s, otherWS, dept); ok {
			t.Fatalf("Department crossed workspaces")
		}
		if d, _ := mustDepartment(t, s, ws, dept); d.Teams != 1 {
			t.Fatalf("department counts another workspace's team: %+v", d)
		}
		if _, ok := mustTeam(t, s, otherWS, mine); ok {
			t.Fatalf("Team crossed workspaces")
		}
		if tm, ok := mustTeam(t, s, otherWS, theirs); !ok || tm.DepartmentName != "" || tm.DepartmentID != dept {
			t.Fatalf("their team = %+v %v", tm, ok)
		}
		for name, ts := range map[string][]Team{
			"teams":            mustTeams(t, s, ws, ""),
			"teams of dept":    mustTeams(t, s, ws, dept),
			"find":             mustFind(t, s, ws, "lab"),
			"find by dept":     mustFind(t, s, ws, "research"),
			"teams of u1":      mustTeamsOf(t, s, ws, "u1"),
			"their teams":      mustTeams(t, s, otherWS, ""),
			"their dept teams": mustTeams(t, s, otherWS, dept),
			"their u1":         mustTeamsOf(t, s, otherWS, "u1"),
		} {
			if len(ts) != 1 {
				t.Fatalf("%s = %+v, want one team", name, ts)
			}
		}
		if ts := mustFind(t, s, otherWS, "research"); len(ts) != 0 {
			t.Fatalf("found through another workspace's department name: %+v", ts)
		}
		for _, bad := range []string{"", "not-a-uuid", uuid.NewString()} {
			if ds := mustDepartments(t, s, bad); len(ds) != 0 {
				t.Fatalf("departments in workspace %q = %+v", bad, ds)
			}
			if ts := mustTeams(t, s, bad, ""); len(ts) != 0 {
				t.Fatalf("teams in workspace %q = %+v", bad, ts)
			}
			if ts := mustFind(t, s, bad, ""); len(ts) != 0 {
				t.Fatalf("find in workspace %q = %+v", bad, ts)
			}
			if ts := mustTeamsOf(t, s, bad, "u1"); len(ts) != 0 {
				t.Fatalf("teams of in workspace %q = %+v", bad, ts)
			}
			if _, ok := mustTeam(t, s, bad, mine); ok {
				t.Fatalf("team in workspace %q", bad)
			}
			if _, ok := mustDepartment(t, s, bad, dept); ok {
				t.Fatalf("department in workspace %q", bad)
			}
		}
		if _, ok := mustTeam(t, s, ws, "not-a-uuid"); ok {
			t.Fatalf("team of a malformed id")
		}
		if _, ok := mustDepartment(t, s, ws, "not-a-uuid"); ok {
			t.Fatalf("department of a malformed id")
		}
	})

	t.Run("queries", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		eng, sales, ops := uuid.NewString(), uuid.NewString(), uuid.NewString()
		twinA, twinB := "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a"
		teams := map[string]string{}
		var batch []es.Recorded
		batch = append(batch,
			l.department(t, eng, ws, "Engineering"),
			l.department(t, sales, ws, "Sales 100%"),
			l.department(t, ops, ws, "ops_team"),
			l.department(t, twinA, ws, "Twin"),
			l.department(t, twinB, ws, "Twin"))
		for _, tc := range []struct{ name, dept string }{
			{"Platform", eng},
			{"Mobile", eng},
			{"Data_Science", eng},
			{"Inside Sales", sales},
			{"Field", sales},
			{"SRE", ops},
			{`Back\Office`, ""},
			{"BackOffice", ""},
			{"platform guild", ""},
		} {
			id := uuid.NewString()
			teams[tc.name] = id
			batch = append(batch, l.team(t, id, ws, tc.dept, tc.name))
		}
		batch = append(batch,
			l.added(t, teams["Platform"], 2, "alice"),
			l.added(t, teams["Platform"], 3, "bob"),
			l.added(t, teams["SRE"], 2, "alice"),
			l.added(t, teams["Field"], 2, "bob"),
			l.added(t, teams["Field"], 3, "alice"),
			l.removed(t, teams["Field"], 4, "alice"))
		projectiontest.Apply(t, s, batch...)

		ds := mustDepartments(t, s, ws)
		if got := departmentNames(ds); !reflect.DeepEqual(got, []string{"Engineering", "Sales 100%", "Twin", "Twin", "ops_team"}) {
			t.Fatalf("departments = %v", got)
		}
		if ds[2].ID != twinB || ds[3].ID != twinA {
			t.Fatalf("equal names not ordered by id: %s, %s", ds[2].ID, ds[3].ID)
		}
		counts := map[string]int{}
		for _, d := range ds {
			counts[d.Name] += d.Teams
		}
		if !reflect.DeepEqual(counts, map[string]int{"Engineering": 3, "Sales 100%": 2, "ops_team": 1, "Twin": 0}) {
			t.Fatalf("team counts = %v", counts)
		}

		cases := []struct {
			name string
			got  []Team
			want []string
		}{
			{"all teams, byte order", mustTeams(t, s, ws, ""),
				[]string{"BackOffice", `Back\Office`, "Data_Science", "Field", "Inside Sales", "Mobile", "Platform", "SRE", "platform guild"}},
			{"teams of a department", mustTeams(t, s, ws, eng), []string{"Data_Science", "Mobile", "Platform"}},
			{"department id is trimmed", mustTeams(t, s, ws, " "+sales+" "), []string{"Field", "Inside Sales"}},
			{"teams of an unknown department", mustTeams(t, s, ws, uuid.NewString()), nil},
			{"teams of a malformed department", mustTeams(t, s, ws, "nope"), nil},
			{"find by team name ignores case", mustFind(t, s, ws, "PLATFORM"), []string{"Platform", "platform guild"}},
			{"find by substring", mustFind(t, s, ws, "obi"), []string{"Mobile"}},
			{"find by department name", mustFind(t, s, ws, "engineer"), []string{"Data_Science", "Mobile", "Platform"}},
			{"find by team or department name", mustFind(t, s, ws, "sales"), []string{"Field", "Inside Sales"}},
			{"find is trimmed", mustFind(t, s, ws, "  sre "), []string{"SRE"}},
			{"blank find is all", mustFind(t, s, ws, " "), []string{"BackOffice", `Back\Office`, "Data_Science", "Field", "Inside Sales", "Mobile", "Platform", "SRE", "platform guild"}},
			{"percent is literal", mustFind(t, s, ws, "100%"), []string{"Field", "Inside Sales"}},
			{"lone percent is literal", mustFind(t, s, ws, "%"), []string{"Field", "Inside Sales"}},
			{"underscore is literal", mustFind(t, s, ws, "a_s"), []string{"Data_Science"}},
			{"lone underscore is literal", mustFind(t, s, ws, "_"), []string{"Data_Science", "SRE"}},
			{"backslash is literal", mustFind(t, s, ws, `k\o`), []string{`Back\Office`}},
			{"find nothing", mustFind(t, s, ws, "marketing"), nil},
			{"teams of alice", mustTeamsOf(t, s, ws, "alice"), []string{"Platform", "SRE"}},
			{"teams of bob", mustTeamsOf(t, s, ws, "bob"), []string{"Field", "Platform"}},
			{"teams of a stranger", mustTeamsOf(t, s, ws, "carol"), nil},
			{"member ids are exact", mustTeamsOf(t, s, ws, "ALICE"), nil},
		}
		for _, c := range cases {
			if got := teamNames(c.got); !reflect.DeepEqual(got, append([]string{}, c.want...)) {
				t.Errorf("%s = %v, want %v", c.name, got, c.want)
			}
		}

		// Every query completes the teams alike.
		platform, _ := mustTeam(t, s, ws, teams["Platform"])
		want := Team{ID: teams["Platform"], WorkspaceID: ws, DepartmentID: eng, DepartmentName: "Engineering", Name: "Platform",
			MemberIDs: []string{"alice", "bob"}, CreatedAt: projectiontest.US(t0), Version: 3}
		if !reflect.DeepEqual(platform, want) {
			t.Fatalf("team = %+v\nwant %+v", platform, want)
		}
		for name, ts := range map[string][]Team{
			"teams": mustTeams(t, s, ws, eng), "find": mustFind(t, s, ws, "platform"), "teams of": mustTeamsOf(t, s, ws, "bob"),
		} {
			found := false
			for _, tm := range ts {
				if tm.ID == want.ID {
					found = true
					if !reflect.DeepEqual(tm, want) {
						t.Fatalf("%s: team = %+v\nwant %+v", name, tm, want)
					}
				}
			}
			if !found {
				t.Fatalf("%s: Platform missing", name)
			}
		}
	})
}
