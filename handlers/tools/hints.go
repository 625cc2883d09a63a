package tools

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Hints say how a tool behaves, as MCP clients read them (tool
// annotations): whether it only reads, whether it may overwrite or remove
// what is there, whether calling it twice with the same arguments does
// what calling it once does, and whether it reaches outside the workspace.
type Hints struct {
	ReadOnly, Destructive, Idempotent, OpenWorld bool
}

// hints are set here, one line per tool, so that every tool's behaviour
// is stated once and a test can check none is missing.
var hints = map[string]Hints{
	"search_contacts":   {ReadOnly: true, Idempotent: true},
	"get_contact":       {ReadOnly: true, Idempotent: true},
	"summarize_contact": {ReadOnly: true, Idempotent: true},
	"create_contact":    {},                                    // each call creates another
	"update_contact":    {Destructive: true, Idempotent: true}, // overwrites the fields given
	"delete_contact":    {Destructive: true, Idempotent: true},
	"create_document":   {},
	"list_documents":    {ReadOnly: true, Idempotent: true},
	"list_folders":      {ReadOnly: true, Idempotent: true},
	"read_document":     {ReadOnly: true, Idempotent: true},
	"search_documents":  {ReadOnly: true, Idempotent: true},
	"move_document":     {Destructive: true, Idempotent: true}, // replaces the folder
	"send_email":        {OpenWorld: true},                     // each call sends another e-mail
	"list_sent_emails":  {ReadOnly: true, Idempotent: true},
	"list_departments":  {ReadOnly: true, Idempotent: true},
	"list_teams":        {ReadOnly: true, Idempotent: true},
	"get_team":          {ReadOnly: true, Idempotent: true},
	"list_members":      {ReadOnly: true, Idempotent: true},
	"create_task":       {},
	"list_tasks":        {ReadOnly: true, Idempotent: true},
	"complete_task":     {Destructive: true, Idempotent: true}, // changes the task's status
	"assign_task":       {Destructive: true, Idempotent: true}, // replaces the assignee
	"set_task_due_date": {Destructive: true, Idempotent: true}, // replaces the due date
}

// Described is a tool as both doors show it: its spec and its hints.
type Described struct {
	Name, Description string
	Schema            json.RawMessage
	Hints             Hints
}

// Describe lists the catalog in name order, with each tool's hints.
func (c *Catalog) Describe() []Described {
	var out []Described
	for _, s := range c.Specs() {
		out = append(out, Described{Name: s.Name, Description: s.Description, Schema: s.Parameters, Hints: hints[s.Name]})
	}
	return out
}

// CheckArguments validates a call's arguments against the tool's JSON
// schema and says what is wrong with them in a sentence that names the
// field (nil: they fit). A caller with its own model (MCP) gets this
// before anything runs.
func (c *Catalog) CheckArguments(name string, args json.RawMessage) error {
	t, ok := c.tools[name]
	if !ok {
		return userErr("There is no tool named %q.", name)
	}
	var instance any = map[string]any{}
	var s string
	if json.Unmarshal(args, &s) == nil {
		// Some models send the arguments as a JSON string holding JSON, as
		// the tools accept (see decode).
		args = json.RawMessage(s)
	}
	if len(args) > 0 && string(args) != "null" {
		if err := json.Unmarshal(args, &instance); err != nil {
			return userErr("The arguments of %s are not valid JSON: %v.", name, err)
		}
	}
	obj, isObject := instance.(map[string]any)
	if !isObject {
		return userErr("The arguments of %s must be a JSON object.", name)
	}
	if err := t.schema.Validate(obj); err != nil {
		return userErr("The arguments of %s do not fit its schema: %s.", name, schemaProblem(err, obj, t.Spec.Parameters))
	}
	return nil
}

// schemaProblem words a validation error: the unknown fields, the
// missing required ones, or the validator's own account, which names the
// field's path.
func schemaProblem(err error, args map[string]any, schema json.RawMessage) string {
	var s struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	_ = json.Unmarshal(schema, &s)
	var unknown, missing []string
	for k := range args {
		if _, ok := s.Properties[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	for _, k := range s.Required {
		if _, ok := args[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(unknown)
	var parts []string
	if len(unknown) > 0 {
		parts = append(parts, fmt.Sprintf("unknown field %s (it takes %s)", quoteAll(unknown), quoteAll(sortedKeys(s.Properties))))
	}
	if len(missing) > 0 {
		parts = append(parts, "missing required field "+quoteAll(missing))
	}
	if len(parts) > 0 {
		return strings.Join(parts, "; ")
	}
	return strings.TrimPrefix(err.Error(), "validating root: ")
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolveSchema compiles a tool's schema for validation.
func resolveSchema(name, raw string) *jsonschema.Resolved {
	var s jsonschema.Schema
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		panic("tool " + name + ": invalid JSON schema: " + err.Error())
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		panic("tool " + name + ": unusable JSON schema: " + err.Error())
	}
	return rs
}
