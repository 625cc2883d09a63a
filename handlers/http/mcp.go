package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"

	mcpserver "github.com/sois-ai/chat-agent-gateway/handlers/mcp"
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
	if r.Method == http.MethodPost && !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		writeError(w, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"MCP messages are JSON: send Content-Type: application/json."))
		return
	}
	if r.Method == http.MethodPost {
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
	}
	// A call may wait for budget room and then run its tool: the server's
	// write timeout for ordinary replies must not cut its answer off.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(commands.McpCallLimit + 30*time.Second))
	ctx := mcpserver.WithCaller(r.Context(), mcpserver.Caller{WorkspaceID: c.WorkspaceID, UserID: c.UserID, KeyID: k.ID, Tools: k.Tools})
	s.d.MCP.ServeHTTP(w, r.WithContext(ctx))
}
