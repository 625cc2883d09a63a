package workspace_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/es/estest"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
)

var now = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	wsID    = "ws-1"
	ownerID = "user-owner"
)

func created() []es.Fact {
	return []es.Fact{
		&workspace.Created{WorkspaceID: wsID, Name: "Acme", CreatedAt: now},
		&workspace.MemberAdded{WorkspaceID: wsID, UserID: ownerID, Email: "owner@acme.example", Role: workspace.RoleOwner, TokenHash: "h-owner", AddedAt: now},
	}
}

func TestCreate(t *testing.T) {
	t.Run("decides the workspace and its first owner", func(t *testing.T) {
		facts, err := workspace.Create(wsID, "  Acme  ", ownerID, " Owner@ACME.example ", "h-owner", now)
		estest.ThenFacts(t, facts, err,
			&workspace.Created{WorkspaceID: wsID, Name: "Acme", CreatedAt: now},
			&workspace.MemberAdded{WorkspaceID: wsID, UserID: ownerID, Email: "owner@acme.example", Role: workspace.RoleOwner, TokenHash: "h-owner", AddedAt: now})
	})
	t.Run("name is required", func(t *testing.T) {
		for _, name := range []string{"", "   ", "\t\n"} {
			facts, err := workspace.Create(wsID, name, ownerID, "owner@acme.example", "h", now)
			estest.ThenInvalid(t, facts, err, "name")
		}
	})
	t.Run("name of 200 characters is accepted, 201 refused", func(t *testing.T) {
		facts, err := workspace.Create(wsID, strings.Repeat("a", 200), ownerID, "owner@acme.example", "h", now)
		if err != nil || len(facts) != 2 {
			t.Fatalf("200 characters: %v", err)
		}
		facts, err = workspace.Create(wsID, strings.Repeat("a", 201), ownerID, "owner@acme.example", "h", now)
		estest.ThenInvalid(t, facts, err, "name")
	})
	t.Run("name limit counts characters, not bytes", func(t *testing.T) {
		// Like every other limit in the domain, the name limit counts
		// characters (runes), not bytes: 150 "é" are 300 bytes.
		name := strings.Repeat("é", 150)
		facts, err := workspace.Create(wsID, name, ownerID, "owner@acme.example", "h", now)
		if err != nil {
			t.Fatalf("a name of 150 characters (300 bytes) was refused: %v", err)
		}
		if got := facts[0].(*workspace.Created).Name; got != name {
			t.Fatalf("name = %q", got)
		}
	})
	t.Run("owner email must be valid", func(t *testing.T) {
		for _, email := range []string{"", "  ", "not-an-email", "Owner <owner@acme.example>", "owner@", "@acme.example", "a b@acme.example"} {
			facts, err := workspace.Create(wsID, "Acme", ownerID, email, "h", now)
			estest.ThenInvalid(t, facts, err, "owner_email")
		}
	})
}

func TestNormalizeEmail(t *testing.T) {
	got, err := workspace.NormalizeEmail("  Ada.Lovelace@Engines.EXAMPLE ")
	if err != nil || got != "ada.lovelace@engines.example" {
		t.Fatalf("NormalizeEmail = %q, %v", got, err)
	}
	_, err = workspace.NormalizeEmail("")
	var v *workspace.ValidationError
	if !errors.As(err, &v) || v.Field != "email" || v.Reason != "is required" {
		t.Fatalf("blank email: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []workspace.Role{workspace.RoleOwner, workspace.RoleMember, workspace.RoleAuditor} {
		if got, err := workspace.ParseRole(string(r)); err != nil || got != r {
			t.Fatalf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Owner", "admin"} {
		if got, err := workspace.ParseRole(s); err == nil || got != "" {
			t.Fatalf("ParseRole(%q) = %q, %v; want an error", s, got, err)
		}
	}
}

func TestAddMember(t *testing.T) {
	later := now.Add(time.Hour)

	t.Run("an owner adds a member", func(t *testing.T) {
		w := estest.Given[workspace.Workspace](created()...)
		facts, err := w.AddMember(ownerID, "user-2", "Bob@Acme.Example", workspace.RoleMember, "h-2", later)
		estest.ThenFacts(t, facts, err, &workspace.MemberAdded{WorkspaceID: wsID, UserID: "user-2", Email: "bob@acme.example",
			Role: workspace.RoleMember, TokenHash: "h-2", AddedAt: later})
	})
	t.Run("an added owner may add people too", func(t *testing.T) {
		w := estest.Given[workspace.Workspace](append(created(),
			&workspace.MemberAdded{WorkspaceID: wsID, UserID: "user-2", Email: "co@acme.example", Role: workspace.RoleOwner, TokenHash: "h-2", AddedAt: now})...)
		facts, err := w.AddMember("user-2", "user-3", "carol@acme.example", workspace.RoleAuditor, "h-3", later)
		estest.ThenFacts(t, facts, err, &workspace.MemberAdded{WorkspaceID: wsID, UserID: "user-3", Email: "carol@acme.example",
			Role: workspace.RoleAuditor, TokenHash: "h-3", AddedAt: later})
	})
	t.Run("only owners add people", func(t *testing.T) {
		w := estest.Given[workspace.Workspace](append(created(),
			&workspace.MemberAdded{WorkspaceID: wsID, UserID: "user-m", Email: "m@acme.example", Role: workspace.RoleMember, TokenHash: "h-m", AddedAt: now},
			&workspace.MemberAdded{WorkspaceID: wsID, UserID: "user-a", Email: "a@acme.example", Role: workspace.RoleAuditor, TokenHash: "h-a", AddedAt: now})...)
		for _, actor := range []string{"user-m", "user-a", "stranger", ""} {
			facts, err := w.AddMember(actor, "user-9", "new@acme.example", workspace.RoleMember, "h-9", later)
			estest.ThenError(t, facts, err, workspace.ErrNotOwner)
		}
	})
	t.Run("an email already in the workspace is refused, whatever its case", func(t *testing.T) {
		w := estest.Given[workspace.Workspace](append(created(),
			&workspace.MemberAdded{WorkspaceID: wsID, UserID: "user-2", Email: "bob@acme.example", Role: workspace.RoleMember, TokenHash: "h-2", AddedAt: now})...)
		for _, email := range []string{"bob@acme.example", "BOB@acme.EXAMPLE", " Bob@Acme.Example ", "OWNER@acme.example"} {
			facts, err := w.AddMember(ownerID, "user-3", email, workspace.RoleMember, "h-3", later)
			estest.ThenError(t, facts, err, workspace.ErrEmailTaken)
		}
	})
	t.Run("an invalid email is refused", func(t *testing.T) {
		w := estest.Given[workspace.Workspace](created()...)
		facts, err := w.AddMember(ownerID, "user-2", "bob at acme", workspace.RoleMember, "h-2", later)
		estest.ThenInvalid(t, facts, err, "email")
	})
	t.Run("unknown workspace", func(t *testing.T) {
		w := estest.Given[workspace.Workspace]()
		facts, err := w.AddMember(ownerID, "user-2", "bob@acme.example", workspace.RoleMember, "h-2", later)
		estest.ThenError(t, facts, err, workspace.ErrNoSuchWorkspace)
	})
	t.Run("members fold into the state", func(t *testing.T) {
		w := estest.Given[workspace.Workspace](append(created(),
			&workspace.MemberAdded{WorkspaceID: wsID, UserID: "user-2", Email: "bob@acme.example", Role: workspace.RoleMember, TokenHash: "h-2", AddedAt: now})...)
		want := map[string]workspace.Member{
			ownerID:  {UserID: ownerID, Email: "owner@acme.example", Role: workspace.RoleOwner},
			"user-2": {UserID: "user-2", Email: "bob@acme.example", Role: workspace.RoleMember},
		}
		if w.ID != wsID || w.Name != "Acme" || !reflect.DeepEqual(w.Members, want) || !w.Exists() {
			t.Fatalf("state = %+v", w)
		}
	})
}

func TestStreamAndRegistry(t *testing.T) {
	if got := workspace.Stream("abc"); got != "workspace-abc" {
		t.Fatalf("Stream = %q", got)
	}
	for _, f := range []es.Fact{&workspace.Created{}, &workspace.MemberAdded{}} {
		if !workspace.Events.Knows(f.EventType()) {
			t.Fatalf("registry does not know %s", f.EventType())
		}
	}
	if (workspace.Created{}).EventType() != "WorkspaceCreated" || (workspace.MemberAdded{}).EventType() != "WorkspaceMemberAdded" {
		t.Fatalf("event type names changed")
	}
}
