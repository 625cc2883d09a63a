// Package mcpserver is the gateway's second door: an MCP server (Streamable
// HTTP, on the official Go SDK) through which callers with an agent of
// their own use the workspace's tools directly. It offers exactly the
// agent's catalog (handlers/tools), limited to what the caller's key
// allows, and runs every call through commands.CallTool, which records
// it, charges it and refuses it when the key cannot pay. It is stateless:
// every request stands alone, so any instance behind a load balancer can
// take any request.
package mcpserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/handlers/tools"
)

// Caller is who the request is from, as the HTTP layer authenticated it
// (bearer token and API key) before any MCP message is read.
type Caller struct {
	WorkspaceID, UserID, KeyID string
	// Tools are the tools the key allows (nil: every tool).
	Tools []string
}

type callerKey struct{}

// request is what the context carries: the caller, and the server built
// for it (the SDK asks for the server more than once per request).
type request struct {
	caller Caller
	server *mcp.Server
}

// WithCaller puts the authenticated caller in the request's context.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, &request{caller: c})
}

// Catalog is the agent's tool catalog, as both doors show it.
type Catalog interface {
	Describe() []tools.Described
}

// Deps are what the server talks to.
type Deps struct {
	Commands *commands.Handler
	Catalog  Catalog
	Version  string
	Logger   *slog.Logger
}

// outputSchema is every tool's: its structured result is a JSON object.
var outputSchema = json.RawMessage(`{"type": "object"}`)

// New returns the /mcp handler. Requests must carry a Caller (see
// WithCaller); without one there is no server to answer them. Their size
// is bounded by the HTTP layer before they reach it.
func New(d Deps) http.Handler {
	return mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		req, ok := r.Context().Value(callerKey{}).(*request)
		if !ok {
			return nil
		}
		if req.server == nil {
			req.server = d.server(req.caller)
		}
		return req.server
	}, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: d.Logger,
		// The SDK refuses a loopback connection whose Host is not loopback
		// (DNS rebinding protection for local servers). The gateway is
		// reached through proxies on the same host with their own Host,
		// and its credentials are headers a rebinding page cannot send.
		DisableLocalhostProtection: true})
}

// server is one request's server: the tools the caller's key allows.
func (d Deps) server(c Caller) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "chat-agent-gateway", Title: "Chat Agent Gateway", Version: d.Version}, &mcp.ServerOptions{
		Instructions: "The tools of one business workspace (contacts, tasks, documents, emails, teams). " +
			"Search before you change or delete a record, to find its id. Every call is recorded and charged to the API key.",
		Logger: d.Logger,
	})
	// Every tool is there to call (a call of one the key does not allow is
	// recorded and answered with a tool error), but the list shows only
	// those the key allows.
	for _, t := range d.Catalog.Describe() {
		s.AddTool(&mcp.Tool{Name: t.Name, Description: t.Description, InputSchema: t.Schema, OutputSchema: outputSchema,
			Annotations: annotations(t.Hints)}, d.call(c, t.Name))
	}
	if c.Tools != nil {
		s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				res, err := next(ctx, method, req)
				if list, ok := res.(*mcp.ListToolsResult); ok && err == nil {
					list.Tools = slices.DeleteFunc(list.Tools, func(t *mcp.Tool) bool { return !slices.Contains(c.Tools, t.Name) })
				}
				return res, err
			}
		})
	}
	return s
}

func annotations(h tools.Hints) *mcp.ToolAnnotations {
	destructive, openWorld := h.Destructive, h.OpenWorld
	return &mcp.ToolAnnotations{ReadOnlyHint: h.ReadOnly, DestructiveHint: &destructive, IdempotentHint: h.Idempotent,
		OpenWorldHint: &openWorld}
}

// call runs a tool for the caller: a failure the caller's agent can act on
// (bad arguments, nothing found, not allowed, no budget) is a tool result
// with isError, as MCP asks, never a protocol error.
func (d Deps) call(c Caller, name string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args json.RawMessage
		if req.Params != nil {
			args = req.Params.Arguments
		}
		res, err := d.Commands.CallTool(ctx, commands.McpCall{WorkspaceID: c.WorkspaceID, UserID: c.UserID, APIKeyID: c.KeyID,
			Tool: name, Arguments: args})
		if err != nil {
			d.Logger.Error("mcp tool call failed", "tool", name, "err", err)
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{
				Text: `{"error": "The call could not be completed because of an internal error; it may be retried."}`}}}, nil
		}
		out := &mcp.CallToolResult{IsError: res.IsError, Content: []mcp.Content{&mcp.TextContent{Text: res.Result}},
			Meta: mcp.Meta{"call_id": res.CallID}}
		if !res.IsError {
			var structured map[string]any
			if json.Unmarshal([]byte(res.Result), &structured) == nil {
				out.StructuredContent = structured
			}
		}
		return out, nil
	}
}
