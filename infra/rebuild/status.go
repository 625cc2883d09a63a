package rebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	pgstore "github.com/sois-ai/chat-agent-gateway/infra/eventstore/postgres"
)

// ProjectionStatus is where one Postgres read model is.
type ProjectionStatus struct {
	Name   string   `json:"name"`
	Tables []string `json:"tables,omitempty"`
	// Checkpoint is the position of the last event the read model holds;
	// Started is false when it has no checkpoint row yet.
	Checkpoint es.Position `json:"checkpoint"`
	Started    bool        `json:"started"`
	UpdatedAt  *time.Time  `json:"updated_at,omitempty"`
	// Lag is how many events of the log come after the checkpoint. A
	// running gateway moves a checkpoint past events its read model ignores
	// at most once a second (projections.PgApply), so such events may count
	// here for about that long although the read model is current.
	Lag int64 `json:"lag_events"`
	// LagAtLeast says the lag was only counted up to Lag.
	LagAtLeast bool `json:"lag_at_least,omitempty"`
	// Known is false for a checkpoint row no read model of this build
	// owns (a projection removed or renamed since).
	Known bool `json:"known"`
}

// StatusReport is every read model against the log's head.
type StatusReport struct {
	Schema string      `json:"schema"`
	Head   es.Position `json:"head"`
	// Events is how many events the log holds (-1: not counted).
	Events      int64              `json:"events"`
	Projections []ProjectionStatus `json:"projections"`
	// Leftovers are schemas earlier rebuilds left: backups of old tables
	// (projections_backup_*) and scratch schemas of interrupted runs
	// (rebuild_*).
	Leftovers []string `json:"leftover_schemas,omitempty"`
}

// maxCountedLag bounds how far Status reads a log kept outside Postgres to
// count a lag.
const maxCountedLag = 1_000_000

// Status reports each Postgres read model's checkpoint and lag. log is
// the event log when it is not the events table of the pool's database
// (EventStoreDB); then the lag is counted by reading the log after each
// checkpoint (up to a million events) and Events is -1 (not counted).
func Status(ctx context.Context, pool *pgxpool.Pool, log Log) (StatusReport, error) {
	var r StatusReport
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&r.Schema); err != nil {
		return r, fmt.Errorf("status: %w", err)
	}
	inPostgres := log == nil
	if inPostgres {
		log = pgstore.New(pool)
	}
	head, err := log.Head(ctx)
	if err != nil {
		return r, fmt.Errorf("status: %w", err)
	}
	r.Head, r.Events = head, -1
	if inPostgres {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())`).Scan(&r.Events); err != nil {
			return r, fmt.Errorf("status: count the events: %w", err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT name, tx, seq, updated_at FROM projection_checkpoints ORDER BY name`)
	if err != nil {
		return r, fmt.Errorf("status: %w", err)
	}
	stored := map[string]ProjectionStatus{}
	var (
		name    string
		tx, seq int64
		at      time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &tx, &seq, &at}, func() error {
		t := at
		stored[name] = ProjectionStatus{Name: name, Checkpoint: es.Position{Tx: uint64(tx), Seq: uint64(seq)}, Started: true, UpdatedAt: &t}
		return nil
	}); err != nil {
		return r, fmt.Errorf("status: %w", err)
	}
	for _, m := range ReadModels() {
		s, ok := stored[m.Name]
		if !ok {
			s = ProjectionStatus{Name: m.Name}
		}
		s.Tables, s.Known = m.Tables, true
		delete(stored, m.Name)
		r.Projections = append(r.Projections, s)
	}
	for _, s := range stored {
		r.Projections = append(r.Projections, s)
	}
	slices.SortFunc(r.Projections[len(ReadModels()):], func(a, b ProjectionStatus) int { return strings.Compare(a.Name, b.Name) })
	for i := range r.Projections {
		p := &r.Projections[i]
		if !inPostgres {
			if p.Lag, p.LagAtLeast, err = countAfter(ctx, log, p.Checkpoint); err != nil {
				return r, fmt.Errorf("status: lag of %s: %w", p.Name, err)
			}
			continue
		}
		err := pool.QueryRow(ctx, `SELECT count(*) FROM events
			WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
				AND (transaction_id, global_position) > ($1::xid8, $2::bigint)`,
			p.Checkpoint.Tx, int64(p.Checkpoint.Seq)).Scan(&p.Lag)
		if err != nil {
			return r, fmt.Errorf("status: lag of %s: %w", p.Name, err)
		}
	}
	rows, err = pool.Query(ctx, `SELECT nspname FROM pg_namespace
		WHERE nspname LIKE 'rebuild\_%' OR nspname LIKE 'projections\_backup\_%' ORDER BY nspname`)
	if err != nil {
		return r, fmt.Errorf("status: %w", err)
	}
	r.Leftovers, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("status: %w", err)
	}
	return r, nil
}

// countAfter counts the events of log after pos, up to maxCountedLag.
func countAfter(ctx context.Context, log Log, pos es.Position) (n int64, capped bool, err error) {
	for n < maxCountedLag {
		b, err := log.ReadAll(ctx, pos, DefaultBatch)
		if err != nil || len(b) == 0 {
			return n, false, err
		}
		n += int64(len(b))
		pos = b[len(b)-1].Position
	}
	return n, true, nil
}
