// Command gateway is the Chat Agent Gateway's composition root: it reads
// the configuration, and runs the server (no arguments, or `serve`) or one
// of the command-line tools of handlers/cli.
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
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v3"

	"github.com/sois-ai/chat-agent-gateway/handlers/cli"
	httpapi "github.com/sois-ai/chat-agent-gateway/handlers/http"
	"github.com/sois-ai/chat-agent-gateway/infra/config"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
)

// Config is the gateway's settings (infra/config).
type Config = config.Config

// LoadConfig reads the settings: config.Load, and the audit retention,
// which the HTTP adapter owns.
func LoadConfig(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg, err := config.Load(getenv)
	if err == nil {
		_, err = httpapi.ParseAuditRetention(getenv(httpapi.AuditRetentionEnv))
	}
	return cfg, err
}

// configLoader reads the configuration; the real one reads the
// environment, tests hand in theirs.
type configLoader func() (Config, error)

func envConfig() (Config, error) { return LoadConfig(nil) }

// storesFrom tells the command-line tools where the data is, after the
// whole configuration passed the checks serve makes.
func storesFrom(load configLoader) cli.Loader {
	return func() (stores.Config, error) {
		cfg, err := load()
		return cfg.Stores(pg.Options{}), err
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Root(cli.Version(release), serve, storesFrom(envConfig)).Run(ctx, os.Args); err != nil {
		code := 1
		var exit ucli.ExitCoder
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else {
			err = fmt.Errorf("gateway: %w", err)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(code)
	}
}

// release names the version when the build sets it
// (-ldflags "-X main.release=v1.2.3"); see cli.Version.
var release string

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
	logger := cfg.Logger()
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
	logger.Info("gateway listening", "addr", ln.Addr().String(), "event_store", cfg.StoreKind(),
		"transport", app.Bus.TransportName(), "model", app.ModelName, "mail", app.MailerName, "admin_api", cfg.AdminToken != "")
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		// /metrics on a listener of its own, for a network only the
		// scraper reaches.
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (set GATEWAY_METRICS_ADDR to change): %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", app.Metrics.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		defer msrv.Close()
		logger.Info("metrics listening", "addr", mln.Addr().String())
		go func() { errc <- msrv.Serve(mln) }()
	}
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
