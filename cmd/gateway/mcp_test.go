package main

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/mcpcall"
)

// headers adds the REST door's credentials to every request an MCP
// client sends, as Claude Code, Claude Desktop and the TypeScript SDK do
// with their header settings.
type headers struct {
	next       http.RoundTripper
	token, key string
}

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if h.token != "" {
		r.Header.Set("Authorization", "Bearer "+h.token)
	}
	if h.key != "" {
		r.Header.Set("X-Api-Key", h.key)
	}
	return h.next.RoundTrip(r)
}

// mcpSession connects the official Go SDK client to the gateway's /mcp.
func (h *harness) mcpSession(c creds) (*mcp.ClientSession, error) {
	h.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "gateway-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: h.URL + "/mcp",
		HTTPClient: &http.Client{Transport: headers{next: http.DefaultTransport, token: c.Token, key: c.Key}}}, nil)
	if err == nil {
		h.t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func mcpCall(t *testing.T, s *mcp.ClientSession, tool string, args any) (*mcp.CallToolResult, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	text := ""
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			text += tc.Text
		}
	}
	return res, text
}

// TestMCP_TheSameToolsAsTheAgent: a client with its own agent lists
// exactly the agent's catalog (names, descriptions, schemas, truthful
// hints), creates a record the gateway's agent then finds, finds what the
// agent created, and gets a tool error naming the field for arguments
// that do not fit, with nothing written. Every call is recorded under the
// key, its history is served, and key usage counts the calls.
func TestMCP_TheSameToolsAsTheAgent(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		k := h.createKey(owner, nil)
		c := creds{Token: owner.Token, Key: k.Key}
		s, err := h.mcpSession(c)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		ctx := context.Background()
		list, err := s.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		specs := h.App.Cmds.Tools.Specs()
		if len(list.Tools) != len(specs) {
			t.Fatalf("tools/list has %d tools, the agent's catalog %d", len(list.Tools), len(specs))
		}
		byName := map[string]*mcp.Tool{}
		for _, tool := range list.Tools {
			byName[tool.Name] = tool
		}
		for _, spec := range specs {
			tool := byName[spec.Name]
			if tool == nil || tool.Description != spec.Description {
				t.Errorf("%s: listed %+v, want the catalog's description", spec.Name, tool)
				continue
			}
			var want any
			_ = json.Unmarshal(spec.Parameters, &want)
			if !reflect.DeepEqual(tool.InputSchema, want) {
				t.Errorf("%s: inputSchema %v, want %v", spec.Name, tool.InputSchema, want)
			}
			if tool.Annotations == nil || tool.OutputSchema == nil {
				t.Errorf("%s: no annotations or output schema", spec.Name)
			}
		}
		if a := byName["delete_contact"].Annotations; a.ReadOnlyHint || a.DestructiveHint == nil || !*a.DestructiveHint {
			t.Errorf("delete_contact hints %+v", a)
		}
		if a := byName["search_contacts"].Annotations; !a.ReadOnlyHint {
			t.Errorf("search_contacts hints %+v", a)
		}

		res, text := mcpCall(t, s, "create_contact", map[string]any{"name": "Rosa Diaz", "company": "Nine-Nine Logistics", "city": "Brooklyn"})
		if res.IsError || !strings.Contains(text, "Rosa Diaz") {
			t.Fatalf("create_contact: %s", text)
		}
		structured, _ := res.StructuredContent.(map[string]any)
		callID, _ := res.Meta["call_id"].(string)
		if structured["contact"] == nil || callID == "" {
			t.Errorf("result has structured content %v and call id %q", res.StructuredContent, callID)
		}
		r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: map[string]string{"Prefer": "wait=20"},
			Body: map[string]any{"message": "Find the contact Rosa Diaz"}})
		expectStatus(t, r, http.StatusOK)
		var p poll
		_ = json.Unmarshal(r.Raw, &p)
		if !strings.Contains(p.reply(), "Nine-Nine Logistics") {
			t.Errorf("the agent does not see what MCP created: %q", p.reply())
		}
		h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(c.Token), APIKey: c.Key, Header: map[string]string{"Prefer": "wait=20"},
			Body: map[string]any{"message": "Create a contact for Jake Peralta at Nine-Nine Logistics, jake@ninenine.example"}})
		if _, text := mcpCall(t, s, "search_contacts", map[string]any{"company": "nine-nine"}); !strings.Contains(text, "Jake Peralta") || !strings.Contains(text, "Rosa Diaz") {
			t.Errorf("MCP does not see what the agent created: %s", text)
		}

		before := len(h.logEventsOfType("ContactCreated"))
		for _, bad := range []struct {
			args any
			says string
		}{
			{map[string]any{"name": 42}, "name"},
			{map[string]any{"name": "Amy Santiago", "nickname": "Ames"}, "nickname"},
			{map[string]any{"company": "Nine-Nine"}, "name"},
		} {
			res, text := mcpCall(t, s, "create_contact", bad.args)
			if !res.IsError || !strings.Contains(text, bad.says) {
				t.Errorf("create_contact %v: error %v, %s; want a tool error naming %q", bad.args, res.IsError, text, bad.says)
			}
		}
		if n := len(h.logEventsOfType("ContactCreated")); n != before {
			t.Errorf("arguments that do not fit wrote %d contacts", n-before)
		}
		if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "launch_rocket", Arguments: map[string]any{}}); err == nil {
			t.Error("an unknown tool was not an error")
		}

		billingEventually(t, "the five MCP calls to be in the log", func() bool { return len(h.logEventsOfType("McpToolCallRequested")) == 5 })
		ev := h.do(req{Method: "GET", Path: "/api/agent/" + callID + "/events", Auth: bearerOf(c.Token), APIKey: c.Key})
		expectStatus(t, ev, http.StatusOK)
		for _, want := range []string{"McpToolCallRequested", "ContactCreated", "BudgetReserved", "McpToolCallCompleted"} {
			if !strings.Contains(string(ev.Raw), want) {
				t.Errorf("the call's history lacks %s: %.300s", want, ev.Raw)
			}
		}
		billingEventually(t, "key usage to count the MCP calls", func() bool {
			r := h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(c.Token)})
			return jnum(r.JSON(t), "usage", "mcp_tool_calls") == 5 && jnum(r.JSON(t), "usage", "mcp_tool_calls_refused") == 3
		})
		// The owner (or an auditor) lists the key's calls, newest first,
		// a page at a time, and finds each call's history from it.
		var listed []map[string]any
		for cursor := ""; ; {
			path := "/api/api-keys/" + k.ID + "/mcp-calls?limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := h.do(req{Method: "GET", Path: path, Auth: bearerOf(owner.Token)})
			expectStatus(t, r, http.StatusOK)
			page := r.JSON(t)
			for _, c := range page["calls"].([]any) {
				listed = append(listed, c.(map[string]any))
			}
			if page["has_more"] != true {
				break
			}
			cursor = page["next_cursor"].(string)
		}
		refusedCalls := 0
		for _, c := range listed {
			if c["status"] == "refused" && c["code"] == "INVALID_ARGUMENTS" {
				refusedCalls++
			}
		}
		if len(listed) != 5 || refusedCalls != 3 || listed[len(listed)-1]["call_id"] != callID {
			t.Errorf("the key's calls, listed: %v", listed)
		}
		// after= takes a call_id; a cursor is sealed and bound to its key.
		r = h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID + "/mcp-calls?after=" + listed[3]["call_id"].(string), Auth: bearerOf(owner.Token)})
		if rest, _ := r.JSON(t)["calls"].([]any); len(rest) != 1 || rest[0].(map[string]any)["call_id"] != callID {
			t.Errorf("after the fourth call: %s", r.Raw)
		}
		expectError(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID + "/mcp-calls?cursor=" + callID, Auth: bearerOf(owner.Token)}),
			http.StatusUnprocessableEntity, "VALIDATION_ERROR")
		day := h.Clock.Now().UTC().Format("2006-01-02")
		billingEventually(t, "the billing report to show MCP spend as its own line", func() bool {
			r := h.do(req{Method: "GET", Path: "/api/billing/report?from=" + day + "&to=" + day + "&group_by=model", Auth: bearerOf(owner.Token)})
			return strings.Contains(string(r.Raw), `"(MCP tool calls)"`) && strings.Contains(string(r.Raw), `"offline"`)
		})
	})
}

// TestMCP_KeysAndWorkspacesAreKeptApart: the REST door's credentials and
// errors; a key scoped to read tools lists only those and cannot write; a
// spent budget refuses calls; another workspace sees nothing; a revoked
// key is refused; bad requests get clear answers, never a 5xx.
func TestMCP_KeysAndWorkspacesAreKeptApart(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Acme", "owner@acme.test")
		full := h.createKey(owner, nil)
		c := creds{Token: owner.Token, Key: full.Key}
		s, err := h.mcpSession(c)
		if err != nil {
			t.Fatal(err)
		}
		mcpCall(t, s, "create_contact", map[string]any{"name": "Gina Linetti", "company": "Nine-Nine Logistics"})

		post := func(hdr map[string]string, body string) response {
			r := req{Method: "POST", Path: "/mcp", Body: body, Header: map[string]string{"Accept": "application/json, text/event-stream"}}
			for k, v := range hdr {
				r.Header[k] = v
			}
			return h.do(r)
		}
		const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`
		other := h.createWorkspace("Other", "owner@other.test")
		otherKey := h.createKey(other, nil)
		h.unchanged(t, func() {
			r := post(nil, initialize)
			expectError(t, r, http.StatusUnauthorized, "UNAUTHENTICATED")
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer: %q", r.Header.Get("WWW-Authenticate"))
			}
			expectError(t, post(map[string]string{"Authorization": "Bearer " + owner.Token, "X-Api-Key": "sois_nope"}, initialize),
				http.StatusUnauthorized, "INVALID_API_KEY")
			expectError(t, post(map[string]string{"Authorization": "Bearer " + other.Token, "X-Api-Key": full.Key}, initialize),
				http.StatusForbidden, "KEY_OWNER_MISMATCH")
			auth := map[string]string{"Authorization": "Bearer " + owner.Token, "X-Api-Key": full.Key}
			if r := post(auth, `{"jsonrpc":"2.0","id":1,"method":`); r.Status >= 500 || jnum(r.JSON(t), "error", "code") != -32700 {
				t.Errorf("malformed JSON-RPC: %d %s, want a JSON-RPC parse error", r.Status, r.Raw)
			}
			expectError(t, h.do(req{Method: "GET", Path: "/mcp", Header: auth}), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			big := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
			expectError(t, post(auth, big), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
		})

		// Another workspace sees nothing of this one.
		os, err := h.mcpSession(creds{Token: other.Token, Key: otherKey.Key})
		if err != nil {
			t.Fatal(err)
		}
		if _, text := mcpCall(t, os, "search_contacts", map[string]any{"query": "Gina"}); strings.Contains(text, "Gina") {
			t.Errorf("another workspace found %s", text)
		}

		// A key scoped to reading lists only that, and cannot write.
		readOnly := h.createKey(owner, map[string]any{"tools": []string{"search_contacts", "get_contact"}})
		rs, err := h.mcpSession(creds{Token: owner.Token, Key: readOnly.Key})
		if err != nil {
			t.Fatal(err)
		}
		list, err := rs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range list.Tools {
			names = append(names, tool.Name)
		}
		if slices.Sort(names); !slices.Equal(names, []string{"get_contact", "search_contacts"}) {
			t.Errorf("the read-only key lists %v", names)
		}
		before := len(h.logEventsOfType("ContactCreated"))
		if res, text := mcpCall(t, rs, "create_contact", map[string]any{"name": "Charles Boyle"}); !res.IsError || !strings.Contains(text, "does not allow") {
			t.Errorf("a read-only key created a contact: %v %s", res.IsError, text)
		}
		if _, text := mcpCall(t, rs, "search_contacts", map[string]any{"query": "Gina"}); !strings.Contains(text, "Gina Linetti") {
			t.Errorf("the read-only key cannot read: %s", text)
		}
		// The same scope limits the gateway's own agent for that key.
		r := h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(owner.Token), APIKey: readOnly.Key,
			Header: map[string]string{"Prefer": "wait=20"}, Body: map[string]any{"message": "Create a contact for Charles Boyle at Nine-Nine Logistics"}})
		expectStatus(t, r, http.StatusOK)
		if n := len(h.logEventsOfType("ContactCreated")); n != before {
			t.Errorf("a refused call or a scoped conversation wrote %d contacts: %s", n-before, r.Raw)
		}
		expectError(t, h.do(req{Method: "POST", Path: "/api/api-keys", Auth: bearerOf(owner.Token),
			Body: map[string]any{"tools": []string{"search_contacts", "format_disk"}}}), http.StatusUnprocessableEntity, "VALIDATION_ERROR")

		// A spent budget refuses calls, saying so.
		broke := h.createKey(owner, map[string]any{"budget_usd_cents": 0, "budget_period": "total"})
		bs, err := h.mcpSession(creds{Token: owner.Token, Key: broke.Key})
		if err != nil {
			t.Fatal(err)
		}
		if res, text := mcpCall(t, bs, "search_contacts", map[string]any{"query": "Gina"}); !res.IsError || !strings.Contains(text, `"code":"BUDGET_EXCEEDED"`) || strings.Contains(text, "Gina") {
			t.Errorf("a spent budget answered %v %s", res.IsError, text)
		}

		// A key with no tools at all has none; narrowing a key's tools
		// holds from the next call on, on every instance.
		none := h.createKey(owner, map[string]any{"tools": []string{}})
		if none.Tools == nil || len(none.Tools) != 0 {
			t.Errorf(`a key created with "tools": [] shows %v`, none.Tools)
		}
		ns, err := h.mcpSession(creds{Token: owner.Token, Key: none.Key})
		if err != nil {
			t.Fatal(err)
		}
		if l, err := ns.ListTools(context.Background(), nil); err != nil || len(l.Tools) != 0 {
			t.Errorf("a key with no tools lists %d", len(l.Tools))
		}
		if res, text := mcpCall(t, ns, "search_contacts", map[string]any{}); !res.IsError || !strings.Contains(text, "TOOL_NOT_ALLOWED") {
			t.Errorf("a key with no tools searched: %s", text)
		}
		wide := h.createKey(owner, nil)
		ws, err := h.mcpSession(creds{Token: owner.Token, Key: wide.Key})
		if err != nil {
			t.Fatal(err)
		}
		mcpCall(t, ws, "search_contacts", map[string]any{}) // the key is in the command cache now
		expectStatus(t, h.do(req{Method: "PUT", Path: "/api/api-keys/" + wide.ID, Auth: bearerOf(owner.Token),
			Body: map[string]any{"tools": []string{"search_contacts"}}}), http.StatusOK)
		if res, text := mcpCall(t, ws, "create_contact", map[string]any{"name": "Madeline Wuntch"}); !res.IsError || !strings.Contains(text, "TOOL_NOT_ALLOWED") {
			t.Errorf("the first call after the key was narrowed ran: %s", text)
		}

		// A follow-up sent with the read-only key to a conversation the
		// unrestricted key opened is held to the read-only key's tools.
		r = h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(owner.Token), APIKey: full.Key,
			Header: map[string]string{"Prefer": "wait=20"}, Body: map[string]any{"message": "Find the contact Gina Linetti"}})
		expectStatus(t, r, http.StatusOK)
		conv := jstr(r.JSON(t), "conversation_uuid")
		before = len(h.logEventsOfType("ContactCreated"))
		r = h.do(req{Method: "POST", Path: "/api/agent", Auth: bearerOf(owner.Token), APIKey: readOnly.Key,
			Header: map[string]string{"Prefer": "wait=20"},
			Body:   map[string]any{"conversation_uuid": conv, "message": "Also create a contact for Charles Boyle at Nine-Nine Logistics"}})
		expectStatus(t, r, http.StatusOK)
		if n := len(h.logEventsOfType("ContactCreated")); n != before {
			t.Errorf("a follow-up with a read-only key wrote %d contacts: %s", n-before, r.Raw)
		}

		// A revoked key is refused.
		expectStatus(t, h.do(req{Method: "DELETE", Path: "/api/api-keys/" + full.ID, Auth: bearerOf(owner.Token)}), http.StatusOK)
		h.unchanged(t, func() {
			expectError(t, post(map[string]string{"Authorization": "Bearer " + owner.Token, "X-Api-Key": full.Key}, initialize),
				http.StatusForbidden, "KEY_REVOKED")
		})
	})
}

// TestMCP_CallCutShortByACrashIsClosed: a call recorded as requested whose
// gateway died before it finished (the record is written here as that
// gateway would have left it) is closed by the reaper once it has been
// open for GATEWAY_GIVE_UP_AFTER: refused as INTERRUPTED, not charged, and
// counted in the key's usage.
func TestMCP_CallCutShortByACrashIsClosed(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend, withEnv(map[string]string{"GATEWAY_MODEL_TIMEOUT": "1s", "GATEWAY_STALL_AFTER": "32s", "GATEWAY_GIVE_UP_AFTER": "1m"}))
		owner := h.createWorkspace("Acme", "owner@acme.test")
		k := h.createKey(owner, nil)
		id := uuid.NewString()
		ev, err := es.NewEvent(uuid.NewString(), &mcpcall.Requested{CallID: id, WorkspaceID: owner.WorkspaceID, UserID: owner.UserID,
			APIKeyID: k.ID, Tool: "create_contact", Arguments: json.RawMessage(`{"name":"Hitchcock"}`), RequestedAt: h.Clock.Now()},
			es.Metadata{CorrelationID: id, Actor: es.Actor{Kind: "user", ID: owner.UserID}, OccurredAt: h.Clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.App.Store.Append(context.Background(), mcpcall.Stream(id), es.NoStream, ev); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if n := len(h.logEventsOfType("McpToolCallRefused")); n != 0 {
			t.Fatalf("a call open for a second was closed")
		}
		h.Clock.Advance(2 * time.Minute)
		billingEventually(t, "the reaper to close the interrupted call", func() bool {
			return len(h.logEventsOfType("McpToolCallRefused")) == 1
		})
		if d := evData(t, h.logEventsOfType("McpToolCallRefused")[0]); jstr(d, "code") != "INTERRUPTED" {
			t.Errorf("closed as %v", d)
		}
		billingEventually(t, "key usage to count the refused call", func() bool {
			r := h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token)})
			return jnum(r.JSON(t), "usage", "mcp_tool_calls_refused") == 1
		})
		if n := len(h.logEventsOfType("ChargeRecorded")); n != 0 {
			t.Errorf("an interrupted call was charged")
		}
	})
}
