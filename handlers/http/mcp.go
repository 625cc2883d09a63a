package httpapi

import (
	"bytes"

	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/projections"

	mcpserver "github.com/sois-ai/chat-agent-gateway/handlers/mcp"
	"github.com/sois-ai/chat-agent-gateway/projections/mcpusage"
)

// MCPMaxBodyBytes bounds a request to /mcp: a tool call's arguments are
// the size of a REST body, and a batch of them stays well within this.
const MCPMaxBodyBytes = 1 << 20

// mcp guards the MCP server with the REST door's two credentials, checked
// before any MCP message is read: the same errors, codes and statuses,
// with WWW-Authenticate on a 401 as MCP clients expect.
func (s *Server) mcp(w http.ResponseWriter, r *http.Request) {
	if s.d.MCP == nil {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "The MCP server is not enabled on this gateway."))
		return
	}
	if r.Method != http.MethodPost {
		// The server keeps no sessions: there is no stream to GET and no
		// session to DELETE.
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			"The MCP server takes POST requests only (it keeps no sessions, so there is nothing to GET or DELETE)."))
		return
	}
	c, k, e := s.both(r)
	if e != nil {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chat-agent-gateway", error="invalid_token"`)
		}
		writeError(w, e)
		return
	}
	if r.ContentLength > MCPMaxBodyBytes {
		writeError(w, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"The request is %d bytes; the MCP server takes at most %d.", r.ContentLength, MCPMaxBodyBytes))
		return
	}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		writeError(w, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"MCP messages are JSON: send Content-Type: application/json."))
		return
	}
	// A body that is not JSON at all gets a JSON-RPC parse error, as
	// JSON-RPC asks (the SDK would answer it in plain text).
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MCPMaxBodyBytes))
	if err != nil {
		writeError(w, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"The request is larger than the MCP server takes (%d bytes).", MCPMaxBodyBytes))
		return
	}
	if !json.Valid(body) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the request body is not valid JSON."}}`))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// A call may wait for budget room and then run its tool: the server's
	// write timeout for ordinary replies must not cut its answer off.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(commands.McpCallLimit + 30*time.Second))
	ctx := mcpserver.WithCaller(projections.WithTenant(r.Context(), c.WorkspaceID), mcpserver.Caller{WorkspaceID: c.WorkspaceID, UserID: c.UserID, KeyID: k.ID, Tools: k.Tools})
	s.d.MCP.ServeHTTP(w, r.WithContext(ctx))
}

// mcpCalls lists a key's MCP tool calls, newest first: who may read the
// key reads them (its owner; the workspace's owners and auditors), and
// each call's history is at GET /api/agent/{call_id}/events.
func (s *Server) mcpCalls(w http.ResponseWriter, r *http.Request, c caller) {
	v, e := s.readableKey(r, c)
	if e != nil {
		writeError(w, e)
		return
	}
	if s.d.McpUsage == nil {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "The MCP server is not enabled on this gateway."))
		return
	}
	limit, e := pageLimit(r) // the event history's limits
	if e != nil {
		writeError(w, e)
		return
	}
	// cursor is next_cursor, sealed and bound to this key's list; after
	// takes a call_id, for a caller who noted where it stopped.
	list := "mcp-calls/" + v.ID
	vals := r.URL.Query()
	after := strings.TrimSpace(vals.Get("after"))
	if _, err := uuid.Parse(after); after != "" && err != nil {
		writeError(w, validation("after must be a call_id; not %q.", after))
		return
	}
	if vals.Has("cursor") {
		k, ok := s.openCursor(vals.Get("cursor"))
		if !ok || k.List != list || after != "" {
			writeError(w, validation("cursor is not one this list gave (it may belong to another key, or have been changed), or came with after; start again without it."))
			return
		}
		after = k.ID
	}
	s.current(r)
	calls, err := s.d.McpUsage.Calls(r.Context(), v.ID, after, limit+1)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	page := map[string]any{"api_key_id": v.ID, "calls": calls, "has_more": len(calls) > limit, "next_cursor": nil}
	if len(calls) > limit {
		calls = calls[:limit]
		page["calls"] = calls
	}
	if len(calls) == 0 {
		page["calls"] = []mcpusage.Call{}
	} else {
		page["next_cursor"] = s.sealCursor(pageKey{List: list, ID: calls[len(calls)-1].CallID})
	}
	writeJSON(w, http.StatusOK, page)
}
