package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// PgProjection is what every Postgres read model has: its pool, its name,
// and its checkpoint read by that name. A read model's store embeds it.
type PgProjection struct {
	Pool *pgxpool.Pool
	name string
}

// NewPgProjection names a read model on the pool (migrations applied).
func NewPgProjection(pool *pgxpool.Pool, name string) PgProjection {
	return PgProjection{Pool: pool, name: name}
}

func (p PgProjection) Name() string { return p.name }

func (p PgProjection) Checkpoint(ctx context.Context) (es.Position, error) {
	return PgCheckpoint(ctx, p.Pool, p.name)
}

// PgCheckpoint reads a projection's checkpoint from projection_checkpoints.
func PgCheckpoint(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (es.Position, error) {
	var tx, seq int64
	err := q.QueryRow(ctx, `SELECT tx, seq FROM projection_checkpoints WHERE name = $1`, name).Scan(&tx, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return es.Start, nil
	}
	if err != nil {
		return es.Start, fmt.Errorf("read checkpoint of %s: %w", name, err)
	}
	return es.Position{Tx: uint64(tx), Seq: uint64(seq)}, nil
}

// PgApply applies a batch in one transaction that also moves the
// projection's checkpoint, so each event takes effect exactly once even if
// the process dies half way. The checkpoint row is locked first: a second
// instance running the same projection waits, then skips what was applied.
// apply sees only the events relevant says the projection folds.
//
// A batch holding nothing the projection cares about (relevant) costs no
// transaction: the runner keeps the position in memory, and at most once a
// second per projection (idleCheckpointEvery) the stored checkpoint is
// moved past such batches, so that `gateway projections status` shows a
// read model that ignores the latest events as current and a restart does
// not read them again.
func PgApply(ctx context.Context, pool *pgxpool.Pool, name string, batch []es.Recorded,
	relevant func(es.Recorded) bool, apply func(ctx context.Context, tx pgx.Tx, ev es.Recorded) error) error {
	return PgApplyBatch(ctx, pool, name, batch, relevant, func(ctx context.Context, tx pgx.Tx, evs []es.Recorded) error {
		for _, ev := range evs {
			if err := apply(ctx, tx, ev); err != nil {
				return fmt.Errorf("apply %s (stream %s v%d): %w", ev.Type, ev.Stream, ev.StreamVersion, err)
			}
		}
		return nil
	})
}

// PgApplyBatch is PgApply for projections that apply a batch with a few
// statements for all of it: apply gets, in log order, the relevant events
// this projection has not applied yet.
func PgApplyBatch(ctx context.Context, pool *pgxpool.Pool, name string, batch []es.Recorded,
	relevant func(es.Recorded) bool, apply func(ctx context.Context, tx pgx.Tx, evs []es.Recorded) error) error {
	if len(batch) == 0 {
		return nil
	}
	if !anyRelevant(batch, relevant) {
		return advanceIdle(ctx, pool, name, batch[len(batch)-1].Position)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Creates the row if needed and locks it, in one statement.
		var cpTx, cpSeq int64
		if err := tx.QueryRow(ctx, `INSERT INTO projection_checkpoints (name, tx, seq) VALUES ($1, 0, 0)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING tx, seq`, name).Scan(&cpTx, &cpSeq); err != nil {
			return err
		}
		cp := es.Position{Tx: uint64(cpTx), Seq: uint64(cpSeq)}
		last := batch[len(batch)-1].Position
		if !cp.Less(last) {
			return nil // applied by another instance meanwhile
		}
		var evs []es.Recorded
		for _, ev := range batch {
			if cp.Less(ev.Position) && relevant(ev) {
				evs = append(evs, ev)
			}
		}
		if len(evs) > 0 {
			if err := apply(ctx, tx, evs); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET tx = $2, seq = $3, updated_at = now() WHERE name = $1`,
			name, int64(last.Tx), int64(last.Seq))
		return err
	})
}

// PgFold is PgApply for the usual read model, one row per stream: the
// rows of the streams the batch touches are read (and locked) with one
// statement, each event is folded into its view, and the views that
// changed are written back with one more. loadMany must lock what it reads
// (SELECT ... FOR UPDATE), so that a second instance cannot fold the same
// view from a stale version, and leave out the ids that have no row yet
// (they start from the zero view). So a batch costs a handful of
// statements however many conversations it touches, which is what keeps a
// resolved conversation's share of the database small, and catch-up and
// rebuilds fast.
func PgFold[V any](ctx context.Context, pool *pgxpool.Pool, name string, batch []es.Recorded,
	relevant func(es.Recorded) bool, key func(es.Recorded) string,
	loadMany func(ctx context.Context, tx pgx.Tx, ids []string) (map[string]V, error),
	fold func(*V, es.Recorded) (changed bool, err error),
	saveMany func(ctx context.Context, tx pgx.Tx, views []V) error) error {
	return PgApplyBatch(ctx, pool, name, batch, relevant, func(ctx context.Context, tx pgx.Tx, evs []es.Recorded) error {
		var ids []string
		seen := map[string]bool{}
		for _, ev := range evs {
			if id := key(ev); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		slices.Sort(ids) // lock in one order on every instance
		rows, err := loadMany(ctx, tx, ids)
		if err != nil {
			return err
		}
		views := make(map[string]*V, len(ids))
		for _, id := range ids {
			v := rows[id]
			views[id] = &v
		}
		var dirty []string // in the order rows first changed
		isDirty := map[string]bool{}
		for _, ev := range evs {
			id := key(ev)
			changed, err := fold(views[id], ev)
			if err != nil {
				return fmt.Errorf("apply %s (stream %s v%d): %w", ev.Type, ev.Stream, ev.StreamVersion, err)
			}
			if changed && !isDirty[id] {
				isDirty[id] = true
				dirty = append(dirty, id)
			}
		}
		if len(dirty) == 0 {
			return nil
		}
		out := make([]V, len(dirty))
		for i, id := range dirty {
			out[i] = *views[id]
		}
		return saveMany(ctx, tx, out)
	})
}

// EachSave adapts a one-row save to PgFold's saveMany.
func EachSave[V any](save func(ctx context.Context, tx pgx.Tx, v V) error) func(context.Context, pgx.Tx, []V) error {
	return func(ctx context.Context, tx pgx.Tx, views []V) error {
		for _, v := range views {
			if err := save(ctx, tx, v); err != nil {
				return err
			}
		}
		return nil
	}
}

func anyRelevant(batch []es.Recorded, relevant func(es.Recorded) bool) bool {
	for _, ev := range batch {
		if relevant == nil || relevant(ev) {
			return true
		}
	}
	return false
}

// idleCheckpointEvery bounds how often a projection's stored checkpoint is
// moved past batches it ignores.
const idleCheckpointEvery = time.Second

type idleKey struct {
	pool *pgxpool.Pool
	name string
}

// idleState is one projection's (on one pool) pace of those moves: when
// the last one was written, and the latest position waiting for the next.
type idleState struct {
	mu      sync.Mutex
	written time.Time
	pending es.Position
	timer   *time.Timer
}

var idle sync.Map // idleKey -> *idleState

// advanceIdle moves the stored checkpoint to last when last is ahead of it:
// at once when the last such move is a second old, otherwise by a timer
// at the end of that second (with the latest position by then), so the
// checkpoint is never more than about a second behind what the projection
// has passed.
//
// It is safe because the runner hands batches over in log order and only
// after every earlier batch was applied (here or by another instance, as
// the checkpoint row's lock decides): everything this projection folds up
// to last is already in its tables. The write waits for a batch another
// instance is applying under the row's lock and never moves it backwards.
func advanceIdle(ctx context.Context, pool *pgxpool.Pool, name string, last es.Position) error {
	v, _ := idle.LoadOrStore(idleKey{pool, name}, &idleState{})
	st := v.(*idleState)
	st.mu.Lock()
	if wait := idleCheckpointEvery - time.Since(st.written); wait > 0 {
		if st.pending.Less(last) {
			st.pending = last
		}
		if st.timer == nil {
			st.timer = time.AfterFunc(wait, func() { st.flush(pool, name) })
		}
		st.mu.Unlock()
		return nil
	}
	st.written = time.Now()
	st.mu.Unlock()
	return writeCheckpointAhead(ctx, pool, name, last)
}

// flush writes the position that waited for the end of the second. A
// failure (the pool closed at shutdown, the database away) is harmless:
// the checkpoint stays behind and the events are read and skipped again.
func (st *idleState) flush(pool *pgxpool.Pool, name string) {
	st.mu.Lock()
	p := st.pending
	st.pending, st.timer, st.written = es.Position{}, nil, time.Now()
	st.mu.Unlock()
	if p == (es.Position{}) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = writeCheckpointAhead(ctx, pool, name, p)
}

func writeCheckpointAhead(ctx context.Context, pool *pgxpool.Pool, name string, last es.Position) error {
	_, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, tx, seq) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, seq = EXCLUDED.seq, updated_at = now()
WHERE (projection_checkpoints.tx, projection_checkpoints.seq) < (EXCLUDED.tx, EXCLUDED.seq)`,
		name, int64(last.Tx), int64(last.Seq))
	if err != nil {
		return fmt.Errorf("move checkpoint of %s past ignored events: %w", name, err)
	}
	return nil
}
