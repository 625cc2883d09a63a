package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	ucli "github.com/urfave/cli/v3"

	"github.com/sois-ai/chat-agent-gateway/infra/rebuild"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
)

// `gateway projections` looks after the read models: `status` shows how
// far each has got in the log, `rebuild` builds them again from the log
// beside the live ones and switches them in at once (infra/rebuild).
// Configured like serve. Only Postgres keeps read models between starts:
// the embedded gateway folds them in memory from the log at every start.

const embeddedReadModels = "embedded store: the read models live in memory and are rebuilt from the event log at every start of the gateway"

// Projections is `gateway projections`: status and rebuilds of the read models.
func Projections(load Loader) *ucli.Command {
	return &ucli.Command{
		Name:  "projections",
		Usage: "inspect and rebuild the read models (configured like serve)",
		Commands: []*ucli.Command{
			{
				Name:  "status",
				Usage: "show each read model's checkpoint and how many events of the log come after it",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "json", Usage: "print a machine-readable report"}},
				Action: func(ctx context.Context, c *ucli.Command) error {
					cfg, err := load()
					if err != nil {
						return ucli.Exit(err, ExitTrouble)
					}
					out := c.Root().Writer
					if cfg.Embedded() {
						if c.Bool("json") {
							return writeJSONTo(out, map[string]any{"backend": "embedded", "read_models": rebuild.Names(),
								"note": "rebuilt in memory at start"})
						}
						fmt.Fprintf(out, "%s: %s.\nRead models: %s (rebuilt in memory at start).\n", embeddedReadModels, "nothing is stored to report on",
							strings.Join(rebuild.Names(), ", "))
						return nil
					}
					pool, log, closeAll, err := rebuildStores(ctx, cfg)
					if err != nil {
						return ucli.Exit(err, ExitTrouble)
					}
					defer closeAll()
					rep, err := rebuild.Status(ctx, pool, log)
					if err != nil {
						return ucli.Exit(err, ExitTrouble)
					}
					if c.Bool("json") {
						return writeJSONTo(out, rep)
					}
					return printStatus(out, rep)
				},
			},
			{
				Name:      "rebuild",
				Usage:     "rebuild read models from the event log while the gateway keeps serving the old ones, then switch at once",
				ArgsUsage: "[read-model ...]  (default: all; " + strings.Join(rebuild.Names(), ", ") + ")",
				Description: "Postgres: the read models are built into new tables in a scratch schema rebuild_<unix> from the whole log\n" +
					"(progress on stderr), then switched in one transaction: the old tables move to the schema\n" +
					"projections_backup_<unix> (kept until you drop it, or dropped at once with --drop-old), the new ones\n" +
					"take their place. Readers see the old tables or the new ones, never a half-built model.\n" +
					"Run it with the gateway's own DATABASE_URL (the same database user).\n" +
					"Embedded store: nothing to do; the read models are rebuilt in memory at every start.",
				Flags: []ucli.Flag{
					&ucli.IntFlag{Name: "batch", Usage: "events read from the log at a time", Value: rebuild.DefaultBatch},
					&ucli.BoolFlag{Name: "drop-old", Usage: "drop the old tables after the switch instead of keeping them in projections_backup_<unix>"},
					&ucli.DurationFlag{Name: "lock-timeout", Usage: "how long the switch may wait for the tables", Value: 15 * time.Second},
					&ucli.BoolFlag{Name: "json", Usage: "print the result as JSON on stdout"},
				},
				Action: func(ctx context.Context, c *ucli.Command) error {
					if _, err := rebuild.Select(c.Args().Slice()); err != nil {
						return ucli.Exit(fmt.Sprintf("gateway projections rebuild: %v", err), ExitUsage)
					}
					cfg, err := load()
					if err != nil {
						return ucli.Exit(err, ExitTrouble)
					}
					out := c.Root().Writer
					if cfg.Embedded() {
						fmt.Fprintf(out, "%s; restart the gateway to rebuild them. Nothing to do.\n", embeddedReadModels)
						return nil
					}
					res, err := RebuildPostgres(ctx, cfg, c.Args().Slice(), rebuild.Options{
						Batch: int(c.Int("batch")), DropOld: c.Bool("drop-old"), LockTimeout: c.Duration("lock-timeout"),
						Progress: rebuild.NewProgress(c.Root().ErrWriter, "rebuild", 2*time.Second),
					})
					if err != nil {
						return ucli.Exit(err, ExitTrouble)
					}
					if c.Bool("json") {
						return writeJSONTo(out, res)
					}
					printRebuild(out, res)
					return nil
				},
			},
		},
	}
}

// RebuildPostgres rebuilds read models of cfg's database on a pool of its
// own (never the running gateway's: the switch must not wait for
// connections that the gateway's projectors hold while they wait for it).
func RebuildPostgres(ctx context.Context, cfg stores.Config, names []string, opts rebuild.Options) (rebuild.Result, error) {
	pool, log, closeAll, err := rebuildStores(ctx, cfg)
	if err != nil {
		return rebuild.Result{}, err
	}
	defer closeAll()
	if log != nil {
		opts.Log = log
	}
	return rebuild.Postgres(ctx, pool, names, opts)
}

// rebuildStores opens the read models' database and, when the events are
// kept elsewhere (EVENTSTORE_URL), the event store (nil otherwise: the
// events table of the same database).
func rebuildStores(ctx context.Context, cfg stores.Config) (*pgxpool.Pool, rebuild.Log, func(), error) {
	st, err := stores.Open(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if st.PgLog != nil {
		return st.Pool, nil, st.Close, nil
	}
	return st.Pool, st.Log, st.Close, nil
}

func printStatus(w io.Writer, r rebuild.StatusReport) error {
	if r.Events >= 0 {
		fmt.Fprintf(w, "Postgres read models in schema %s; the log holds %d events, head %s.\n\n", r.Schema, r.Events, r.Head)
	} else {
		fmt.Fprintf(w, "Postgres read models in schema %s; the log's head is %s.\n\n", r.Schema, r.Head)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "READ MODEL\tCHECKPOINT\tLAG (events)\tUPDATED\tTABLES")
	for _, p := range r.Projections {
		cp, updated := p.Checkpoint.String(), "-"
		if !p.Started {
			cp = "none"
		}
		if p.UpdatedAt != nil {
			updated = p.UpdatedAt.UTC().Format(time.RFC3339)
		}
		tables := strings.Join(p.Tables, ", ")
		if !p.Known {
			tables = "(not a read model of this build)"
		}
		lag := fmt.Sprint(p.Lag)
		if p.LagAtLeast {
			lag = "≥" + lag
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, cp, lag, updated, tables)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nA read model passes events it ignores within about a second of a running gateway reading them; until then they count as lag.")
	if len(r.Leftovers) > 0 {
		fmt.Fprintf(w, "Schemas left by earlier rebuilds (drop with DROP SCHEMA <name> CASCADE once not needed): %s\n", strings.Join(r.Leftovers, ", "))
	}
	return nil
}

func printRebuild(w io.Writer, r rebuild.Result) {
	fmt.Fprintf(w, "Rebuilt %s from %d events in %s (%.0f events/s); %d events that arrived meanwhile caught up, %d of them in the switch (%s).\n",
		strings.Join(r.ReadModels, ", "), r.Events, r.Replay.Round(time.Millisecond), r.EventsPerSecond(), r.CaughtUp+r.InSwitch,
		r.InSwitch, r.Switch.Round(time.Millisecond))
	fmt.Fprintf(w, "The new tables are live in schema %s at checkpoint %s.\n", r.Schema, r.Checkpoint)
	if r.Backup != "" {
		fmt.Fprintf(w, "The old tables are kept in schema %s; drop them with: DROP SCHEMA %s CASCADE;\n", r.Backup, r.Backup)
	} else {
		fmt.Fprintln(w, "The old tables were dropped.")
	}
}
