package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMCP_TypeScriptReferenceClient: the official MCP TypeScript SDK
// client (the reference client) connects to /mcp over Streamable HTTP with
// the two headers, lists the agent's tools, creates a contact and finds
// it, and gets a tool error for arguments that do not fit. The SDK is
// installed by .ci/run (npm ci in testdata/mcp-ts); without it the test is
// skipped, except in CI.
func TestMCP_TypeScriptReferenceClient(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs(filepath.Join("testdata", "mcp-ts"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the MCP TypeScript SDK is not installed in %s (npm ci there): %v", dir, err)
		}
		t.Skipf("the MCP TypeScript SDK is not installed (cd %s && npm ci)", dir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	h := newHarness(t, "postgres")
	owner := h.createWorkspace("Acme", "owner@acme.test")
	k := h.createKey(owner, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"), h.URL+"/mcp", owner.Token, k.Key).CombinedOutput()
	if err != nil {
		t.Fatalf("the TypeScript client failed: %v\n%s", err, out)
	}
	var got struct {
		Tools   []string
		Created struct {
			IsError           bool           `json:"isError"`
			StructuredContent map[string]any `json:"structuredContent"`
		}
		Found struct {
			Content []struct{ Text string }
		}
		Refused struct {
			IsError bool `json:"isError"`
			Content []struct{ Text string }
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("the TypeScript client printed %s", out)
	}
	var want []string
	for _, s := range h.App.Cmds.Tools.Specs() {
		want = append(want, s.Name)
	}
	if slices.Sort(got.Tools); !slices.Equal(got.Tools, want) {
		t.Errorf("the TypeScript client lists %v, the agent's catalog is %v", got.Tools, want)
	}
	if got.Created.IsError || got.Created.StructuredContent["contact"] == nil {
		t.Errorf("create_contact from TypeScript: %+v", got.Created)
	}
	if len(got.Found.Content) == 0 || !strings.Contains(got.Found.Content[0].Text, "Terry Jeffords") {
		t.Errorf("search_contacts from TypeScript: %+v", got.Found)
	}
	if !got.Refused.IsError || len(got.Refused.Content) == 0 || !strings.Contains(got.Refused.Content[0].Text, "limit") {
		t.Errorf("arguments that do not fit, from TypeScript: %+v", got.Refused)
	}
	billingEventually(t, "the contact the TypeScript client created to be in the log", func() bool {
		return len(h.logEventsOfType("ContactCreated")) == 1
	})
}
