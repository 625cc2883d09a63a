package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

var keyFields = []string{"label", "response_url", "budget_usd_cents", "budget_period", "tools"}

type keyBody struct {
	ID             string     `json:"id"`
	UserID         string     `json:"user_id"`
	Key            string     `json:"key,omitempty"`
	SigningSecret  string     `json:"signing_secret,omitempty"`
	KeyPrefix      string     `json:"key_prefix"`
	Mode           string     `json:"mode"` // "test" or "live"
	Label          string     `json:"label"`
	ResponseURL    *string    `json:"response_url"`
	BudgetUSDCents *int64     `json:"budget_usd_cents"`
	BudgetPeriod   string     `json:"budget_period"`
	Status         string     `json:"status"`
	CreatedAt      Timestamp  `json:"created_at"`
	UpdatedAt      Timestamp  `json:"updated_at"`
	RevokedAt      *Timestamp `json:"revoked_at"`
	// Tools are the tools the key may use (null: every tool).
	Tools   []string   `json:"tools"`
	Usage   *usageBody `json:"usage,omitempty"`
	Warning string     `json:"warning,omitempty"`
}

type usageBody struct {
	MessagesAccepted int            `json:"messages_accepted"`
	Conversations    map[string]int `json:"conversations"`
	ModelSteps       int            `json:"model_steps"`
	ToolCalls        int            `json:"tool_calls"`
	InputTokens      int            `json:"input_tokens"`
	OutputTokens     int            `json:"output_tokens"`
	FailedForBudget  int            `json:"failed_for_budget"`
	Webhooks         map[string]int `json:"webhook_deliveries"`
	// McpToolCalls counts the key's tool calls over MCP (refused ones too).
	McpToolCalls        int64 `json:"mcp_tool_calls"`
	McpToolCallsRefused int64 `json:"mcp_tool_calls_refused"`
	// The budget: period, spent and remaining (see billing.go).
	*KeyBudgetUsage
}

func keyFromView(v apikeys.View) keyBody {
	b := keyBody{ID: v.ID, UserID: v.UserID, KeyPrefix: v.KeyPrefix, Mode: v.Mode, Label: v.Label, BudgetUSDCents: v.BudgetUSDCents,
		BudgetPeriod: v.BudgetPeriod, Status: "active", CreatedAt: ts(v.CreatedAt), UpdatedAt: ts(v.UpdatedAt),
		RevokedAt: tsp(v.RevokedAt), Tools: v.Tools}
	if v.ResponseURL != "" {
		u := v.ResponseURL
		b.ResponseURL = &u
	}
	if v.Revoked {
		b.Status = "revoked"
	}
	return b
}

func usageFrom(u conversations.Usage) *usageBody {
	return &usageBody{MessagesAccepted: u.Conversations, Conversations: u.ByStatus, ModelSteps: u.Steps,
		ToolCalls: u.ToolCalls, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		FailedForBudget: u.FailedForBudget, Webhooks: u.Webhooks}
}

// keyManager authenticates a person who may manage keys (auditors read, but
// do not hold keys).
func (s *Server) keyManager(r *http.Request) (caller, *apiError) {
	c, e := s.authenticate(r)
	if e != nil {
		return c, e
	}
	if !c.is(string(workspace.RoleOwner), string(workspace.RoleMember)) {
		return c, errorf(http.StatusForbidden, CodeForbidden, "The %s role cannot create or change API keys.", c.Role)
	}
	return c, nil
}

// parseSettings applies the fields present in obj on top of base; tools
// are checked against the catalog's names.
func parseSettings(obj map[string]json.RawMessage, base apikey.Settings, catalog []string) (apikey.Settings, *apiError) {
	s := base
	if raw, ok := obj["tools"]; ok {
		tools, e := parseToolScope(raw, catalog)
		if e != nil {
			return s, e
		}
		s.Tools = tools
	}
	if raw, ok := obj["label"]; ok {
		if isNull(raw) {
			s.Label = ""
		} else if err := json.Unmarshal(raw, &s.Label); err != nil {
			return s, validation("label must be a string, not %s.", jsonKind(raw))
		}
		l, err := apikey.ValidateLabel(s.Label)
		if err != nil {
			return s, validation("%s.", err.Error())
		}
		s.Label = l
	}
	if raw, ok := obj["response_url"]; ok {
		var u string
		if !isNull(raw) {
			if err := json.Unmarshal(raw, &u); err != nil {
				return s, validation("response_url must be a string (an absolute http or https URL) or null, not %s.", jsonKind(raw))
			}
			if strings.TrimSpace(u) == "" {
				return s, validation("response_url must be an absolute http or https URL, or null to remove it.")
			}
		}
		v, err := apikey.ValidateResponseURL(u)
		if err != nil {
			return s, validation("%s.", err.Error())
		}
		s.ResponseURL = v
	}
	if raw, ok := obj["budget_usd_cents"]; ok {
		if isNull(raw) {
			s.BudgetUSDCents = nil
		} else {
			if t := bytes.TrimSpace(raw); len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
				return s, validation("budget_usd_cents must be a whole number of cents (e.g. 5000 for $50) or null, not %s.", jsonKind(raw))
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var n json.Number
			if err := dec.Decode(&n); err != nil {
				return s, validation("budget_usd_cents must be a whole number of cents (e.g. 5000 for $50) or null, not %s.", jsonKind(raw))
			}
			c, err := n.Int64()
			if err != nil {
				return s, validation("budget_usd_cents must be a whole number of cents (e.g. 5000 for $50), not %s.", n.String())
			}
			if err := apikey.ValidateBudget(&c); err != nil {
				return s, validation("%s.", err.Error())
			}
			s.BudgetUSDCents = &c
		}
	}
	if raw, ok := obj["budget_period"]; ok {
		var p string
		if err := json.Unmarshal(raw, &p); err != nil || isNull(raw) {
			return s, validation("budget_period must be one of daily, monthly or total, not %s.", jsonKind(raw))
		}
		v, err := apikey.ParsePeriod(p)
		if err != nil {
			return s, validation("%s.", err.Error())
		}
		s.BudgetPeriod = v
	}
	return s, nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c caller) {
	obj, e := readObject(r, append([]string{"mode"}, keyFields...), true)
	if e != nil {
		writeError(w, e)
		return
	}
	mode, _, e := stringField(obj, "mode")
	if e != nil {
		writeError(w, e)
		return
	}
	delete(obj, "mode")
	switch mode {
	case "":
		mode = apikey.ModeLive
	case apikey.ModeTest, apikey.ModeLive:
	default:
		writeError(w, validation(`mode must be "test" or "live", not %q.`, mode))
		return
	}
	settings, e := parseSettings(obj, apikey.Settings{BudgetPeriod: apikey.DefaultPeriod}, s.toolNames())
	if e != nil {
		writeError(w, e)
		return
	}
	out, err := s.d.Commands.CreateAPIKey(r.Context(), commands.CreateAPIKey{WorkspaceID: c.WorkspaceID, UserID: c.UserID, Settings: settings, Mode: mode})
	if err != nil {
		writeError(w, s.commandError(r, err))
		return
	}
	s.settle(r, out.Position)
	v, found, err := s.d.Keys.Get(r.Context(), out.KeyID)
	if err != nil || !found {
		// Not readable yet: answer from what was just decided.
		now := s.d.Clock.Now()
		v = apikeys.View{ID: out.KeyID, UserID: c.UserID, KeyPrefix: out.KeyPrefix, Label: settings.Label, ResponseURL: settings.ResponseURL,
			BudgetUSDCents: settings.BudgetUSDCents, BudgetPeriod: string(settings.BudgetPeriod), Tools: settings.Tools, CreatedAt: now, UpdatedAt: now,
			Mode: mode}
	}
	b := keyFromView(v)
	b.Key, b.SigningSecret = out.Key, out.SigningSecret
	b.Warning = "Store the key and the signing secret now: they are shown only once."
	if hw := s.webhookWarning(settings.ResponseURL); hw != "" {
		b.Warning += " " + hw
	}
	w.Header().Set("Location", "/api/api-keys/"+out.KeyID)
	writeJSON(w, http.StatusCreated, b)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c caller) {
	// Auditors hold no keys: they list the workspace's. Owners list their
	// own unless they ask for the workspace's with scope=workspace.
	scope := r.URL.Query().Get("scope")
	if scope == "" && c.is(string(workspace.RoleAuditor)) {
		scope = "workspace"
	}
	q, e := s.parsePage(r, "api-keys:"+scope)
	if e != nil {
		writeError(w, e)
		return
	}
	var views []apikeys.View
	var err error
	switch scope {
	case "", "mine":
		views, err = s.d.Keys.ListByUser(r.Context(), c.UserID)
	case "workspace":
		if !c.is(string(workspace.RoleOwner), string(workspace.RoleAuditor)) {
			writeError(w, errorf(http.StatusForbidden, CodeForbidden, "Only owners and auditors list the keys of the whole workspace; you are %s.", c.Role))
			return
		}
		views, err = s.d.Keys.ListByWorkspace(r.Context(), c.WorkspaceID)
	default:
		writeError(w, validation("scope must be mine or workspace, not %q.", scope))
		return
	}
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	page, next := pageOf(s, views, func(v apikeys.View) (time.Time, string) { return v.CreatedAt, v.ID }, q, "api-keys:"+scope)
	out := make([]keyBody, 0, len(page))
	for _, v := range page {
		out = append(out, keyFromView(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out, "next_cursor": next})
}

// managedKey is the caller, who may manage keys, and the key of theirs the
// path names.
func (s *Server) managedKey(r *http.Request) (caller, apikeys.View, *apiError) {
	c, e := s.keyManager(r)
	if e != nil {
		return c, apikeys.View{}, e
	}
	v, e := s.ownKey(r, c)
	return c, v, e
}

// ownKey finds one of the caller's keys; anyone else's is "not found".
func (s *Server) ownKey(r *http.Request, c caller) (apikeys.View, *apiError) {
	return s.findKey(r, func(v apikeys.View) bool { return v.UserID == c.UserID })
}

// readableKey finds a key the caller may read: their own, or, for owners
// and auditors, any key of their workspace (read only: changing a key stays
// with the person who holds it). Any other key is "not found".
func (s *Server) readableKey(r *http.Request, c caller) (apikeys.View, *apiError) {
	if !c.is(string(workspace.RoleOwner), string(workspace.RoleAuditor)) {
		return s.ownKey(r, c)
	}
	return s.findKey(r, func(v apikeys.View) bool { return v.WorkspaceID == c.WorkspaceID })
}

// findKey reads the key named in the path; one the caller may not see
// (visible false) is "not found", as is an id that is not a UUID.
func (s *Server) findKey(r *http.Request, visible func(apikeys.View) bool) (apikeys.View, *apiError) {
	raw := chi.URLParam(r, "id")
	id, ok := canonicalUUID(raw)
	if !ok {
		return apikeys.View{}, errorf(http.StatusNotFound, CodeNotFound, "%q is not an API key id; key ids are UUIDs.", raw)
	}
	v, found, err := s.d.Keys.Get(r.Context(), id)
	if err != nil {
		return v, s.internal(r, err)
	}
	if !found || !visible(v) {
		return v, errorf(http.StatusNotFound, CodeNotFound, "No API key %s was found.", id)
	}
	return v, nil
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request, c caller) {
	v, e := s.readableKey(r, c)
	if e != nil {
		writeError(w, e)
		return
	}
	s.current(r)
	u, err := s.d.Conversations.UsageByKey(r.Context(), v.ID)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	b := keyFromView(v)
	b.Usage = usageFrom(u)
	if s.d.McpUsage != nil {
		mu, err := s.d.McpUsage.ByKey(r.Context(), v.ID)
		if err != nil {
			writeError(w, s.internal(r, err))
			return
		}
		b.Usage.McpToolCalls, b.Usage.McpToolCallsRefused = mu.Calls, mu.Refused
	}
	if b.Usage.KeyBudgetUsage, err = keyBudgetUsage(r.Context(), s.d.Billing, v, s.d.Clock.Now()); err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) {
	c, v, e := s.managedKey(r)
	if e != nil {
		writeError(w, e)
		return
	}
	obj, e := readObject(r, keyFields, false)
	if e != nil {
		writeError(w, e)
		return
	}
	if len(obj) == 0 {
		writeError(w, validation("Give at least one of %s to change.", strings.Join(keyFields, ", ")))
		return
	}
	if _, e := parseSettings(obj, apikey.Settings{BudgetPeriod: apikey.DefaultPeriod}, s.toolNames()); e != nil {
		writeError(w, e)
		return
	}
	pos, err := s.d.Commands.UpdateAPIKey(r.Context(), commands.UpdateAPIKey{KeyID: v.ID, UserID: c.UserID,
		Change: func(cur apikey.Settings) (apikey.Settings, error) {
			next, e := parseSettings(obj, cur, s.toolNames())
			if e != nil {
				return cur, e
			}
			return next, nil
		}})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			writeError(w, ae)
			return
		}
		writeError(w, s.commandError(r, err))
		return
	}
	s.settle(r, pos)
	s.writeKey(w, r, v.ID, true)
}

// webhookWarning tells a key owner, when the key is written, that its
// response_url will not receive webhooks from this gateway, rather than
// let them learn it from a failed delivery a conversation later.
func (s *Server) webhookWarning(responseURL string) string {
	if responseURL == "" || s.d.WebhookRefusal == nil {
		return ""
	}
	err := s.d.WebhookRefusal(responseURL)
	if err == nil {
		return ""
	}
	return fmt.Sprintf("Webhooks to this response_url will not be sent: %s. Use an https:// URL on a public host"+
		" (or, for development, start the gateway with GATEWAY_WEBHOOK_ALLOW_PRIVATE=true).", err)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	c, v, e := s.managedKey(r)
	if e != nil {
		writeError(w, e)
		return
	}
	pos, err := s.d.Commands.RevokeAPIKey(r.Context(), commands.RevokeAPIKey{KeyID: v.ID, UserID: c.UserID})
	if err != nil {
		writeError(w, s.commandError(r, err))
		return
	}
	s.settle(r, pos)
	s.writeKey(w, r, v.ID, false)
}

// writeKey answers 200 with the key as the read model holds it; warn adds
// the webhook warning (after a change of settings).
func (s *Server) writeKey(w http.ResponseWriter, r *http.Request, id string, warn bool) {
	v, found, err := s.d.Keys.Get(r.Context(), id)
	if err != nil || !found {
		writeError(w, s.internal(r, err))
		return
	}
	b := keyFromView(v)
	if warn {
		b.Warning = s.webhookWarning(v.ResponseURL)
	}
	writeJSON(w, http.StatusOK, b)
}

// toolNames are the catalog's tools, which a key's scope names.
func (s *Server) toolNames() []string {
	var out []string
	if s.d.Commands != nil && s.d.Commands.Tools != nil {
		for _, t := range s.d.Commands.Tools.Specs() {
			out = append(out, t.Name)
		}
	}
	return out
}

// parseToolScope reads a key's "tools": null (every tool) or a list of
// the catalog's tool names (sorted, each once).
func parseToolScope(raw json.RawMessage, catalog []string) ([]string, *apiError) {
	if isNull(raw) {
		return nil, nil
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		what := jsonKind(raw)
		if strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
			what = "a list holding something other than names"
		}
		return nil, validation("tools must be a list of tool names (or null for every tool), not %s.", what)
	}
	out := []string{}
	for _, n := range names {
		if !slices.Contains(catalog, n) {
			return nil, validation("tools names %q, which is not a tool; the tools are %s.", n, strings.Join(catalog, ", "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}
