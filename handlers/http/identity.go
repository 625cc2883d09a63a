package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
)

func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request) {
	if s.d.AdminToken == "" {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "There is no route %s %s.", r.Method, r.URL.Path))
		return
	}
	if !s.isAdmin(r) {
		writeError(w, errorf(http.StatusUnauthorized, CodeUnauthenticated,
			"The admin API needs the admin token (GATEWAY_ADMIN_TOKEN) as \"Authorization: Bearer <token>\"."))
		return
	}
	f, e := readStrings(r, "name", "owner_email")
	if e != nil {
		writeError(w, e)
		return
	}
	name, email := f[0], f[1]
	out, err := s.d.Commands.CreateWorkspace(r.Context(), commands.CreateWorkspace{Name: name, OwnerEmail: email})
	if err != nil {
		writeError(w, s.identityError(r, err))
		return
	}
	s.settle(r, out.Position)
	writeJSON(w, http.StatusCreated, map[string]string{"workspace_id": out.WorkspaceID, "user_id": out.UserID, "token": out.Token})
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.is(string(workspace.RoleOwner)) {
		writeError(w, errorf(http.StatusForbidden, CodeForbidden, "Only an owner of the workspace can add users; you are %s.", c.Role))
		return
	}
	obj, e := readObject(r, []string{"email", "role"}, false)
	if e != nil {
		writeError(w, e)
		return
	}
	email, _, e := stringField(obj, "email")
	if e != nil {
		writeError(w, e)
		return
	}
	roleStr, present, e := stringField(obj, "role")
	if e != nil {
		writeError(w, e)
		return
	}
	if !present {
		roleStr = string(workspace.RoleMember)
	}
	role, err := workspace.ParseRole(roleStr)
	if err != nil {
		writeError(w, validation("%s.", err.Error()))
		return
	}
	out, err := s.d.Commands.AddMember(r.Context(), commands.AddMember{WorkspaceID: c.WorkspaceID, ActorID: c.UserID, Email: email, Role: role})
	if err != nil {
		writeError(w, s.identityError(r, err))
		return
	}
	s.settle(r, out.Position)
	writeJSON(w, http.StatusCreated, map[string]string{"user_id": out.UserID, "token": out.Token, "role": string(role)})
}

func (s *Server) identityError(r *http.Request, err error) *apiError {
	var v *invalid.Error
	switch {
	case errors.As(err, &v):
		return validation("%s.", v.Error())
	case errors.Is(err, workspace.ErrEmailTaken):
		return errorf(http.StatusConflict, CodeConflict, "Someone with this email is already a member of the workspace.")
	case errors.Is(err, workspace.ErrNotOwner):
		return errorf(http.StatusForbidden, CodeForbidden, "Only an owner of the workspace can add users.")
	}
	return s.internal(r, err)
}

// userItem is one row of GET /api/users (never the token or its hash).
type userItem struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt Timestamp `json:"created_at"`
}

// listUsers is GET /api/users: the workspace's people, in the order they
// joined, a page at a time.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c caller) {
	q, e := s.parsePage(r, "users")
	if e != nil {
		writeError(w, e)
		return
	}
	members, err := s.d.Identity.Members(r.Context(), c.WorkspaceID)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	page, next := pageOf(s, members, func(m identity.Member) (time.Time, string) { return m.CreatedAt, m.UserID }, q, "users")
	out := make([]userItem, 0, len(page))
	for _, m := range page {
		out = append(out, userItem{UserID: m.UserID, Email: m.Email, Role: m.Role, CreatedAt: ts(m.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "next_cursor": next})
}
