package rebuild

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	pgstore "github.com/sois-ai/chat-agent-gateway/infra/eventstore/postgres"
	"github.com/sois-ai/chat-agent-gateway/infra/migrations"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Rebuilding Postgres read models while the gateway serves
//
// A rebuild never touches the live tables until the new ones are complete:
//
//  1. It creates a scratch schema rebuild_<unix> and runs the migrations in
//     it (a pool whose search_path is that schema), so the new tables have
//     exactly the live tables' columns, constraints, indexes and names.
//  2. It replays the whole log into the chosen projections running on that
//     pool; the gateway keeps folding new events into the live tables.
//  3. It switches in one transaction: it locks the projections' rows in the
//     live projection_checkpoints, so the gateway's projectors of those
//     read models wait; feeds the scratch projections what the live ones
//     had applied meanwhile; moves each live table into a backup schema
//     projections_backup_<unix> and the scratch table into the live schema
//     (ALTER TABLE ... SET SCHEMA, a catalog change: no data is copied);
//     and sets the checkpoint rows to where the new tables are. Readers see
//     the old tables until the commit and the new ones after it, never a
//     half-built model. The gateway's projectors then go on from the new
//     checkpoint, skipping what the new tables already hold.
//  4. It drops the scratch schema (only empty leftovers of the migrations
//     remain there) and, with DropOld, the backup schema. Otherwise the old
//     tables stay in the backup schema until an operator drops it.
//
// While the switch transaction runs, it holds a transaction id, so every
// reader of a log kept in Postgres (every projector, every saga) waits
// for it to end before it sees newer events, as for any long transaction
// (see the Postgres event store). A log kept elsewhere (EventStoreDB,
// Options.Log) is read the same way, without that effect. The switch only replays what arrived during the
// rebuild and renames tables, so it is short; lock_timeout bounds its wait
// for the tables (a failed switch leaves the live tables as they were).

// Log is the event store a rebuild reads.
type Log interface {
	Reader
	Head(ctx context.Context) (es.Position, error)
}

// Options tune a Postgres rebuild.
type Options struct {
	// Log is the event log, when it is not the events table of the pool's
	// database (EventStoreDB).
	Log Log
	// Batch is how many events are read at a time (DefaultBatch when 0).
	Batch int
	// Progress is told how the replay advances (nil: not at all).
	Progress Progress
	// DropOld drops the old tables after the switch instead of keeping
	// them in the backup schema.
	DropOld bool
	// LockTimeout bounds the switch's wait for a table lock (15s when 0).
	LockTimeout time.Duration
	// Now names the schemas (time.Now when nil).
	Now func() time.Time
}

// Result says what a rebuild did.
type Result struct {
	ReadModels []string `json:"read_models"`
	// Events is how many events the replay fed the new read models (the
	// log up to its head when the rebuild started); CaughtUp how many more
	// arrived during the replay and were fed before and in the switch.
	Events   int64 `json:"events"`
	CaughtUp int64 `json:"caught_up"`
	InSwitch int64 `json:"caught_up_in_switch"`
	// Replay is how long the replay took, Switch how long the switch
	// transaction (with its catch-up) took.
	Replay time.Duration `json:"replay_ns"`
	Switch time.Duration `json:"switch_ns"`
	// Checkpoint is where the new read models are.
	Checkpoint es.Position `json:"checkpoint"`
	// Schema is the live schema, Scratch the one the tables were built
	// in, Backup the one the old tables were moved to ("" once dropped).
	Schema  string `json:"schema"`
	Scratch string `json:"scratch_schema"`
	Backup  string `json:"backup_schema,omitempty"`
}

// EventsPerSecond is the replay's speed.
func (r Result) EventsPerSecond() float64 {
	if r.Replay <= 0 {
		return 0
	}
	return float64(r.Events) / r.Replay.Seconds()
}

// lockKey serialises rebuilds of one database (pg_advisory_lock).
const lockKey int64 = 0x67775f7265627569 // "gw_rebui"

// Postgres rebuilds the named read models (all when names is empty) of
// the database behind pool from its event log, and switches them in (see
// above). pool is the live schema's pool; it must not be the running
// gateway's own pool, and it needs at least three connections: one holds
// the rebuild lock, one the switch transaction, and one reads the log.
func Postgres(ctx context.Context, pool *pgxpool.Pool, names []string, opts Options) (res Result, err error) {
	models, err := Select(names)
	if err != nil {
		return res, err
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Progress == nil {
		opts.Progress = noProgress{}
	}
	if pool.Config().MaxConns < 3 {
		return res, fmt.Errorf("rebuild: the pool has %d connections; it needs at least 3", pool.Config().MaxConns)
	}
	for _, m := range models {
		res.ReadModels = append(res.ReadModels, m.Name)
	}

	lock, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	defer lock.Release()
	var got bool
	if err := lock.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&got); err != nil {
		return res, fmt.Errorf("rebuild: take the rebuild lock: %w", err)
	}
	if !got {
		return res, errors.New("rebuild: another rebuild of this database is running")
	}
	defer func() {
		_, _ = lock.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey)
	}()

	if err := lock.QueryRow(ctx, `SELECT current_schema()`).Scan(&res.Schema); err != nil || res.Schema == "" {
		return res, fmt.Errorf("rebuild: the connection has no current schema (search_path): %v", err)
	}
	for _, m := range models {
		for _, t := range m.Tables {
			var ok bool
			if err := lock.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{res.Schema, t}.Sanitize()).Scan(&ok); err != nil {
				return res, fmt.Errorf("rebuild: %w", err)
			}
			if !ok {
				return res, fmt.Errorf("rebuild: table %s.%s of read model %s does not exist (is the database migrated?)", res.Schema, t, m.Name)
			}
		}
	}

	stamp := opts.Now().Unix()
	if res.Scratch, err = createSchema(ctx, lock.Conn(), fmt.Sprintf("rebuild_%d", stamp)); err != nil {
		return res, err
	}
	switched := false
	defer func() {
		if !switched {
			dropSchema(ctx, pool, res.Scratch)
			res.Scratch = ""
		}
	}()

	scratch, err := schemaPool(ctx, pool, res.Scratch, len(models)+2)
	if err != nil {
		return res, err
	}
	defer scratch.Close()
	if err := migrations.Up(ctx, scratch); err != nil {
		return res, fmt.Errorf("rebuild: create the tables in schema %s: %w", res.Scratch, err)
	}
	ps := make([]projections.Projection, len(models))
	for i, m := range models {
		ps[i] = m.New(scratch)
	}

	// The replay goes to the head as it is now; what arrives meanwhile is
	// fed in a second, short pass, and what the live read models applied
	// after that in the switch.
	log := opts.Log
	if log == nil {
		log = pgstore.New(pool)
	}
	head, err := log.Head(ctx)
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	var total int64 // unknown (0) for a log outside Postgres
	if opts.Log == nil {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events
			WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
				AND (transaction_id, global_position) <= ($1::xid8, $2::bigint)`, head.Tx, int64(head.Seq)).Scan(&total); err != nil {
			return res, fmt.Errorf("rebuild: count the events: %w", err)
		}
	}
	opts.Progress.Start(total)
	began := time.Now()
	var last es.Position
	if head != es.Start {
		var n int64
		last, n, err = Replay(ctx, log, es.Start, head, opts.Batch, opts.Progress.Add, ps...)
		res.Events = n
	}
	res.Replay = time.Since(began)
	opts.Progress.Finish(res.Events, res.Replay)
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	// Passes to the moving head shrink what the switch must feed while it
	// holds the live read models' checkpoints.
	for range 5 {
		if head, err = log.Head(ctx); err != nil {
			return res, fmt.Errorf("rebuild: %w", err)
		}
		if !last.Less(head) {
			break
		}
		var n int64
		last, n, err = Replay(ctx, log, last, head, opts.Batch, nil, ps...)
		res.CaughtUp += n
		if err != nil {
			return res, fmt.Errorf("rebuild: %w", err)
		}
		if n <= int64(opts.Batch) {
			break
		}
	}

	for _, m := range models {
		for _, t := range m.Tables {
			if _, err := scratch.Exec(ctx, `ANALYZE `+pgx.Identifier{res.Scratch, t}.Sanitize()); err != nil {
				return res, fmt.Errorf("rebuild: analyze %s: %w", t, err)
			}
		}
	}

	// The rebuild lock keeps the free name free until the switch takes it.
	if res.Backup, err = freeSchemaName(ctx, lock.Conn(), fmt.Sprintf("projections_backup_%d", max(stamp, opts.Now().Unix()))); err != nil {
		return res, err
	}
	began = time.Now()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		last, err = switchIn(ctx, tx, log, &res, models, ps, last, opts)
		return err
	})
	res.Switch = time.Since(began)
	if err != nil {
		res.Backup = ""
		return res, fmt.Errorf("rebuild: switch the new read models in (the live ones are unchanged): %w", err)
	}
	switched = true
	res.Checkpoint = last
	scratch.Close()
	dropSchema(ctx, pool, res.Scratch)
	if opts.DropOld {
		dropSchema(ctx, pool, res.Backup)
		res.Backup = ""
	}
	return res, nil
}

// switchIn is the switch transaction: see the comment at the top.
func switchIn(ctx context.Context, tx pgx.Tx, log Reader, res *Result, models []ReadModel, ps []projections.Projection,
	last es.Position, opts Options) (es.Position, error) {
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, opts.LockTimeout.Milliseconds())); err != nil {
		return last, err
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{res.Backup}.Sanitize()); err != nil {
		return last, fmt.Errorf("create schema %s: %w", res.Backup, err)
	}
	cps := pgx.Identifier{res.Schema, "projection_checkpoints"}.Sanitize()
	// A missing row is created first (it commits with the switch): a
	// projector of the gateway that would insert it waits for this
	// transaction instead of going ahead unlocked.
	if _, err := tx.Exec(ctx, `INSERT INTO `+cps+` (name, tx, seq) SELECT unnest($1::text[]), 0, 0 ON CONFLICT (name) DO NOTHING`,
		res.ReadModels); err != nil {
		return last, err
	}
	rows, err := tx.Query(ctx, `SELECT name, tx, seq FROM `+cps+` WHERE name = ANY($1) ORDER BY name FOR UPDATE`, res.ReadModels)
	if err != nil {
		return last, err
	}
	live := map[string]es.Position{}
	var (
		name    string
		cpTx, s int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &cpTx, &s}, func() error {
		live[name] = es.Position{Tx: uint64(cpTx), Seq: uint64(s)}
		return nil
	}); err != nil {
		return last, err
	}
	// The gateway's projectors of these read models now wait. What they
	// applied to the live tables while the replay ran is in the log below
	// this transaction's horizon: feed it to the new tables too.
	var need es.Position
	for _, p := range live {
		if need.Less(p) {
			need = p
		}
	}
	if last.Less(need) {
		var n int64
		last, n, err = Replay(ctx, log, last, need, opts.Batch, nil, ps...)
		res.InSwitch += n
		if err != nil {
			return last, fmt.Errorf("catch up: %w", err)
		}
		if last.Less(need) {
			return last, fmt.Errorf("catch up: the log ends at %s to this transaction, the live read models are at %s", last, need)
		}
	}
	if last.Tx > math.MaxInt64 || last.Seq > math.MaxInt64 {
		return last, fmt.Errorf("position %s does not fit a checkpoint", last)
	}
	for _, m := range models {
		for _, t := range m.Tables {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{res.Schema, t}.Sanitize()+` SET SCHEMA `+pgx.Identifier{res.Backup}.Sanitize()); err != nil {
				return last, fmt.Errorf("move %s.%s to %s: %w", res.Schema, t, res.Backup, err)
			}
			if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{res.Scratch, t}.Sanitize()+` SET SCHEMA `+pgx.Identifier{res.Schema}.Sanitize()); err != nil {
				return last, fmt.Errorf("move %s.%s to %s: %w", res.Scratch, t, res.Schema, err)
			}
		}
	}
	// Row-level security: the new tables' policies were made in the
	// scratch schema, and some name other tables (teams, api_keys) there;
	// the live tables' policies may name a table just moved out. Made
	// again here, every policy names the live tables before the old and
	// scratch schemas are dropped (with CASCADE) (migration 00018).
	if _, err := tx.Exec(ctx, `SELECT `+pgx.Identifier{res.Schema, "gateway_apply_tenant_policies"}.Sanitize()+`()`); err != nil {
		return last, fmt.Errorf("row-level security policies: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE `+cps+` SET tx = $2, seq = $3, updated_at = now() WHERE name = ANY($1)`,
		res.ReadModels, int64(last.Tx), int64(last.Seq)); err != nil {
		return last, err
	}
	return last, nil
}

// createSchema creates a schema named base, or base_2, base_3... when that
// exists, and returns the name.
func createSchema(ctx context.Context, conn *pgx.Conn, base string) (string, error) {
	for i := 1; i <= 100; i++ {
		name := numbered(base, i)
		_, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize())
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P06" { // duplicate_schema
			continue
		}
		if err != nil {
			return "", fmt.Errorf("rebuild: create schema %s: %w", name, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("rebuild: schemas %s to %s_100 all exist", base, base)
}

// freeSchemaName returns base, or base_2, base_3... when that exists.
func freeSchemaName(ctx context.Context, conn *pgx.Conn, base string) (string, error) {
	for i := 1; i <= 100; i++ {
		var taken bool
		name := numbered(base, i)
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&taken); err != nil {
			return "", fmt.Errorf("rebuild: %w", err)
		}
		if !taken {
			return name, nil
		}
	}
	return "", fmt.Errorf("rebuild: schemas %s to %s_100 all exist", base, base)
}

func numbered(base string, i int) string {
	if i == 1 {
		return base
	}
	return fmt.Sprintf("%s_%d", base, i)
}

func dropSchema(ctx context.Context, pool *pgxpool.Pool, name string) {
	if name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
}

// schemaPool is a pool like pool whose connections see schema alone.
func schemaPool(ctx context.Context, pool *pgxpool.Pool, schema string, conns int) (*pgxpool.Pool, error) {
	cfg := pool.Config()
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	cfg.MaxConns, cfg.MinConns = int32(max(conns, 2)), 0
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("rebuild: connect with search_path %s: %w", schema, err)
	}
	return p, nil
}
