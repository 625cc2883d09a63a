package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	fastjson "github.com/segmentio/encoding/json"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

const eventColumns = `transaction_id, global_position, event_id::text, stream_id, stream_version, event_type, data, metadata`

// eventColumnsOf is eventColumns of a table alias.
func eventColumnsOf(t string) string {
	return t + `.transaction_id, ` + t + `.global_position, ` + t + `.event_id::text, ` + t + `.stream_id, ` +
		t + `.stream_version, ` + t + `.event_type, ` + t + `.data, ` + t + `.metadata`
}

// ReadAll returns up to limit events after the given position in log
// order, only from transactions older than every running one, so the
// result can only ever be extended, never filled in behind. xid8 travels as
// uint64: pgx encodes and decodes it natively.
func (s *Store) ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error) {
	if err := eventstore.ValidateLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+eventColumns+` FROM events
		WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
			AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
		ORDER BY transaction_id, global_position
		LIMIT $3`, after.Tx, int64(min(after.Seq, 1<<63-1)), limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %s: %w", after, err)
	}
	recs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read all after %s: %w", after, err)
	}
	return recs, nil
}

// correlatedQuery is ReadAll's query restricted to one correlation id. The
// index events_correlation_log_order (migration 00006) serves it: equality
// on its expression, which must be spelled exactly as in the index, then
// the log order range on its other two columns.
const correlatedQuery = `
	SELECT ` + eventColumns + ` FROM events
	WHERE (metadata->>'correlation_id') = $1
		AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		AND (transaction_id, global_position) > ($2::xid8, $3::bigint)
	ORDER BY transaction_id, global_position
	LIMIT $4`

// ReadCorrelated is ReadAll restricted to one correlation id.
func (s *Store) ReadCorrelated(ctx context.Context, correlationID string, after es.Position, limit int) ([]es.Recorded, error) {
	if err := eventstore.ValidateLimit(limit); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateCorrelationID(correlationID); err != nil {
		return nil, fmt.Errorf("read correlated: %w", err)
	}
	rows, err := s.pool.Query(ctx, correlatedQuery, correlationID, after.Tx, int64(min(after.Seq, 1<<63-1)), limit)
	if err != nil {
		return nil, fmt.Errorf("read correlated %s after %s: %w", correlationID, after, err)
	}
	recs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read correlated %s after %s: %w", correlationID, after, err)
	}
	return recs, nil
}

// Head is the position of the last event ReadAll would return now.
func (s *Store) Head(ctx context.Context) (es.Position, error) {
	var p es.Position
	err := s.pool.QueryRow(ctx, `
		SELECT transaction_id, global_position FROM events
		WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY transaction_id DESC, global_position DESC
		LIMIT 1`).Scan(&p.Tx, &p.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return es.Start, nil
	}
	if err != nil {
		return es.Position{}, fmt.Errorf("head: %w", err)
	}
	return p, nil
}

func scanEvents(rows pgx.Rows) ([]es.Recorded, error) {
	var (
		out          []es.Recorded
		r            es.Recorded
		data, mdJSON []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&r.Position.Tx, &r.Position.Seq, &r.ID, &r.Stream, &r.StreamVersion, &r.Type, &data, &mdJSON}, func() error {
		r.Data = json.RawMessage(append([]byte(nil), data...))
		r.Metadata = es.Metadata{}
		if err := fastjson.Unmarshal(mdJSON, &r.Metadata); err != nil {
			return fmt.Errorf("decode metadata of event %s: %w", r.ID, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
