// Package tools is the catalog of what the agent can do in a workspace. Each
// tool has a name, a description written for a language model, a JSON
// schema, and a handler that turns the call into a command (writes) or a
// read-model query (reads), always scoped to the caller's workspace. The
// agent loop and, later, the MCP server share this one catalog.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/contacts"
	"github.com/sois-ai/chat-agent-gateway/projections/documents"
	"github.com/sois-ai/chat-agent-gateway/projections/emails"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
	"github.com/sois-ai/chat-agent-gateway/projections/org"
	"github.com/sois-ai/chat-agent-gateway/projections/tasks"
)

// Syncer lets reads see every write already in the log.
type Syncer interface {
	WaitForHead(ctx context.Context) error
}

// Deps are what the tools act through.
type Deps struct {
	Commands  *commands.Handler
	Contacts  contacts.Store
	Tasks     tasks.Store
	Documents documents.Store
	Org       org.Store
	Emails    emails.Store
	Identity  identity.Store
	Sync      Syncer
	Logger    *slog.Logger
}

// Tool is one entry of the catalog.
type Tool struct {
	Spec   agent.ToolSpec
	schema *jsonschema.Resolved
	run    func(ctx context.Context, call commands.ToolCall) (any, error)
}

// Catalog holds the tools by name.
type Catalog struct {
	deps  Deps
	tools map[string]Tool
}

// New builds the catalog.
func New(d Deps) *Catalog {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	c := &Catalog{deps: d, tools: map[string]Tool{}}
	c.addContactTools()
	c.addTaskTools()
	c.addTaskExtraTools()
	c.addDocumentTools()
	c.addEmailTools()
	c.addOrgTools()
	return c
}

func (c *Catalog) add(name, description, schema string, run func(ctx context.Context, call commands.ToolCall) (any, error)) {
	if !json.Valid([]byte(schema)) {
		panic("tool " + name + ": invalid JSON schema")
	}
	c.tools[name] = Tool{Spec: agent.ToolSpec{Name: name, Description: description, Parameters: json.RawMessage(schema)},
		schema: resolveSchema(name, schema), run: run}
}

// Specs lists the tools for the model, in name order.
func (c *Catalog) Specs() []agent.ToolSpec {
	out := make([]agent.ToolSpec, 0, len(c.tools))
	for _, t := range c.tools {
		out = append(out, t.Spec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// UserError is a failure the model should read and can act on (bad
// arguments, nothing found); anything else is logged and summarised.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

func userErr(format string, args ...any) error { return &UserError{Msg: fmt.Sprintf(format, args...)} }

// Execute runs one call and renders its result as JSON for the model.
func (c *Catalog) Execute(ctx context.Context, call commands.ToolCall) (string, bool) {
	t, ok := c.tools[call.Name]
	if !ok {
		return errorResult(fmt.Sprintf("There is no tool named %q. Available tools: %s.", call.Name, strings.Join(c.names(), ", "))), true
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Whatever the tool reads, it reads as the conversation's workspace
	// (row-level security), not as every tenant.
	ctx = projections.WithSandbox(projections.WithTenant(ctx, call.WorkspaceID), call.Sandbox)
	out, err := t.run(ctx, call)
	if err != nil {
		var ue *UserError
		if errors.As(err, &ue) || isDomainError(err) {
			return errorResult(err.Error()), true
		}
		c.deps.Logger.Error("tool failed", "tool", call.Name, "conversation", call.ConversationID, "err", err)
		return errorResult("The tool failed because of an internal error; nothing was changed by this call."), true
	}
	b, err := json.Marshal(out)
	if err != nil {
		return errorResult("The tool's result could not be encoded."), true
	}
	return string(b), false
}

func (c *Catalog) names() []string {
	var out []string
	for n := range c.tools {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func errorResult(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

// decode reads a call's arguments into dst; malformed JSON is the model's
// mistake and is reported back to it.
func decode(call commands.ToolCall, dst any) error {
	args := call.Arguments
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	// Some models send the arguments as a JSON string holding JSON.
	var s string
	if json.Unmarshal(args, &s) == nil {
		args = []byte(s)
	}
	if err := json.Unmarshal(args, dst); err != nil {
		return userErr("The arguments of %s are not valid JSON for its schema: %v", call.Name, err)
	}
	return nil
}

func cause(call commands.ToolCall) commands.Cause {
	return commands.Cause{CorrelationID: call.ConversationID, CausationID: call.CauseID(),
		Actor: agentActor(call), Sandbox: call.Sandbox}
}
