package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"
)

// Admin is `gateway admin`: the admin API of a running gateway.
func Admin() *ucli.Command {
	return &ucli.Command{
		Name:  "admin",
		Usage: "administer a running gateway through its admin API (GATEWAY_URL, GATEWAY_ADMIN_TOKEN)",
		Commands: []*ucli.Command{{
			Name:  "create-workspace",
			Usage: "create a workspace and its owner; prints the owner's token (shown once)",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "name", Usage: "workspace name", Required: true},
				&ucli.StringFlag{Name: "owner-email", Usage: "the owner's email address", Required: true},
				&ucli.StringFlag{Name: "url", Usage: "gateway base URL (default: localhost at the port of GATEWAY_ADDR)", Value: LocalURL(os.Getenv), Sources: ucli.EnvVars("GATEWAY_URL")},
				&ucli.StringFlag{Name: "admin-token", Usage: "the server's GATEWAY_ADMIN_TOKEN", Sources: ucli.EnvVars("GATEWAY_ADMIN_TOKEN")},
				&ucli.BoolFlag{Name: "json", Usage: "print the raw JSON response"},
			},
			Action: func(ctx context.Context, c *ucli.Command) error {
				if c.String("admin-token") == "" {
					return fmt.Errorf("set GATEWAY_ADMIN_TOKEN (or --admin-token) to the token the server was started with")
				}
				body, _ := json.Marshal(map[string]string{"name": c.String("name"), "owner_email": c.String("owner-email")})
				var out struct {
					WorkspaceID string `json:"workspace_id"`
					UserID      string `json:"user_id"`
					Token       string `json:"token"`
				}
				raw, err := adminPost(ctx, cmp.Or(c.String("url"), LocalURL(os.Getenv)), "/api/admin/workspaces", c.String("admin-token"), body, &out)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					_, err = os.Stdout.Write(raw)
					return err
				}
				fmt.Printf("workspace_id: %s\nuser_id:      %s\ntoken:        %s\n", out.WorkspaceID, out.UserID, out.Token)
				fmt.Fprintln(os.Stderr, "Store the token now: it is shown only once.")
				return nil
			},
		}},
	}
}

// adminPost sends one admin request and turns the contract's error body
// into a readable error.
func adminPost(ctx context.Context, base, path, token string, body []byte, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("could not reach the gateway at %s (is it running? set GATEWAY_URL): %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			if resp.StatusCode == http.StatusNotFound && e.Error.Code == "NOT_FOUND" {
				return nil, fmt.Errorf("the admin API is off on %s: start the server with GATEWAY_ADMIN_TOKEN set", base)
			}
			return nil, fmt.Errorf("%s (%d %s)", e.Error.Message, resp.StatusCode, e.Error.Code)
		}
		return nil, fmt.Errorf("the gateway answered %s", resp.Status)
	}
	return raw, json.Unmarshal(raw, out)
}
