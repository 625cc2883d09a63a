// Package cli is the gateway's command line, a driving adapter beside
// HTTP: the server's root command and the tools (admin, audit, billing,
// projections, health) that read what a gateway wrote, through the same
// stores, commands and read models the server uses.
package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"

	"github.com/sois-ai/chat-agent-gateway/infra/stores"
)

// Loader reads where the data is, as the server's configuration says; the
// real one reads the environment (and refuses a configuration serve would
// refuse), tests hand in theirs. It runs when a command needs it, so a
// bad setting does not stop --help or --version.
type Loader func() (stores.Config, error)

// Exit codes of the audit and projections commands.
const (
	ExitDifferent = 1 // replay: the read model differs; verify: a chain is broken
	ExitTrouble   = 2 // the check could not run
)

// ExitUsage is the exit status of every command-line mistake (an unknown
// command or flag, a missing or malformed value), whichever command it
// concerns: 1 stays what a command that ran reports (a failure; for the
// audit commands, a difference found), so scripts can tell the two apart.
const ExitUsage = 2

// Root is the whole command tree: serve runs the server, and is what the
// binary does with no arguments.
func Root(version string, serve func(ctx context.Context) error, load Loader) *ucli.Command {
	root := &ucli.Command{
		Name:    "gateway",
		Usage:   "Chat Agent Gateway: one endpoint, plain English, an agent that acts on your workspace",
		Version: version,
		Commands: []*ucli.Command{
			{
				Name:   "serve",
				Usage:  "run the gateway (configured by environment variables; see README.md)",
				Action: func(ctx context.Context, _ *ucli.Command) error { return serve(ctx) },
			},
			Admin(),
			Billing(load),
			Health(),
			Audit(load),
			Projections(load),
		},
		Action: func(ctx context.Context, c *ucli.Command) error {
			if c.Args().Present() {
				return unknownCommand(c)
			}
			return serve(ctx)
		},
	}
	strict(root)
	return root
}

// strict makes every command of the tree answer a mistake with a sentence
// naming it and ExitUsage: a flag that is unknown, missing or malformed,
// and, for a command that groups others, a name that is none of them or
// no name at all.
func strict(c *ucli.Command) {
	c.OnUsageError = func(_ context.Context, c *ucli.Command, err error, _ bool) error {
		return ucli.Exit(fmt.Sprintf("%s: %v\nRun '%s --help' for its usage.", c.FullName(), err, c.FullName()), ExitUsage)
	}
	if len(c.Commands) > 0 && c.Action == nil {
		c.Action = func(_ context.Context, c *ucli.Command) error {
			if c.Args().Present() {
				return unknownCommand(c)
			}
			return ucli.Exit(fmt.Sprintf("%s needs one of its commands: %s.\nRun '%s --help' for its usage.",
				c.FullName(), commandNames(c), c.FullName()), ExitUsage)
		}
	}
	for _, sub := range c.Commands {
		strict(sub)
	}
}

func unknownCommand(c *ucli.Command) error {
	return ucli.Exit(fmt.Sprintf("%s: %q is not one of its commands (%s).\nRun '%s --help' for its usage.",
		c.FullName(), c.Args().First(), commandNames(c), c.FullName()), ExitUsage)
}

func commandNames(c *ucli.Command) string {
	var names []string
	for _, sub := range c.Commands {
		if !sub.Hidden && sub.Name != "help" {
			names = append(names, sub.Name)
		}
	}
	return strings.Join(names, ", ")
}

// LocalURL is the address a command on this machine reaches the gateway
// at when GATEWAY_URL is not set: the port of GATEWAY_ADDR (":8080" when
// unset) on localhost, or the host it names when that is a specific one.
func LocalURL(getenv func(string) string) string {
	addr := getenv("GATEWAY_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "http://localhost:8080"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Health lets a container health check probe the server without a
// shell or curl in the image.
func Health() *ucli.Command {
	return &ucli.Command{
		Name:  "health",
		Usage: "exit 0 when the gateway at --url answers 200 (for container health checks)",
		Flags: []ucli.Flag{&ucli.StringFlag{Name: "url", Value: LocalURL(os.Getenv) + "/healthz", Usage: "the URL to probe (default: /healthz on localhost at the port of GATEWAY_ADDR)"}},
		Action: func(ctx context.Context, c *ucli.Command) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.String("url"), nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", c.String("url"), resp.Status)
			}
			return nil
		},
	}
}
