package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/projections/documents"
	orgview "github.com/sois-ai/chat-agent-gateway/projections/org"

	"github.com/go-chi/chi/v5"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/document"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
	"github.com/sois-ai/chat-agent-gateway/domain/org"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
)

// These endpoints let an owner set a workspace up (departments, teams,
// documents) so the agent has something to work with; the agent itself
// reaches the same data through its tools.

func userCause(c caller) commands.Cause {
	return commands.Cause{CorrelationID: c.WorkspaceID, CausationID: "http", Actor: es.Actor{Kind: "user", ID: c.UserID}}
}

func (s *Server) owner(r *http.Request) (caller, *apiError) {
	c, e := s.authenticate(r)
	if e != nil {
		return c, e
	}
	if !c.is(string(workspace.RoleOwner)) {
		return c, errorf(http.StatusForbidden, CodeForbidden, "Only an owner of the workspace can change its organisation; you are %s.", c.Role)
	}
	return c, nil
}

func (s *Server) orgError(r *http.Request, err error) *apiError {
	var iv *invalid.Error
	switch {
	case errors.As(err, &iv):
		return validation("%s.", iv.Error())
	case errors.Is(err, org.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "No such team in your workspace.")
	}
	return s.internal(r, err)
}

func (s *Server) createDepartment(w http.ResponseWriter, r *http.Request, c caller) {
	f, e := readStrings(r, "name")
	if e != nil {
		writeError(w, e)
		return
	}
	name := f[0]
	id, pos, err := s.d.Commands.CreateDepartment(r.Context(), c.WorkspaceID, name, userCause(c))
	if err != nil {
		writeError(w, s.orgError(r, err))
		return
	}
	s.settle(r, pos)
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "name": strings.TrimSpace(name)})
}

func (s *Server) listDepartments(w http.ResponseWriter, r *http.Request, c caller) {
	q, e := s.parsePage(r, "departments")
	if e != nil {
		writeError(w, e)
		return
	}
	ds, err := s.d.Org.Departments(r.Context(), c.WorkspaceID)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	page, next := pageOf(s, ds, func(d orgview.Department) (time.Time, string) { return d.CreatedAt, d.ID }, q, "departments")
	writeJSON(w, http.StatusOK, map[string]any{"departments": nonNil(page), "next_cursor": next})
}

// nonNil makes an empty page a JSON [] rather than null.
func nonNil[T any](items []T) []T {
	if items == nil {
		return []T{}
	}
	return items
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, c caller) {
	f, e := readStrings(r, "name", "department_id")
	if e != nil {
		writeError(w, e)
		return
	}
	name, dept := f[0], f[1]
	if dept != "" {
		var ok bool
		if dept, ok = canonicalUUID(dept); !ok {
			writeError(w, validation("department_id must be a department's id (a UUID)."))
			return
		}
	}
	id, pos, err := s.d.Commands.CreateTeam(r.Context(), c.WorkspaceID, dept, name, userCause(c))
	if err != nil {
		writeError(w, s.orgError(r, err))
		return
	}
	s.settle(r, pos)
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "name": strings.TrimSpace(name), "department_id": dept})
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request, c caller) {
	q, e := s.parsePage(r, "teams")
	if e != nil {
		writeError(w, e)
		return
	}
	ts, err := s.d.Org.Teams(r.Context(), c.WorkspaceID, "")
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	page, next := pageOf(s, ts, func(t orgview.Team) (time.Time, string) { return t.CreatedAt, t.ID }, q, "teams")
	writeJSON(w, http.StatusOK, map[string]any{"teams": nonNil(page), "next_cursor": next})
}

func (s *Server) addTeamMember(w http.ResponseWriter, r *http.Request, c caller) {
	raw := chi.URLParam(r, "id")
	teamID, ok := canonicalUUID(raw)
	if !ok {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "%q is not a team id; team ids are UUIDs.", raw))
		return
	}
	f, e := readStrings(r, "user_id", "email")
	if e != nil {
		writeError(w, e)
		return
	}
	userID, email := f[0], f[1]
	if userID == "" && email != "" {
		members, err := s.d.Identity.Members(r.Context(), c.WorkspaceID)
		if err != nil {
			writeError(w, s.internal(r, err))
			return
		}
		for _, m := range members {
			if strings.EqualFold(m.Email, strings.TrimSpace(email)) {
				userID = m.UserID
			}
		}
		if userID == "" {
			writeError(w, validation("email %q is not a member of this workspace; add the person with POST /api/users first.", email))
			return
		}
	}
	if userID == "" {
		writeError(w, validation("Give user_id or email of the member to add."))
		return
	}
	pos, err := s.d.Commands.AddTeamMember(r.Context(), c.WorkspaceID, teamID, userID, userCause(c))
	if err != nil {
		writeError(w, s.orgError(r, err))
		return
	}
	s.settle(r, pos)
	writeJSON(w, http.StatusOK, map[string]string{"team_id": teamID, "user_id": userID})
}

// documentItem is a document in GET /api/documents: no body (a list must
// stay small; the agent's tools read bodies).
type documentItem struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Folder    string    `json:"folder"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// listDocuments pages the workspace's documents in the order they were
// made (?folder= for one folder), keyset in the store.
func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request, c caller) {
	q, e := s.parsePage(r, "documents")
	if e != nil {
		writeError(w, e)
		return
	}
	dq := documents.CreationQuery{Folder: r.URL.Query().Get("folder"), Limit: q.limit + 1}
	if q.after != nil {
		dq.After = &documents.Place{CreatedAt: q.after.At, ID: q.after.ID}
	}
	vs, err := s.d.Documents.ByCreation(r.Context(), c.WorkspaceID, dq)
	var invalidFolder *document.ValidationError
	switch {
	case errors.As(err, &invalidFolder):
		writeError(w, validation("%s.", err.Error()))
		return
	case err != nil:
		writeError(w, s.internal(r, err))
		return
	}
	var next *string
	if len(vs) > q.limit {
		vs = vs[:q.limit]
		last := vs[len(vs)-1]
		next = s.sealCursor(pageKey{List: "documents", At: last.CreatedAt, ID: last.ID})
	}
	items := make([]documentItem, len(vs))
	for i, v := range vs {
		items[i] = documentItem{ID: v.ID, Title: v.Title, Folder: v.Folder, CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"documents": items, "next_cursor": next})
}

func (s *Server) createDocument(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.is(string(workspace.RoleOwner), string(workspace.RoleMember)) {
		writeError(w, errorf(http.StatusForbidden, CodeForbidden, "The %s role cannot create documents.", c.Role))
		return
	}
	obj, e := readObject(r, []string{"title", "folder", "body"}, false)
	if e != nil {
		writeError(w, e)
		return
	}
	var f [3]string
	for i, name := range []string{"title", "folder", "body"} {
		v, _, e := stringField(obj, name)
		if e != nil {
			writeError(w, e)
			return
		}
		f[i] = v
	}
	id := commands.NewID()
	d, err := s.d.Commands.CreateDocument(r.Context(), id, c.WorkspaceID, f[0], f[1], f[2], c.UserID, userCause(c))
	if err != nil {
		writeError(w, s.orgError(r, err))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": d.ID, "title": d.Title, "folder": d.Folder})
}
