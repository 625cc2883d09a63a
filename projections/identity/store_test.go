package identity

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

func at(d time.Duration) time.Time { return t0.Add(d) }

// eventLog is the shared log, with this read model's events.
type eventLog struct{ projectiontest.Log }

func created(ws, name string, when time.Time) *workspace.Created {
	return &workspace.Created{WorkspaceID: ws, Name: name, CreatedAt: when}
}

func added(ws, user, email string, role workspace.Role, hash string, when time.Time) *workspace.MemberAdded {
	return &workspace.MemberAdded{WorkspaceID: ws, UserID: user, Email: email, Role: role, TokenHash: hash, AddedAt: when}
}

func mustWorkspace(t testing.TB, s Store, id string) (Workspace, bool) {
	t.Helper()
	w, ok, err := s.Workspace(context.Background(), id)
	if err != nil {
		t.Fatalf("workspace: %v", err)
	}
	w.CreatedAt = projectiontest.US(w.CreatedAt)
	return w, ok
}

func mustMember(t *testing.T, s Store, user string) (Member, bool) {
	t.Helper()
	m, ok, err := s.Member(context.Background(), user)
	if err != nil {
		t.Fatalf("member: %v", err)
	}
	m.CreatedAt = projectiontest.US(m.CreatedAt)
	return m, ok
}

func mustByToken(t *testing.T, s Store, hash string) (Member, bool) {
	t.Helper()
	m, ok, err := s.MemberByTokenHash(context.Background(), hash)
	if err != nil {
		t.Fatalf("member by token: %v", err)
	}
	m.CreatedAt = projectiontest.US(m.CreatedAt)
	return m, ok
}

// contract is this read model to the suite every read model passes.
var contract = projectiontest.Contract[Workspace]{
	Name: Name,
	Open: func(l *projectiontest.Log, t testing.TB, id, _ string, v int64) es.Recorded {
		return l.Rec(t, workspace.Stream(id), v, created(id, "Acme", t0))
	},
	Change: func(l *projectiontest.Log, t testing.TB, id string, v int64) es.Recorded {
		user := uuid.NewString()
		return l.Rec(t, workspace.Stream(id), v, added(id, user, user+"@acme.example", workspace.RoleMember, "hash-"+user, t0))
	},
	Read: func(t testing.TB, s projections.Projection, _, id string) (Workspace, bool) {
		return mustWorkspace(t, s.(Store), id)
	},
}

// runStoreSuite checks an identity store: the contract, and its members.
func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	contract.Run(t, func(t *testing.T) projections.Projection { return newStore(t) })
	ctx := context.Background()

	t.Run("a workspace and its members", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		ws, other := uuid.NewString(), uuid.NewString()
		owner, member, stranger := uuid.NewString(), uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			l.Rec(t, workspace.Stream(ws), 1, created(ws, "Acme", t0)),
			l.Rec(t, workspace.Stream(ws), 2, added(ws, owner, "owner@acme.example", workspace.RoleOwner, "hash-owner", t0)),
			l.Rec(t, workspace.Stream(other), 1, created(other, "Other", at(time.Hour))),
			l.Rec(t, workspace.Stream(other), 2, added(other, stranger, "owner@other.example", workspace.RoleOwner, "hash-stranger", at(time.Hour))),
		)
		if w, ok := mustWorkspace(t, s, ws); !ok || w != (Workspace{ID: ws, Name: "Acme", CreatedAt: projectiontest.US(t0), Version: 2}) {
			t.Fatalf("Workspace = %+v %v", w, ok)
		}
		wantOwner := Member{UserID: owner, WorkspaceID: ws, Email: "owner@acme.example", Role: "owner", TokenHash: "hash-owner", CreatedAt: projectiontest.US(t0)}
		if m, ok := mustMember(t, s, owner); !ok || m != wantOwner {
			t.Fatalf("Member = %+v %v\nwant %+v", m, ok, wantOwner)
		}
		if m, ok := mustByToken(t, s, "hash-owner"); !ok || m != wantOwner {
			t.Fatalf("MemberByTokenHash = %+v %v", m, ok)
		}

		last := l.Rec(t, workspace.Stream(ws), 3, added(ws, member, "bob@acme.example", workspace.RoleAuditor, "hash-bob", at(2*time.Hour)))
		projectiontest.Apply(t, s, last)
		wantMember := Member{UserID: member, WorkspaceID: ws, Email: "bob@acme.example", Role: "auditor", TokenHash: "hash-bob", CreatedAt: projectiontest.US(at(2 * time.Hour))}
		if m, ok := mustByToken(t, s, "hash-bob"); !ok || m != wantMember {
			t.Fatalf("MemberByTokenHash = %+v %v\nwant %+v", m, ok, wantMember)
		}
		if m, ok := mustMember(t, s, member); !ok || m != wantMember {
			t.Fatalf("Member = %+v %v", m, ok)
		}
		// Adding a member moves the workspace's version, nothing else.
		if w, ok := mustWorkspace(t, s, ws); !ok || w != (Workspace{ID: ws, Name: "Acme", CreatedAt: projectiontest.US(t0), Version: 3}) {
			t.Fatalf("Workspace = %+v %v", w, ok)
		}
		if w, ok := mustWorkspace(t, s, other); !ok || w != (Workspace{ID: other, Name: "Other", CreatedAt: projectiontest.US(at(time.Hour)), Version: 2}) {
			t.Fatalf("other Workspace = %+v %v", w, ok)
		}
		if m, ok := mustByToken(t, s, "hash-stranger"); !ok || m.WorkspaceID != other || m.UserID != stranger {
			t.Fatalf("stranger = %+v %v", m, ok)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != last.Position {
			t.Fatalf("checkpoint = %v, want %v", cp, last.Position)
		}
		for _, h := range []string{"", "hash", "HASH-OWNER", "hash-owner "} {
			if m, ok := mustByToken(t, s, h); ok {
				t.Fatalf("token hash %q found %+v", h, m)
			}
		}
		if _, ok := mustMember(t, s, uuid.NewString()); ok {
			t.Fatal("unknown user found")
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		ws, owner, member := uuid.NewString(), uuid.NewString(), uuid.NewString()
		batch := []es.Recorded{
			l.Rec(t, workspace.Stream(ws), 1, created(ws, "Acme", t0)),
			l.Rec(t, workspace.Stream(ws), 2, added(ws, owner, "owner@acme.example", workspace.RoleOwner, "hash-owner", t0)),
			l.Rec(t, workspace.Stream(ws), 3, added(ws, member, "bob@acme.example", workspace.RoleMember, "hash-bob", t0)),
		}
		projectiontest.Apply(t, s, batch...)
		cp := projectiontest.Checkpoint(t, s)
		projectiontest.Apply(t, s, batch...)
		projectiontest.Apply(t, s, batch[1:]...)
		if got := projectiontest.Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved: %v -> %v", cp, got)
		}
		// Held versions at new positions: skipped, even with other contents.
		stale := []es.Recorded{
			l.Rec(t, workspace.Stream(ws), 1, created(ws, "Impostor", at(time.Hour))),
			l.Rec(t, workspace.Stream(ws), 3, added(ws, member, "eve@acme.example", workspace.RoleOwner, "hash-eve", at(time.Hour))),
		}
		projectiontest.Apply(t, s, stale...)
		if w, _ := mustWorkspace(t, s, ws); w != (Workspace{ID: ws, Name: "Acme", CreatedAt: projectiontest.US(t0), Version: 3}) {
			t.Fatalf("Workspace after replays = %+v", w)
		}
		if m, _ := mustMember(t, s, member); m.Email != "bob@acme.example" || m.Role != "member" || m.TokenHash != "hash-bob" {
			t.Fatalf("member after replays = %+v", m)
		}
		if _, ok := mustByToken(t, s, "hash-eve"); ok {
			t.Fatal("a replayed event added a token")
		}
		if got := projectiontest.Checkpoint(t, s); got != stale[1].Position {
			t.Fatalf("checkpoint = %v, want %v", got, stale[1].Position)
		}
	})

	t.Run("a version gap is refused", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		ws, other, owner, bob, eve := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			l.Rec(t, workspace.Stream(ws), 1, created(ws, "Acme", t0)),
			l.Rec(t, workspace.Stream(ws), 2, added(ws, owner, "owner@acme.example", workspace.RoleOwner, "hash-owner", t0)))
		before := projectiontest.Checkpoint(t, s)
		batch := []es.Recorded{
			l.Rec(t, workspace.Stream(other), 1, created(other, "Other", t0)),
			l.Rec(t, workspace.Stream(ws), 3, added(ws, bob, "bob@acme.example", workspace.RoleMember, "hash-bob", t0)),
			l.Rec(t, workspace.Stream(ws), 5, added(ws, eve, "eve@acme.example", workspace.RoleMember, "hash-eve", t0)),
		}
		err := s.Apply(ctx, batch)
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("err = %v, want ErrGap", err)
		}
		if _, ok := mustByToken(t, s, "hash-eve"); ok {
			t.Fatal("the event after the gap was applied")
		}
		if cp := projectiontest.Checkpoint(t, s); cp != before {
			t.Fatalf("checkpoint = %v after a refused batch (before: %v)", cp, before)
		}
		if _, ok := mustWorkspace(t, s, other); ok {
			t.Fatal("workspace created by a refused batch")
		}
		if _, ok := mustByToken(t, s, "hash-bob"); ok {
			t.Fatal("member added by a refused batch")
		}
		if w, _ := mustWorkspace(t, s, ws); w.Version != 2 {
			t.Fatalf("workspace moved by a refused batch: %+v", w)
		}

		// Retried in order, the stream goes on.
		projectiontest.Apply(t, s, batch[0], batch[1], l.Rec(t, workspace.Stream(ws), 4, added(ws, eve, "eve@acme.example", workspace.RoleMember, "hash-eve", t0)))
		if w, _ := mustWorkspace(t, s, ws); w.Version != 4 {
			t.Fatalf("after the retry: %+v", w)
		}
		for _, h := range []string{"hash-bob", "hash-eve"} {
			if m, ok := mustByToken(t, s, h); !ok || m.WorkspaceID != ws {
				t.Fatalf("after the retry %s: %+v %v", h, m, ok)
			}
		}
		if _, ok := mustWorkspace(t, s, other); !ok {
			t.Fatal("after the retry: other workspace missing")
		}
	})

}

func TestMemberZeroValues(t *testing.T) {
	// Not found is the zero value, so a caller that ignores ok cannot
	// mistake it for someone.
	s := NewMemory()
	m, ok, err := s.MemberByTokenHash(context.Background(), "x")
	if err != nil || ok || !reflect.DeepEqual(m, Member{}) {
		t.Fatalf("= %+v %v %v", m, ok, err)
	}
}
