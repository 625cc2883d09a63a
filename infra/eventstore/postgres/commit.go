package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// Group commit. Every append of this process waits in one queue, and one
// committer writes whatever has queued up in one transaction: the streams
// it touches are locked and checked in one statement, their rows and all
// their events written in a second, and the two travel with BEGIN and
// COMMIT in two round trips. While a batch commits the next one gathers,
// so a lone append pays no wait at all and a thousand concurrent ones pay
// a few transactions between them: one WAL flush for many requests, which
// is what lets the gateway accept messages faster than a client doing one
// INSERT per request.
//
// Each append still succeeds or fails on its own: a stream at another
// version, or a guard that moved, fails only that append. An append whose
// stream was last written by a newer transaction (see claimStream) waits
// for the next batch, whose transaction is newer. Anything else that goes
// wrong in a batch (a duplicate event id, a deadlock with another
// instance) makes its appends run again one by one, so that only the
// culprit sees the error.

// maxBatchAppends bounds the appends of one transaction, so a burst is
// spread over a few commits instead of one huge statement.
const maxBatchAppends = 512

type appendReq struct {
	ctx      context.Context
	stream   string
	expected int64
	guards   []es.Guard
	rows     eventRows
	attempts int
	done     chan appendOutcome
}

type appendOutcome struct {
	res es.AppendResult
	err error
}

// committer is the queue and the goroutines that drain it while it is not
// empty (none runs while nothing is appended). Up to maxCommitters batches
// commit at once, on as many connections: a batch spends most of its time
// waiting for the database, and a second one gathering meanwhile keeps
// the disk's group commit busy. A stream is in one batch at a time.
type committer struct {
	mu       sync.Mutex
	queue    []*appendReq
	running  int
	inflight map[string]bool
}

// maxCommitters bounds the batches committing at once.
const maxCommitters = 1

// AppendGuarded appends events to stream if it is at expected and every
// guarded stream at its version, in the next group commit.
func (s *Store) AppendGuarded(ctx context.Context, stream string, expected int64, guards []es.Guard, events ...es.Event) (es.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return es.AppendResult{}, err
	}
	if err := eventstore.ValidateGuards(stream, guards); err != nil {
		return es.AppendResult{}, err
	}
	rows, err := newEventRows(stream, events)
	if err != nil {
		return es.AppendResult{}, err
	}
	req := &appendReq{ctx: ctx, stream: stream, expected: expected, guards: guards, rows: rows, done: make(chan appendOutcome, 1)}
	s.enqueue(req)
	select {
	case out := <-req.done:
		if out.err == nil {
			s.appended(out.res.Position)
		}
		return out.res, out.err
	case <-ctx.Done():
		// The append may still land: the batch holding it does not stop for
		// one caller. Wait for its outcome a little, so the caller learns
		// it when it is quick.
		select {
		case out := <-req.done:
			if out.err == nil {
				s.appended(out.res.Position)
			}
			return out.res, out.err
		case <-time.After(5 * time.Second):
			return es.AppendResult{}, fmt.Errorf("append to %s: %w (the outcome is unknown)", stream, ctx.Err())
		}
	}
}

func (s *Store) enqueue(reqs ...*appendReq) {
	s.commits.mu.Lock()
	defer s.commits.mu.Unlock()
	s.commits.queue = append(s.commits.queue, reqs...)
	if s.commits.running < maxCommitters {
		s.commits.running++
		go s.commitLoop()
	}
}

// commitLoop commits batches until nothing is left for it to take.
func (s *Store) commitLoop() {
	for {
		s.commits.mu.Lock()
		if s.commits.inflight == nil {
			s.commits.inflight = map[string]bool{}
		}
		// One append per stream in flight: a second append to the same
		// stream decides on the first one's outcome, so it waits.
		var batch, later []*appendReq
		for _, r := range s.commits.queue {
			if len(batch) < maxBatchAppends && !s.commits.inflight[r.stream] {
				s.commits.inflight[r.stream] = true
				batch = append(batch, r)
			} else {
				later = append(later, r)
			}
		}
		if len(batch) == 0 {
			s.commits.running--
			s.commits.mu.Unlock()
			return
		}
		s.commits.queue = later
		s.commits.mu.Unlock()
		again := s.commitBatch(batch)
		s.commits.mu.Lock()
		for _, r := range batch {
			delete(s.commits.inflight, r.stream)
		}
		// Retries go first: they were there before what queued meanwhile.
		s.commits.queue = append(again, s.commits.queue...)
		s.commits.mu.Unlock()
	}
}

// finish answers an append.
func finish(r *appendReq, res es.AppendResult, err error) {
	r.done <- appendOutcome{res: res, err: err}
}

// claimed is a stream's row as the batch found (and locked) it.
type claimed struct {
	version  int64
	lastHash *string
	newer    bool // last written by a transaction newer than the batch's
	locked   bool // a stream the batch writes (guards are only read)
}

const claimSQL = `
	WITH locked AS (
		SELECT stream_id, version, last_hash, last_tx >= pg_current_xact_id() AS newer
		FROM streams WHERE stream_id = ANY($1::text[])
		ORDER BY stream_id
		FOR UPDATE
	)
	SELECT stream_id, version, last_hash, newer, true FROM locked
	UNION ALL
	SELECT stream_id, version, NULL, false, false FROM streams WHERE stream_id = ANY($2::text[])`

// writeSQL moves the claimed streams on (updates the rows the batch locked,
// inserts new ones unless another writer created them meanwhile) and
// inserts the events of exactly the streams it moved, in order, returning
// their places in the log. Event ids travel as text[] and become uuid[] in
// SQL: pgx has no binary plan for []string as uuid[], and on every call it
// would first fail to find one, building an error that prints the whole
// array, before sending it as text (see also pg.Connect).
const writeSQL = `
	WITH upd AS (
		UPDATE streams t SET version = u.version, last_hash = u.last_hash, last_tx = pg_current_xact_id()
		FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(stream_id, version, last_hash)
		WHERE t.stream_id = u.stream_id
		RETURNING t.stream_id
	), ins AS (
		INSERT INTO streams (stream_id, version, last_hash, last_tx)
		SELECT n.stream_id, n.version, n.last_hash, pg_current_xact_id()
		FROM unnest($4::text[], $5::bigint[], $6::text[]) AS n(stream_id, version, last_hash)
		ON CONFLICT (stream_id) DO NOTHING
		RETURNING stream_id
	), moved AS (
		SELECT stream_id FROM upd UNION ALL SELECT stream_id FROM ins
	)
	INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
	SELECT e.stream_id, e.version, e.id, e.type, e.data, e.metadata || jsonb_build_object('hash', e.hash)
	FROM unnest($7::text[], $8::bigint[], $9::text[]::uuid[], $10::text[], $11::jsonb[], $12::jsonb[], $13::text[])
		WITH ORDINALITY AS e(stream_id, version, id, type, data, metadata, hash, ord)
	WHERE e.stream_id IN (SELECT stream_id FROM moved)
	ORDER BY e.ord
	RETURNING stream_id, transaction_id, global_position`

// planned is one append the batch writes.
type planned struct {
	req     *appendReq
	version int64 // the stream's version after the append
	isNew   bool
}

// commitBatch writes one batch. It never gives up on the requests: each
// gets an outcome now, or is returned to be queued for a later batch.
func (s *Store) commitBatch(batch []*appendReq) []*appendReq {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil && r.attempts == 0 {
			finish(r, es.AppendResult{}, err) // nobody waits for it any more, and nothing was tried
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	retry, alone, err := s.tryBatch(ctx, live)
	if err != nil {
		// The batch as a whole failed: run its appends one by one, so each
		// gets its own outcome.
		alone, retry = live, nil
	}
	for _, r := range alone {
		res, err := s.appendAlone(r.ctx, r.stream, r.expected, r.guards, r.rows, hooks{})
		finish(r, res, err)
	}
	var again []*appendReq
	for _, r := range retry {
		r.attempts++
		if r.attempts >= maxAttempts {
			finish(r, es.AppendResult{}, fmt.Errorf("append to %s: %w, %d times", r.stream, errStaleXID, r.attempts))
			continue
		}
		again = append(again, r)
	}
	return again
}

// tryBatch runs one group-commit transaction. It answers the appends it
// decided (written or refused) itself and returns those to try again in a
// later batch and those to run on their own. An error means nothing was
// written and nothing answered.
func (s *Store) tryBatch(ctx context.Context, batch []*appendReq) (retry, alone []*appendReq, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Release()
	var streams, guarded []string
	seen := map[string]bool{}
	for _, r := range batch {
		// A stream that must not exist yet is not looked up the first
		// time: it is inserted, and if someone created it meanwhile the
		// insert says so and the append is tried again, claimed like any
		// other, which reports the conflict with the version found. Most
		// appends of a busy gateway start a stream (a conversation, a
		// task), so this keeps the claim to the streams that move.
		if r.expected != es.NoStream || r.attempts > 0 {
			streams = append(streams, r.stream)
		}
		for _, g := range r.guards {
			// Many appends guard one stream (every message of a key guards
			// the key): read it once.
			if !seen[g.Stream] {
				seen[g.Stream] = true
				guarded = append(guarded, g.Stream)
			}
		}
	}
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(claimSQL, streams, guarded)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	rows := map[string]claimed{}
	if err == nil {
		var r pgx.Rows
		if r, err = br.Query(); err == nil {
			var (
				id string
				c  claimed
			)
			_, err = pgx.ForEachRow(r, []any{&id, &c.version, &c.lastHash, &c.newer, &c.locked}, func() error {
				if prev, ok := rows[id]; !ok || c.locked || !prev.locked {
					rows[id] = c
				}
				return nil
			})
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback(conn.Conn())
		return nil, nil, err
	}

	// Decide each append on the rows as locked.
	var (
		plan                     []planned
		updIDs, insIDs           []string
		updVersions, insVersions []int64
		updHashes, insHashes     []string
		ev                       eventColumnsIn
	)
	for _, r := range batch {
		row, exists := rows[r.stream]
		if cerr := guardConflict(r, rows); cerr != nil {
			finish(r, es.AppendResult{}, cerr)
			continue
		}
		actual := int64(0)
		if exists {
			actual = row.version
		}
		if r.expected != es.AnyVersion && r.expected != actual {
			finish(r, es.AppendResult{}, &es.ConflictError{Stream: r.stream, Expected: r.expected, Actual: actual})
			continue
		}
		if exists && row.newer {
			retry = append(retry, r)
			continue
		}
		if exists && row.lastHash == nil {
			alone = append(alone, r) // written before hash chains: sealed on its own
			continue
		}
		prev := ""
		if row.lastHash != nil {
			prev = *row.lastHash
		}
		n := int64(len(r.rows.ids))
		hashes := eventstore.Link(prev, r.stream, actual, r.rows.digests)
		p := planned{req: r, version: actual + n, isNew: !exists}
		plan = append(plan, p)
		if exists {
			updIDs, updVersions, updHashes = append(updIDs, r.stream), append(updVersions, p.version), append(updHashes, hashes[len(hashes)-1])
		} else {
			insIDs, insVersions, insHashes = append(insIDs, r.stream), append(insVersions, p.version), append(insHashes, hashes[len(hashes)-1])
		}
		ev.add(r.stream, actual, r.rows, hashes)
	}
	if len(plan) == 0 {
		rollback(conn.Conn())
		return retry, alone, nil
	}

	b = &pgx.Batch{}
	b.Queue(writeSQL, updIDs, updVersions, updHashes, insIDs, insVersions, insHashes,
		ev.streams, ev.versions, ev.ids, ev.types, ev.data, ev.metadata, ev.hashes)
	b.Queue("commit")
	br = conn.SendBatch(ctx, b)
	last := map[string]es.Position{}
	r, err := br.Query()
	if err == nil {
		var (
			id string
			p  es.Position
		)
		_, err = pgx.ForEachRow(r, []any{&id, &p.Tx, &p.Seq}, func() error {
			if cur := last[id]; cur.Less(p) {
				last[id] = p
			}
			return nil
		})
	}
	if err == nil {
		_, err = br.Exec() // commit
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback(conn.Conn())
		// Appends already refused stay refused: their outcome did not
		// depend on this write. The planned ones run again on their own.
		alone = append(alone, plannedReqs(plan)...)
		return retry, alone, nil
	}
	for _, p := range plan {
		pos, written := last[p.req.stream]
		switch {
		case written:
			finish(p.req, es.AppendResult{Version: p.version, Position: pos}, nil)
		case p.isNew:
			// Another writer created the stream after the claim: decide
			// again on its row.
			retry = append(retry, p.req)
		default:
			finish(p.req, es.AppendResult{}, fmt.Errorf("append to %s: the stream was locked but not written", p.req.stream))
		}
	}
	return retry, alone, nil
}

func plannedReqs(plan []planned) []*appendReq {
	out := make([]*appendReq, len(plan))
	for i, p := range plan {
		out[i] = p.req
	}
	return out
}

// guardConflict checks an append's guards against the rows read.
func guardConflict(r *appendReq, rows map[string]claimed) error {
	for _, g := range r.guards {
		actual := int64(0)
		if row, ok := rows[g.Stream]; ok {
			actual = row.version
		}
		if actual != g.Version {
			return &es.ConflictError{Stream: g.Stream, Expected: g.Version, Actual: actual}
		}
	}
	return nil
}

// rollback ends a batch's transaction on the connection after a failure.
// If even that fails, the connection is closed so the pool drops it
// rather than hand out a connection inside a broken transaction.
func rollback(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "rollback"); err != nil {
		_ = conn.Close(ctx)
	}
}

// eventColumnsIn are a batch's events as column arrays.
type eventColumnsIn struct {
	streams, ids, types, hashes []string
	versions                    []int64
	data, metadata              [][]byte
}

func (c *eventColumnsIn) add(stream string, base int64, r eventRows, hashes []string) {
	for i := range r.ids {
		c.streams = append(c.streams, stream)
		c.versions = append(c.versions, base+int64(i)+1)
		c.ids = append(c.ids, r.ids[i])
		c.types = append(c.types, r.types[i])
		c.data = append(c.data, r.data[i])
		c.metadata = append(c.metadata, r.metadata[i])
		c.hashes = append(c.hashes, hashes[i])
	}
}
