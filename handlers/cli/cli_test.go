package cli

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v3"

	"github.com/sois-ai/chat-agent-gateway/infra/stores"
)

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		"":               "http://localhost:8080",
		":9090":          "http://localhost:9090",
		"0.0.0.0:7000":   "http://localhost:7000",
		"[::]:7001":      "http://localhost:7001",
		"127.0.0.2:7002": "http://127.0.0.2:7002",
		"[::1]:7003":     "http://[::1]:7003",
		"nonsense":       "http://localhost:8080",
	} {
		if got := LocalURL(func(string) string { return addr }); got != want {
			t.Errorf("GATEWAY_ADDR=%q: %s, want %s", addr, got, want)
		}
	}
}

// The tree answers mistakes with ExitUsage and never runs the server for
// them; no arguments at all runs it.
func TestRootMistakes(t *testing.T) {
	served := 0
	serve := func(context.Context) error { served++; return nil }
	load := func() (stores.Config, error) { return stores.Config{}, errors.New("no configuration in this test") }
	run := func(args ...string) error {
		root := Root("test", serve, load)
		root.Writer, root.ErrWriter = io.Discard, io.Discard
		root.ExitErrHandler = func(context.Context, *ucli.Command, error) {}
		return root.Run(context.Background(), append([]string{"gateway"}, args...))
	}
	for _, args := range [][]string{{"srve"}, {"audit"}, {"audit", "replai"}, {"billing", "report", "--form", "2026-01-01"},
		{"projections", "rebuild", "nope"}, {"admin", "create-workspace"}} {
		err := run(args...)
		var exit ucli.ExitCoder
		if !errors.As(err, &exit) || exit.ExitCode() != ExitUsage || !strings.Contains(err.Error(), "gateway") {
			t.Errorf("gateway %s: %v, want exit %d", strings.Join(args, " "), err, ExitUsage)
		}
	}
	if served != 0 {
		t.Fatalf("a mistake started the server")
	}
	if err := run(); err != nil || served != 1 {
		t.Fatalf("no arguments: %v, served %d times", err, served)
	}
}
