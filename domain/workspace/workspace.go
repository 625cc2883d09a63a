// Package workspace is the identity aggregate: a workspace and its members.
// Members live inside the workspace stream so that rules spanning members
// (one account per email, only owners add people) are decided from one
// stream with one expected version.
package workspace

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
)

// Role of a member.
type Role string

const (
	RoleOwner   Role = "owner"
	RoleMember  Role = "member"
	RoleAuditor Role = "auditor"
)

// ParseRole accepts the three documented roles.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleOwner, RoleMember, RoleAuditor:
		return Role(s), nil
	}
	return "", fmt.Errorf("role must be one of owner, member or auditor, not %q", s)
}

// Stream names the workspace's stream.
func Stream(id string) string { return "workspace-" + id }

// Events.

// Created is the first fact of a workspace.
type Created struct {
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
}

// MemberAdded records a person joining, with the hash of their bearer token.
type MemberAdded struct {
	WorkspaceID string    `json:"workspace_id"`
	UserID      string    `json:"user_id"`
	Email       string    `json:"email"`
	Role        Role      `json:"role"`
	TokenHash   string    `json:"token_hash"`
	AddedAt     time.Time `json:"added_at"`
}

func (Created) EventType() string     { return "WorkspaceCreated" }
func (MemberAdded) EventType() string { return "WorkspaceMemberAdded" }

// Events decodes this aggregate's facts.
var Events = es.Registered(es.Of[Created], es.Of[MemberAdded])

// Member is a person in the workspace.
type Member struct {
	UserID string
	Email  string
	Role   Role
}

// Workspace is the state folded from its stream.
type Workspace struct {
	ID      string
	Name    string
	Members map[string]Member // by user id
	Version int64
}

// Apply folds one fact into the state.
func (w *Workspace) Apply(f es.Fact) {
	switch e := f.(type) {
	case *Created:
		w.ID, w.Name = e.WorkspaceID, e.Name
		w.Members = map[string]Member{}
	case *MemberAdded:
		w.Members[e.UserID] = Member{UserID: e.UserID, Email: e.Email, Role: e.Role}
	}
}

// Exists reports whether the workspace has been created.
func (w *Workspace) Exists() bool { return w.ID != "" }

// Errors a caller can act on.
var (
	ErrNotOwner        = errors.New("only an owner of the workspace can add people")
	ErrEmailTaken      = errors.New("someone with this email is already a member of the workspace")
	ErrNoSuchWorkspace = errors.New("workspace not found")
)

// ValidationError names the field that is wrong (shared by every aggregate).
type ValidationError = invalid.Error

// NormalizeEmail validates an email address and lower-cases it.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", &ValidationError{Field: "email", Reason: "is required"}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "", &ValidationError{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address", s)}
	}
	return strings.ToLower(s), nil
}

// Create decides the facts of a new workspace with its first owner.
func Create(workspaceID, name, ownerID, ownerEmail, tokenHash string, now time.Time) ([]es.Fact, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, &ValidationError{Field: "name", Reason: "is required"}
	}
	if utf8.RuneCountInString(name) > 200 {
		return nil, &ValidationError{Field: "name", Reason: "must be at most 200 characters"}
	}
	email, err := NormalizeEmail(ownerEmail)
	if err != nil {
		if v, ok := err.(*ValidationError); ok {
			v.Field = "owner_email"
		}
		return nil, err
	}
	return []es.Fact{
		&Created{WorkspaceID: workspaceID, Name: name, CreatedAt: now},
		&MemberAdded{WorkspaceID: workspaceID, UserID: ownerID, Email: email, Role: RoleOwner, TokenHash: tokenHash, AddedAt: now},
	}, nil
}

// AddMember decides whether actor may add a person with this email and role.
func (w *Workspace) AddMember(actorID, userID, email string, role Role, tokenHash string, now time.Time) ([]es.Fact, error) {
	if !w.Exists() {
		return nil, ErrNoSuchWorkspace
	}
	if m, ok := w.Members[actorID]; !ok || m.Role != RoleOwner {
		return nil, ErrNotOwner
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	for _, m := range w.Members {
		if m.Email == email {
			return nil, ErrEmailTaken
		}
	}
	return []es.Fact{&MemberAdded{WorkspaceID: w.ID, UserID: userID, Email: email, Role: role, TokenHash: tokenHash, AddedAt: now}}, nil
}
