package tools

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEveryToolStatesItsBehaviour(t *testing.T) {
	c := New(Deps{})
	for _, name := range c.names() {
		if _, ok := hints[name]; !ok {
			t.Errorf("tool %s has no hints (hints.go)", name)
		}
	}
	for name := range hints {
		if _, ok := c.tools[name]; !ok {
			t.Errorf("hints.go names %s, which is not in the catalog", name)
		}
	}
	for _, d := range c.Describe() {
		h := d.Hints
		if h.ReadOnly && h.Destructive {
			t.Errorf("%s is read-only and destructive", d.Name)
		}
		reads := strings.HasPrefix(d.Name, "search_") || strings.HasPrefix(d.Name, "list_") || strings.HasPrefix(d.Name, "get_") ||
			strings.HasPrefix(d.Name, "read_") || strings.HasPrefix(d.Name, "summarize_")
		if reads != h.ReadOnly {
			t.Errorf("%s: read-only %v, but its name says %v", d.Name, h.ReadOnly, reads)
		}
	}
}

func TestCheckArgumentsNamesTheField(t *testing.T) {
	c := New(Deps{})
	for _, tc := range []struct {
		tool, args, says string
	}{
		{"create_contact", `{"name": 5}`, "name"},
		{"create_contact", `{"name": "Ann", "twitter": "@ann"}`, `unknown field "twitter"`},
		{"create_contact", `{"company": "Acme"}`, `missing required field "name"`},
		{"search_contacts", `{"limit": "ten"}`, "limit"},
		{"search_contacts", `[1, 2]`, "JSON object"},
		{"search_contacts", `{"limit": 500}`, "limit"},
	} {
		err := c.CheckArguments(tc.tool, json.RawMessage(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s %s: %v, want it to say %q", tc.tool, tc.args, err, tc.says)
		}
	}
	for _, ok := range []struct{ tool, args string }{{"create_contact", `{"name": "Ann Lee", "city": "Leeds"}`}, {"list_folders", ``}} {
		if err := c.CheckArguments(ok.tool, json.RawMessage(ok.args)); err != nil {
			t.Errorf("%s %s refused: %v", ok.tool, ok.args, err)
		}
	}
}
