package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestNamedAgentsAPI: owners create, change and delete named agents under
// slugs unique in their workspace; members and auditors read them; every
// change is a new version; another workspace's slug is AGENT_NOT_FOUND;
// bad input is a 422 that records nothing.
func TestNamedAgentsAPI(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		dana := h.addUser(owner, "dana@acme.test", "member")
		auditor := h.addUser(owner, "audrey@acme.test", "auditor")
		stranger := h.createWorkspace("Globex", "owner@globex.test")
		as := func(m member, method, path string, body any) response {
			return h.do(req{Method: method, Path: path, Auth: bearerOf(m.Token), Body: body})
		}

		r := as(owner, "POST", "/api/agents", map[string]any{"name": "Customer Support", "instructions": "Answer politely; never change data.",
			"model": "gpt-4o-mini", "temperature": 0.2, "max_steps": 4, "tools": []string{"search_contacts", "get_contact"}})
		expectStatus(t, r, http.StatusCreated)
		a := r.JSON(t)
		if a["slug"] != "customer-support" || a["version"] != float64(1) || a["model"] != "gpt-4o-mini" || a["temperature"] != 0.2 ||
			a["max_steps"] != float64(4) || len(a["tools"].([]any)) != 2 {
			t.Fatalf("created agent: %s", r.Raw)
		}
		expectError(t, as(owner, "POST", "/api/agents", map[string]any{"name": "customer   SUPPORT!"}), http.StatusConflict, "CONFLICT")
		expectStatus(t, as(owner, "POST", "/api/agents", map[string]any{"name": "Sales assistant", "slug": "sales"}), http.StatusCreated)

		before := len(h.allEvents())
		for _, bad := range []map[string]any{
			{"name": ""}, {"name": "X", "temperature": 2.5}, {"name": "X", "temperature": "warm"}, {"name": "X", "max_steps": 0},
			{"name": "X", "tools": []string{"launch_rockets"}}, {"name": "X", "slug": "Not A Slug"}, {"name": "X", "colour": "red"},
			{"name": "X", "instructions": strings.Repeat("a", 20_001)},
		} {
			expectError(t, as(owner, "POST", "/api/agents", bad), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		}
		expectError(t, as(dana, "POST", "/api/agents", map[string]any{"name": "Mine"}), http.StatusForbidden, "FORBIDDEN")
		if n := len(h.allEvents()); n != before {
			t.Errorf("bad requests appended %d events", n-before)
		}

		// Everyone in the workspace reads; a change is a new version.
		for _, m := range []member{owner, dana, auditor} {
			if r := as(m, "GET", "/api/agents/customer-support", nil); r.Status != http.StatusOK || r.JSON(t)["name"] != "Customer Support" {
				t.Errorf("%s reads the agent: %d %s", m.Role, r.Status, r.Raw)
			}
		}
		r = as(owner, "PUT", "/api/agents/customer-support", map[string]any{"temperature": 0.7})
		expectStatus(t, r, http.StatusOK)
		if a := r.JSON(t); a["version"] != float64(2) || a["temperature"] != 0.7 || a["model"] != "gpt-4o-mini" {
			t.Errorf("after PUT: %s", r.Raw)
		}
		expectError(t, as(owner, "PUT", "/api/agents/customer-support", map[string]any{"slug": "help"}), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		expectError(t, as(owner, "PUT", "/api/agents/customer-support", map[string]any{"temperature": -1}), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		h.quiesce()
		if r := as(auditor, "GET", "/api/agents", nil); len(r.JSON(t)["agents"].([]any)) != 2 {
			t.Errorf("list: %s", r.Raw)
		}

		// Another workspace sees none of it.
		expectError(t, as(stranger, "GET", "/api/agents/customer-support", nil), http.StatusNotFound, "AGENT_NOT_FOUND")
		expectError(t, as(stranger, "PUT", "/api/agents/customer-support", map[string]any{"name": "Mine now"}), http.StatusNotFound, "AGENT_NOT_FOUND")
		if r := as(stranger, "GET", "/api/agents", nil); len(r.JSON(t)["agents"].([]any)) != 0 {
			t.Errorf("another workspace lists: %s", r.Raw)
		}

		// Deleted: not found, and its slug free again.
		expectStatus(t, as(owner, "DELETE", "/api/agents/sales", nil), http.StatusNoContent)
		expectError(t, as(owner, "GET", "/api/agents/sales", nil), http.StatusNotFound, "AGENT_NOT_FOUND")
		expectError(t, as(owner, "DELETE", "/api/agents/sales", nil), http.StatusNotFound, "AGENT_NOT_FOUND")
		r = as(owner, "POST", "/api/agents", map[string]any{"name": "Sales again", "slug": "sales"})
		expectStatus(t, r, http.StatusCreated)
		if r.JSON(t)["version"] != float64(3) {
			t.Errorf("the slug's next life: %s", r.Raw)
		}

		// The built-in model honours the agent's tools: a write the agent
		// cannot do is said plainly and not done.
		c := h.principal(owner)
		r = h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: map[string]string{"Prefer": "wait=20"},
			Body: map[string]any{"message": "Create a contact for Rita Moreno at Initech, rita@initech.example", "agent": "customer-support"}})
		var p outcomePoll
		if err := json.Unmarshal(r.Raw, &p); err != nil || p.Status != "resolved" || p.Outcome == "completed" ||
			!strings.Contains(p.reply(), "create_contact") || len(h.logEventsOfType("ContactCreated")) != 0 {
			t.Errorf("a write outside the agent's tools: %s", r.Raw)
		}
	})
}
