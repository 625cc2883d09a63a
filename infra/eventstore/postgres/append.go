package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	fastjson "github.com/segmentio/encoding/json"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// maxAttempts bounds the retries of an append whose transaction id turned
// out to be older than the stream's last writer (see claimStream).
const maxAttempts = 20

// errStaleXID says the transaction must be retried with a fresh id.
var errStaleXID = errors.New("stream was last written by a newer transaction")

// Append adds events to a stream, in the next group commit (see commit.go).
func (s *Store) Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error) {
	return s.AppendGuarded(ctx, stream, expected, nil, events...)
}

// hooks stop an append at the points where races happen, so tests can
// build them on purpose. Each runs once per attempt.
type hooks struct {
	// afterBegin runs first in the transaction.
	afterBegin func(context.Context, pgx.Tx) error
	// beforeCommit runs once the events have their positions.
	beforeCommit func(context.Context) error
}

// append is one append in a transaction of its own, outside the group
// commit: the tests' way to hold a transaction open on purpose.
func (s *Store) append(ctx context.Context, stream string, expected int64, events []es.Event, h hooks) (es.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return es.AppendResult{}, err
	}
	rows, err := newEventRows(stream, events)
	if err != nil {
		return es.AppendResult{}, err
	}
	res, err := s.appendAlone(ctx, stream, expected, nil, rows, h)
	if err == nil {
		s.appended(res.Position)
	}
	return res, err
}

// appendAlone runs one append in a transaction of its own, again while its
// transaction id turns out older than the stream's last writer's. A batch
// that cannot be committed as a whole falls back to it.
func (s *Store) appendAlone(ctx context.Context, stream string, expected int64, guards []es.Guard, rows eventRows, h hooks) (es.AppendResult, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.tryAppend(ctx, stream, expected, guards, rows, h)
		if errors.Is(err, errStaleXID) && attempt < maxAttempts {
			continue
		}
		var ce *es.ConflictError
		if errors.As(err, &ce) {
			return es.AppendResult{}, err // already names the stream
		}
		if err != nil {
			return es.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		return res, nil
	}
}

func (s *Store) tryAppend(ctx context.Context, stream string, expected int64, guards []es.Guard, rows eventRows, h hooks) (es.AppendResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return es.AppendResult{}, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	if h.afterBegin != nil {
		if err := h.afterBegin(ctx, tx); err != nil {
			return es.AppendResult{}, err
		}
	}

	n := int64(len(rows.ids))
	version, lastHash, err := claimStream(ctx, tx, stream, expected, n)
	if err != nil {
		return es.AppendResult{}, err
	}
	if err := checkGuards(ctx, tx, guards); err != nil {
		return es.AppendResult{}, err
	}
	base := version - n
	var prevHash string
	switch {
	case lastHash != nil:
		prevHash = *lastHash
	case base > 0:
		if prevHash, err = sealLegacyStream(ctx, tx, stream, base); err != nil {
			return es.AppendResult{}, err
		}
	}
	hashes := eventstore.Link(prevHash, stream, base, rows.digests)
	last, err := insertEvents(ctx, tx, stream, base, rows, hashes)
	if err != nil {
		return es.AppendResult{}, err
	}
	if h.beforeCommit != nil {
		if err := h.beforeCommit(ctx); err != nil {
			return es.AppendResult{}, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return es.AppendResult{}, err
	}
	return es.AppendResult{Version: version, Position: last}, nil
}

// claimStream is the transaction's first write: it locks the stream row,
// checks the expected version and moves the version on by n, returning the
// new version and the hash of the stream's last event so far (nil for a new
// stream, and for one written before hash chains). Being first matters:
// the transaction id is taken here, and the row lock orders it against
// every other writer of the stream. The row's last_hash is read under that
// lock, so the hashes the append computes from it cannot be overtaken.
//
// One reorder survives a version check: transaction A takes its id, then
// waits for the row lock held by B, which has a larger id and commits
// version 5; A then writes version 6 with a smaller id than version 5, and
// the log (ordered by id) would show 6 before 5. So the row remembers its
// last writer and the update only proceeds for a newer one; an older one
// gets errStaleXID and retries in a new transaction, whose id is then
// certainly newer than the committed writer's.
func claimStream(ctx context.Context, tx pgx.Tx, stream string, expected, n int64) (int64, *string, error) {
	var (
		version  int64
		lastHash *string
		err      error
	)
	switch expected {
	case es.NoStream:
		// A new stream has no earlier writer to be out of order with.
		err = tx.QueryRow(ctx, `
			INSERT INTO streams (stream_id, version, last_tx)
			VALUES ($1, $2, pg_current_xact_id())
			ON CONFLICT (stream_id) DO NOTHING
			RETURNING version, last_hash`, stream, n).Scan(&version, &lastHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, conflict(ctx, tx, stream, expected)
		}
	case es.AnyVersion:
		err = tx.QueryRow(ctx, `
			INSERT INTO streams AS s (stream_id, version, last_tx)
			VALUES ($1, $2, pg_current_xact_id())
			ON CONFLICT (stream_id) DO UPDATE
				SET version = s.version + excluded.version, last_tx = excluded.last_tx
				WHERE s.last_tx < excluded.last_tx
			RETURNING version, last_hash`, stream, n).Scan(&version, &lastHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, errStaleXID
		}
	default:
		err = tx.QueryRow(ctx, `
			UPDATE streams SET version = version + $3, last_tx = pg_current_xact_id()
			WHERE stream_id = $1 AND version = $2 AND last_tx < pg_current_xact_id()
			RETURNING version, last_hash`, stream, expected, n).Scan(&version, &lastHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, conflict(ctx, tx, stream, expected)
		}
	}
	return version, lastHash, err
}

// checkGuards reads the guarded streams' versions in the append's
// transaction and refuses the append when one has moved.
func checkGuards(ctx context.Context, tx pgx.Tx, guards []es.Guard) error {
	if len(guards) == 0 {
		return nil
	}
	names := make([]string, len(guards))
	for i, g := range guards {
		names[i] = g.Stream
	}
	rows, err := tx.Query(ctx, `SELECT stream_id, version FROM streams WHERE stream_id = ANY($1::text[])`, names)
	if err != nil {
		return err
	}
	found := map[string]int64{}
	var (
		id string
		v  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { found[id] = v; return nil }); err != nil {
		return err
	}
	for _, g := range guards {
		if found[g.Stream] != g.Version {
			return &es.ConflictError{Stream: g.Stream, Expected: g.Version, Actual: found[g.Stream]}
		}
	}
	return nil
}

// conflict explains why a stream row was not claimed: a different version
// is a concurrency conflict for the caller, the right version with a newer
// writer is errStaleXID.
func conflict(ctx context.Context, tx pgx.Tx, stream string, expected int64) error {
	var (
		actual int64
		newer  bool
	)
	err := tx.QueryRow(ctx, `
		SELECT version, last_tx >= pg_current_xact_id() FROM streams WHERE stream_id = $1`,
		stream).Scan(&actual, &newer)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		actual = 0
	case err != nil:
		return err
	case actual == expected && newer:
		return errStaleXID
	}
	return &es.ConflictError{Stream: stream, Expected: expected, Actual: actual}
}

// eventRows are the events as column arrays, encoded once for all
// attempts, with their digests (es.EventDigest): only the link to the
// stream's previous hash is left for the transaction. metadata lacks the
// hash, which insertEvents adds.
type eventRows struct {
	ids, types, digests []string
	data, metadata      []json.RawMessage
}

func newEventRows(stream string, events []es.Event) (eventRows, error) {
	digests, err := eventstore.Digests(stream, events)
	if err != nil {
		return eventRows{}, err
	}
	r := eventRows{
		ids:      make([]string, len(events)),
		types:    make([]string, len(events)),
		digests:  digests,
		data:     make([]json.RawMessage, len(events)),
		metadata: make([]json.RawMessage, len(events)),
	}
	for i, ev := range events {
		ev.Metadata.Hash = ""
		md, err := fastjson.Marshal(ev.Metadata)
		if err != nil {
			return eventRows{}, fmt.Errorf("encode metadata of event %s: %w", ev.ID, err)
		}
		r.ids[i], r.types[i], r.data[i], r.metadata[i] = ev.ID, ev.Type, ev.Data, md
	}
	return r, nil
}

// insertEvents writes all events with their hashes in one statement, in
// order, so their positions increase with their versions, moves the
// stream's last hash on in the same statement, and returns the last
// position.
func insertEvents(ctx context.Context, tx pgx.Tx, stream string, base int64, r eventRows, hashes []string) (es.Position, error) {
	rows, err := tx.Query(ctx, `
		WITH appended AS (
			INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
			SELECT $1, $2::bigint + e.ord, e.id, e.type, e.data, e.metadata || jsonb_build_object('hash', e.hash)
			FROM unnest($3::text[]::uuid[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[])
				WITH ORDINALITY AS e(id, type, data, metadata, hash, ord)
			ORDER BY e.ord
			RETURNING transaction_id, global_position
		), head AS (
			UPDATE streams SET last_hash = $8 WHERE stream_id = $1
		)
		SELECT transaction_id, global_position FROM appended`,
		stream, base, r.ids, r.types, r.data, r.metadata, hashes, hashes[len(hashes)-1])
	if err != nil {
		return es.Position{}, err
	}
	var last, p es.Position
	_, err = pgx.ForEachRow(rows, []any{&p.Tx, &p.Seq}, func() error {
		if last.Less(p) {
			last = p
		}
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_event_id_key" {
		return es.Position{}, fmt.Errorf("%w (%s)", eventstore.ErrDuplicateEvent, pgErr.Detail)
	}
	return last, err
}

// sealLegacyStream gives the events of a stream written before hash chains
// (its row has no last_hash) their hashes, in the transaction of the
// stream's next append, which holds the stream's row lock. It returns the
// last event's hash for the append to link to. Streams that are never
// appended to again stay unsealed, and VerifyChain reports their version 1
// as having no hash.
func sealLegacyStream(ctx context.Context, tx pgx.Tx, stream string, version int64) (string, error) {
	rows, err := tx.Query(ctx, `
		SELECT `+eventColumns+` FROM events
		WHERE stream_id = $1 ORDER BY stream_version`, stream)
	if err != nil {
		return "", fmt.Errorf("seal stream: %w", err)
	}
	recs, err := scanEvents(rows)
	if err != nil {
		return "", fmt.Errorf("seal stream: %w", err)
	}
	if int64(len(recs)) != version {
		return "", fmt.Errorf("seal stream: it has %d events, its version is %d", len(recs), version)
	}
	versions, hashes := make([]int64, len(recs)), make([]string, len(recs))
	prev := ""
	for i, r := range recs {
		if r.StreamVersion != int64(i+1) {
			return "", fmt.Errorf("seal stream: event %d has version %d", i+1, r.StreamVersion)
		}
		if prev, err = es.ChainHash(prev, stream, r.StreamVersion, es.Event{ID: r.ID, Type: r.Type, Data: r.Data, Metadata: r.Metadata}); err != nil {
			return "", fmt.Errorf("seal stream: %w", err)
		}
		versions[i], hashes[i] = r.StreamVersion, prev
	}
	_, err = tx.Exec(ctx, `
		UPDATE events e SET metadata = e.metadata || jsonb_build_object('hash', u.hash)
		FROM unnest($2::bigint[], $3::text[]) AS u(version, hash)
		WHERE e.stream_id = $1 AND e.stream_version = u.version`, stream, versions, hashes)
	if err != nil {
		return "", fmt.Errorf("seal stream: %w", err)
	}
	return prev, nil
}
