package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	gatewaycli "github.com/sois-ai/chat-agent-gateway/handlers/cli"

	"github.com/urfave/cli/v3"
)

// runCLI runs `gateway <args...>` with the admin command, capturing what it
// prints. It swaps os.Stdout and os.Stderr (the command prints there), so
// tests that use it must not call t.Parallel.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cli.Command{Name: "gateway", Commands: []*cli.Command{gatewaycli.Admin()},
		ExitErrHandler: func(context.Context, *cli.Command, error) {}}
	rOut, wOut, perr := os.Pipe()
	if perr != nil {
		t.Fatal(perr)
	}
	rErr, wErr, perr := os.Pipe()
	if perr != nil {
		t.Fatal(perr)
	}
	outC, errC := make(chan string, 1), make(chan string, 1)
	go func() { b, _ := io.ReadAll(rOut); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(rErr); errC <- string(b) }()
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = wOut, wErr
	root.Writer, root.ErrWriter = wOut, wErr
	func() {
		defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = root.Run(ctx, append([]string{"gateway"}, args...))
	}()
	_ = wOut.Close()
	_ = wErr.Close()
	return <-outC, <-errC, err
}

// The admin CLI tests swap os.Stdout, so they run sequentially (before the
// parallel tests are released).
func TestAdminCLI(t *testing.T) {
	// Keep the environment from leaking into the flags.
	t.Setenv("GATEWAY_URL", "")
	t.Setenv("GATEWAY_ADMIN_TOKEN", "")
	h := newHarness(t, "embedded")

	// tokenWorks proves a printed token is a real owner token.
	tokenWorks := func(t *testing.T, token string) {
		t.Helper()
		h := h.on(t)
		h.remember(token)
		r := h.do(req{Method: "POST", Path: "/api/api-keys", Auth: bearerOf(token), Body: `{"label":"from cli"}`})
		expectStatus(t, r, http.StatusCreated)
		k := decodeKey(t, r)
		h.remember(k.Key, k.SigningSecret)
		// The owner may add people, which only an owner can.
		h.addUser(member{Token: token}, "added@cli.test", "member")
	}

	t.Run("human output", func(t *testing.T) {
		h := h.on(t)
		out, errOut, err := runCLI(t, "admin", "create-workspace", "--name", "Acme", "--owner-email", "owner@acme.test",
			"--url", h.URL+"/", "--admin-token", testAdminToken)
		if err != nil {
			t.Fatalf("create-workspace: %v\nstdout: %s\nstderr: %s", err, out, errOut)
		}
		fields := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("unexpected line %q in:\n%s", line, out)
			}
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
		if !uuidRE.MatchString(fields["workspace_id"]) || !uuidRE.MatchString(fields["user_id"]) {
			t.Errorf("ids missing from output:\n%s", out)
		}
		if !strings.HasPrefix(fields["token"], "tok_") {
			t.Fatalf("token missing from output:\n%s", out)
		}
		if !strings.Contains(errOut, "shown only once") {
			t.Errorf("stderr lacks the store-it-now warning: %q", errOut)
		}
		tokenWorks(t, fields["token"])
	})

	t.Run("json output, token from the environment", func(t *testing.T) {
		h := h.on(t)
		t.Setenv("GATEWAY_ADMIN_TOKEN", testAdminToken)
		t.Setenv("GATEWAY_URL", h.URL)
		out, errOut, err := runCLI(t, "admin", "create-workspace", "--name", "Globex", "--owner-email", "owner@globex.test", "--json")
		if err != nil {
			t.Fatalf("create-workspace --json: %v\nstderr: %s", err, errOut)
		}
		var got struct {
			WorkspaceID string `json:"workspace_id"`
			UserID      string `json:"user_id"`
			Token       string `json:"token"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("--json output is not JSON: %v\n%s", err, out)
		}
		if got.WorkspaceID == "" || got.UserID == "" || got.Token == "" {
			t.Fatalf("--json output incomplete: %s", out)
		}
		tokenWorks(t, got.Token)
	})

	t.Run("errors", func(t *testing.T) {
		h := h.on(t)
		off := newHarness(t, "embedded", withoutAdminToken())
		base := []string{"admin", "create-workspace", "--name", "Acme", "--owner-email", "o@acme.test"}
		cases := []struct {
			name string
			args []string
			want []string // all must appear in the error
		}{
			{"admin API off", []string{"--url", off.URL, "--admin-token", testAdminToken},
				[]string{"admin API is off", "GATEWAY_ADMIN_TOKEN"}},
			{"no admin token", []string{"--url", h.URL}, []string{"GATEWAY_ADMIN_TOKEN"}},
			{"wrong admin token", []string{"--url", h.URL, "--admin-token", "wrong"}, []string{"401", "UNAUTHENTICATED"}},
			{"unreachable", []string{"--url", "http://127.0.0.1:1", "--admin-token", testAdminToken}, []string{"could not reach the gateway"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := runCLI(t, append(base, tc.args...)...)
				if err == nil {
					t.Fatalf("no error")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
			})
		}
		t.Run("invalid email is explained", func(t *testing.T) {
			h := h.on(t)
			_, _, err := runCLI(t, "admin", "create-workspace", "--name", "Acme", "--owner-email", "not-an-email",
				"--url", h.URL, "--admin-token", testAdminToken)
			if err == nil || !strings.Contains(err.Error(), "owner_email") || !strings.Contains(err.Error(), "422") {
				t.Errorf("error = %v, want the server's 422 naming owner_email", err)
			}
		})
		t.Run("required flags", func(t *testing.T) {
			h := h.on(t)
			_, _, err := runCLI(t, "admin", "create-workspace", "--owner-email", "o@acme.test", "--url", h.URL, "--admin-token", testAdminToken)
			if err == nil || !strings.Contains(err.Error(), "name") {
				t.Errorf("error = %v, want a missing --name", err)
			}
		})
	})
}
