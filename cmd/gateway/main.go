// Command gateway is the Chat Agent Gateway: with no arguments (or `serve`)
// it runs the server; `admin` talks to a running server's admin API.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCommand().Run(ctx, os.Args); err != nil {
		code := 1
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else {
			err = fmt.Errorf("gateway: %w", err)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(code)
	}
}

// exitUsage is the exit status of every command-line mistake (an unknown
// command or flag, a missing or malformed value), whichever command it
// concerns: 1 stays what a command that ran reports (a failure; for the
// audit commands, a difference found), so scripts can tell the two apart.
const exitUsage = 2

// rootCommand is the whole command tree. With no arguments it serves.
func rootCommand() *cli.Command {
	root := &cli.Command{
		Name:    "gateway",
		Usage:   "Chat Agent Gateway: one endpoint, plain English, an agent that acts on your workspace",
		Version: version(),
		Commands: []*cli.Command{
			{
				Name:   "serve",
				Usage:  "run the gateway (configured by environment variables; see README.md)",
				Action: func(ctx context.Context, _ *cli.Command) error { return serve(ctx) },
			},
			adminCommand(),
			billingCommand(),
			healthCommand(),
			auditCommand(),
			projectionsCommand(),
		},
		Action: func(ctx context.Context, c *cli.Command) error {
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
// naming it and exitUsage: a flag that is unknown, missing or malformed,
// and, for a command that groups others, a name that is none of them or
// no name at all.
func strict(c *cli.Command) {
	c.OnUsageError = func(_ context.Context, c *cli.Command, err error, _ bool) error {
		return cli.Exit(fmt.Sprintf("%s: %v\nRun '%s --help' for its usage.", c.FullName(), err, c.FullName()), exitUsage)
	}
	if len(c.Commands) > 0 && c.Action == nil {
		c.Action = func(_ context.Context, c *cli.Command) error {
			if c.Args().Present() {
				return unknownCommand(c)
			}
			return cli.Exit(fmt.Sprintf("%s needs one of its commands: %s.\nRun '%s --help' for its usage.",
				c.FullName(), commandNames(c), c.FullName()), exitUsage)
		}
	}
	for _, sub := range c.Commands {
		strict(sub)
	}
}

func unknownCommand(c *cli.Command) error {
	return cli.Exit(fmt.Sprintf("%s: %q is not one of its commands (%s).\nRun '%s --help' for its usage.",
		c.FullName(), c.Args().First(), commandNames(c), c.FullName()), exitUsage)
}

func commandNames(c *cli.Command) string {
	var names []string
	for _, sub := range c.Commands {
		if !sub.Hidden && sub.Name != "help" {
			names = append(names, sub.Name)
		}
	}
	return strings.Join(names, ", ")
}

// release names the version when the build sets it
// (-ldflags "-X main.release=v1.2.3").
var release string

// version is the release the binary was built as, else the module
// version it was built from, else its VCS revision when the build
// recorded one.
func version() string {
	if release != "" {
		return release
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-modified"
	}
	return "devel-" + rev
}

func newLogger(cfg Config) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// serve runs until SIGINT/SIGTERM, then stops taking requests, lets the
// ones in flight finish, and stops the background work.
// gcPercent is the garbage collector's target when GOGC is not set. The
// gateway's live heap is small (tens of megabytes) and most of what it
// allocates lives for one request or one event; letting the heap grow to
// five times the live data before collecting halves the CPU the collector
// takes under load, for memory a server has.
const gcPercent = 400

// tuneGC applies gcPercent unless GOGC says otherwise.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func serve(ctx context.Context) error {
	cfg, err := LoadConfig(nil)
	if err != nil {
		return err
	}
	logger := newLogger(cfg)
	slog.SetDefault(logger)
	tuneGC()
	app, err := Build(ctx, cfg, logger, nil)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set GATEWAY_ADDR to change): %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: app.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	logger.Info("gateway listening", "addr", ln.Addr().String(), "event_store", app.storeKind(),
		"transport", app.Bus.TransportName(), "model", app.ModelName, "mail", app.MailerName, "admin_api", cfg.AdminToken != "")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// healthCommand lets a container health check probe the server without a
// shell or curl in the image.
func healthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "exit 0 when the gateway at --url answers 200 (for container health checks)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "url", Value: localURL(os.Getenv) + "/healthz", Usage: "the URL to probe (default: /healthz on localhost at the port of GATEWAY_ADDR)"}},
		Action: func(ctx context.Context, c *cli.Command) error {
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
