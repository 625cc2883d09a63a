package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
	"github.com/sois-ai/chat-agent-gateway/domain/namedagent"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections/agents"
)

// Named agents: owners make and change them, every member uses and reads
// them (POST /api/agent with "agent": slug), auditors read them.

// CodeAgentNotFound answers an agent slug that is unknown, deleted or
// another workspace's.
const CodeAgentNotFound = "AGENT_NOT_FOUND"

var agentFields = []string{"name", "slug", "instructions", "model", "temperature", "max_steps", "tools"}

type agentBody struct {
	ID           string    `json:"id"`
	Slug         string    `json:"slug"`
	Name         string    `json:"name"`
	Instructions string    `json:"instructions"`
	Model        *string   `json:"model"`
	Temperature  *float64  `json:"temperature"`
	MaxSteps     *int      `json:"max_steps"`
	Tools        []string  `json:"tools"`
	Version      int64     `json:"version"`
	CreatedAt    Timestamp `json:"created_at"`
	UpdatedAt    Timestamp `json:"updated_at"`
}

func agentOf(id, slug string, c namedagent.Config, version int64, created, updated time.Time) agentBody {
	b := agentBody{ID: id, Slug: slug, Name: c.Name, Instructions: c.Instructions, Temperature: c.Temperature,
		Tools: c.Tools, Version: version, CreatedAt: ts(created), UpdatedAt: ts(updated)}
	if c.Model != "" {
		m := c.Model
		b.Model = &m
	}
	if c.MaxSteps > 0 {
		n := c.MaxSteps
		b.MaxSteps = &n
	}
	return b
}

func agentNotFound(slug string) *apiError {
	return errorf(http.StatusNotFound, CodeAgentNotFound, "There is no agent %q in this workspace.", slug)
}

// agentError maps the commands' errors of agents.
func (s *Server) agentError(r *http.Request, slug string, err error) *apiError {
	var iv *invalid.Error
	switch {
	case errors.Is(err, namedagent.ErrNotFound):
		return agentNotFound(slug)
	case errors.Is(err, namedagent.ErrExists):
		return errorf(http.StatusConflict, CodeConflict, "An agent with the slug %q already exists in this workspace; choose another slug, or change that agent with PUT /api/agents/%s.", slug, slug)
	case errors.As(err, &iv):
		return validation("%s.", iv.Error())
	}
	return s.internal(r, err)
}

// agentOwner lets only owners change agents.
func (s *Server) agentOwner(r *http.Request) (caller, *apiError) {
	c, e := s.authenticate(r)
	if e != nil {
		return c, e
	}
	if !c.is(string(workspace.RoleOwner)) {
		return c, errorf(http.StatusForbidden, CodeForbidden, "Only an owner of the workspace can create, change or delete agents; you are %s.", c.Role)
	}
	return c, nil
}

// parseAgentConfig reads the fields present in obj over base.
func (s *Server) parseAgentConfig(obj map[string]json.RawMessage, base namedagent.Config) (namedagent.Config, *apiError) {
	c := base
	for _, f := range []struct {
		name string
		dst  *string
	}{{"name", &c.Name}, {"instructions", &c.Instructions}, {"model", &c.Model}} {
		if raw, ok := obj[f.name]; ok {
			v, _, e := stringField(obj, f.name)
			if e != nil {
				return c, e
			}
			if isNull(raw) {
				v = ""
			}
			*f.dst = v
		}
	}
	if raw, ok := obj["temperature"]; ok {
		c.Temperature = nil
		if !isNull(raw) {
			var t float64
			if err := json.Unmarshal(raw, &t); err != nil {
				return c, validation("temperature must be a number from 0 to 2 (or null for the model's own), not %s.", jsonKind(raw))
			}
			c.Temperature = &t
		}
	}
	if raw, ok := obj["max_steps"]; ok {
		c.MaxSteps = 0
		if !isNull(raw) {
			var n float64
			if err := json.Unmarshal(raw, &n); err != nil || n != math.Trunc(n) || n < 1 || n > namedagent.MaxSteps {
				return c, validation("max_steps must be a whole number from 1 to %d (or null for the gateway's limit).", namedagent.MaxSteps)
			}
			c.MaxSteps = int(n)
		}
	}
	if raw, ok := obj["tools"]; ok {
		tools, e := parseToolScope(raw, s.toolNames())
		if e != nil {
			return c, e
		}
		c.Tools = tools
	}
	if _, err := namedagent.Check(c); err != nil {
		var iv *invalid.Error
		if errors.As(err, &iv) {
			return c, validation("%s.", iv.Error())
		}
		return c, validation("%s.", err.Error())
	}
	return c, nil
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, c caller) {
	obj, e := readObject(r, agentFields, false)
	if e != nil {
		writeError(w, e)
		return
	}
	cfg, e := s.parseAgentConfig(obj, namedagent.Config{})
	if e != nil {
		writeError(w, e)
		return
	}
	slug, given, e := stringField(obj, "slug")
	if e != nil {
		writeError(w, e)
		return
	}
	if !given {
		if slug = namedagent.Slugify(cfg.Name); slug == "" {
			writeError(w, validation("name %q gives no slug (it needs letters or digits of the Latin alphabet); give a slug.", cfg.Name))
			return
		}
	}
	a, pos, err := s.d.Commands.CreateAgent(r.Context(), c.WorkspaceID, slug, cfg, userCause(c))
	if err != nil {
		writeError(w, s.agentError(r, slug, err))
		return
	}
	s.settle(r, pos)
	w.Header().Set("Location", "/api/agents/"+a.Slug)
	writeJSON(w, http.StatusCreated, agentOf(a.ID, a.Slug, a.Config, a.Version, a.CreatedAt, a.UpdatedAt))
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, c caller) {
	q, e := s.parsePage(r, "agents")
	if e != nil {
		writeError(w, e)
		return
	}
	vs, err := s.d.Agents.List(r.Context(), c.WorkspaceID)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	page, next := pageOf(s, vs, func(v agents.View) (time.Time, string) { return v.CreatedAt, v.ID }, q, "agents")
	out := make([]agentBody, len(page))
	for i, v := range page {
		out[i] = agentOf(v.ID, v.Slug, v.Config, v.Version, v.CreatedAt, v.UpdatedAt)
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out, "next_cursor": next})
}

// getAgent reads the agent from its own events, so a change is seen at once.
func (s *Server) getNamedAgent(w http.ResponseWriter, r *http.Request, c caller) {
	slug := chi.URLParam(r, "slug")
	a, err := s.d.Commands.Agent(r.Context(), c.WorkspaceID, slug)
	if err != nil {
		writeError(w, s.agentError(r, slug, err))
		return
	}
	writeJSON(w, http.StatusOK, agentOf(a.ID, a.Slug, a.Config, a.Version, a.CreatedAt, a.UpdatedAt))
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request, c caller) {
	slug := chi.URLParam(r, "slug")
	obj, e := readObject(r, agentFields, true)
	if e != nil {
		writeError(w, e)
		return
	}
	if _, ok := obj["slug"]; ok {
		writeError(w, validation("slug cannot be changed: it names the agent; create an agent with the new slug instead."))
		return
	}
	a, pos, err := s.d.Commands.UpdateAgent(r.Context(), c.WorkspaceID, slug, func(cur namedagent.Config) (namedagent.Config, error) {
		next, e := s.parseAgentConfig(obj, cur)
		if e != nil {
			return cur, badAgentInput{e}
		}
		return next, nil
	}, userCause(c))
	var bad badAgentInput
	if errors.As(err, &bad) {
		writeError(w, bad.e)
		return
	}
	if err != nil {
		writeError(w, s.agentError(r, slug, err))
		return
	}
	s.settle(r, pos)
	writeJSON(w, http.StatusOK, agentOf(a.ID, a.Slug, a.Config, a.Version, a.CreatedAt, a.UpdatedAt))
}

// badAgentInput carries a request's mistake out of UpdateAgent's decision.
type badAgentInput struct{ e *apiError }

func (b badAgentInput) Error() string { return b.e.Message }

func (s *Server) deleteAgent(w http.ResponseWriter, r *http.Request, c caller) {
	slug := chi.URLParam(r, "slug")
	pos, err := s.d.Commands.DeleteAgent(r.Context(), c.WorkspaceID, slug, userCause(c))
	if err != nil {
		writeError(w, s.agentError(r, slug, err))
		return
	}
	s.settle(r, pos)
	w.WriteHeader(http.StatusNoContent)
}
