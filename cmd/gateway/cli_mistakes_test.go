package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every command-line mistake answers with a sentence naming it and exit
// status 2, on the built binary: the exit status is what scripts see.
func TestCommandLineMistakes(t *testing.T) {
	bin := miBuildGateway(t)
	dir := t.TempDir()
	run := func(t *testing.T, env []string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "GATEWAY_URL=", "DATABASE_URL=", "EVENTSTORE_URL=", "NATS_URL=",
			"GATEWAY_DATA_DIR="+dir+"/data"), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return out.String(), 0
		case errors.As(err, &exit):
			return out.String(), exit.ExitCode()
		}
		t.Fatalf("gateway %s: %v\n%s", strings.Join(args, " "), err, out.String())
		return "", -1
	}
	for _, c := range []struct {
		args []string
		env  []string
		code int
		says string
	}{
		{args: []string{"srve"}, code: 2, says: `"srve" is not one of its commands (serve, admin`},
		{args: []string{"admin", "create-workspaces"}, code: 2, says: `gateway admin: "create-workspaces" is not one of its commands (create-workspace)`},
		{args: []string{"billing"}, code: 2, says: "gateway billing needs one of its commands: report, verify"},
		{args: []string{"admin", "create-workspace", "--name", "Acme"}, code: 2, says: `Required flag "owner-email" not set`},
		{args: []string{"audit", "verify", "--colour"}, code: 2, says: "gateway audit verify: flag provided but not defined: -colour"},
		{args: []string{"billing", "report", "--from", "2026-11-30", "--to", "2026-11-01"}, code: 2, says: "--from: 2026-11-30 is after --to (2026-11-01)"},
		{args: []string{"billing", "report", "--to", "30/11/2026"}, code: 2, says: "--to:"},
		{args: []string{"projections", "rebuild", "conversation"}, code: 2, says: `unknown read model "conversation"`},
		{args: []string{"serve"}, env: []string{"GATEWAY_LOG_LEVEL=verbose"}, code: 1, says: `GATEWAY_LOG_LEVEL must be debug, info, warn or error, not "verbose"`},
		{args: []string{"serve"}, env: []string{"GATEWAY_SECRET_KEY=unset"}, code: 1, says: "GATEWAY_SECRET_KEY must be 32 bytes as 64 hex characters or base64"},
		{args: []string{"--version"}, code: 0, says: "gateway version "},
	} {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			out, code := run(t, c.env, c.args...)
			if code != c.code || !strings.Contains(out, c.says) {
				t.Errorf("gateway %s: exit %d, printed:\n%s\nwant exit %d and %q", strings.Join(c.args, " "), code, out, c.code, c.says)
			}
			if c.code != 0 && strings.Contains(out, "level=INFO") {
				t.Errorf("gateway %s started something:\n%s", strings.Join(c.args, " "), out)
			}
		})
	}

	// health and admin find the gateway at GATEWAY_ADDR's port when
	// GATEWAY_URL is not set.
	var probes, admins atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			probes.Add(1)
		case "/api/admin/workspaces":
			admins.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"UNAUTHORIZED","message":"bad admin token"}}`))
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	addr := []string{"GATEWAY_ADDR=:" + port}
	if out, code := run(t, addr, "health"); code != 0 || probes.Load() != 1 {
		t.Errorf("gateway health with GATEWAY_ADDR=:%s: exit %d, %d probes:\n%s", port, code, probes.Load(), out)
	}
	if out, _ := run(t, append(addr, "GATEWAY_ADMIN_TOKEN=wrong"), "admin", "create-workspace", "--name", "Acme", "--owner-email", "a@example.com"); admins.Load() != 1 {
		t.Errorf("gateway admin did not reach GATEWAY_ADDR's port:\n%s", out)
	}
}
