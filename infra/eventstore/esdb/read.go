package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// ReadStream returns the stream's events after afterVersion: EventStoreDB
// revisions from afterVersion on (version v is revision v-1), page by page.
// A stream that does not exist (the server answers StreamNotFound) is
// empty.
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]es.Recorded, error) {
	from := uint64(max(afterVersion, 0))
	raw := s.raw(stream)
	var out []es.Recorded
	for {
		page, err := s.readStreamRaw(ctx, raw, esdbclient.Forwards, esdbclient.Revision(from), pageSize)
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		for _, e := range page {
			r, err := s.decode(e)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if len(page) < pageSize {
			return out, nil
		}
		from = page[len(page)-1].EventNumber + 1
	}
}

// ReadAll returns up to limit of the store's events after the given
// position, in $all order. Reads of $all include the event at the position
// they start from, so that one is skipped; system events and the adapter's
// own streams are skipped too. Everything $all shows is final: positions
// are handed out by the single writer in log order.
func (s *Store) ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error) {
	if err := eventstore.ValidateLimit(limit); err != nil {
		return nil, err
	}
	out, err := s.scan(ctx, after, limit, nil)
	if err != nil {
		return nil, fmt.Errorf("read all after %s: %w", after, err)
	}
	return out, nil
}

// ReadCorrelated returns up to limit events with the given correlation id
// after the given position. It is a scan of $all from that position,
// decoding every event's metadata: fine for the test stand-in and small
// stores, linear in the log for big ones. (EventStoreDB's
// $by_correlation_id projection, fed by the "$correlationId" the adapter
// writes into every event's metadata, would be the index to use instead.)
func (s *Store) ReadCorrelated(ctx context.Context, correlationID string, after es.Position, limit int) ([]es.Recorded, error) {
	if err := eventstore.ValidateLimit(limit); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateCorrelationID(correlationID); err != nil {
		return nil, fmt.Errorf("read correlated: %w", err)
	}
	out, err := s.scan(ctx, after, limit, func(r es.Recorded) bool { return r.Metadata.CorrelationID == correlationID })
	if err != nil {
		return nil, fmt.Errorf("read correlated %s after %s: %w", correlationID, after, err)
	}
	return out, nil
}

// Head is the position of the last event ReadAll would return: $all read
// backwards from its end past system and bookkeeping events.
func (s *Store) Head(ctx context.Context) (es.Position, error) {
	var from esdbclient.AllPosition = esdbclient.End{}
	for n := uint64(16); ; n = min(2*n, pageSize) {
		page, err := s.readAllRaw(ctx, esdbclient.Backwards, from, n)
		if err != nil {
			return es.Position{}, fmt.Errorf("head: %w", err)
		}
		for _, e := range page {
			if s.visible(e) {
				return toPosition(e.Position), nil
			}
		}
		if uint64(len(page)) < n {
			return es.Start, nil
		}
		from = page[len(page)-1].Position
	}
}

// scan reads $all forwards after the given position and returns up to
// limit visible events that keep accepts (nil accepts all).
func (s *Store) scan(ctx context.Context, after es.Position, limit int, keep func(es.Recorded) bool) ([]es.Recorded, error) {
	// EventStoreDB positions are signed 64-bit numbers on the server.
	if after.Tx > math.MaxInt64 || after.Seq > math.MaxInt64 {
		return nil, nil
	}
	var from esdbclient.AllPosition = esdbclient.Start{}
	started := after != es.Start
	if started {
		from = esdbclient.Position{Commit: after.Tx, Prepare: after.Seq}
	}
	var out []es.Recorded
	// The first request asks for a little more than limit, since
	// bookkeeping events (about one id claim per event) are interleaved.
	for n := uint64(min(2*limit+2, pageSize)); ; n = min(2*n, pageSize) {
		page, err := s.readAllRaw(ctx, esdbclient.Forwards, from, n)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			p := toPosition(e.Position)
			if started && !after.Less(p) {
				continue
			}
			started, after = true, p
			if !s.visible(e) {
				continue
			}
			r, err := s.decode(e)
			if err != nil {
				return nil, err
			}
			if keep != nil && !keep(r) {
				continue
			}
			out = append(out, r)
			if len(out) == limit {
				return out, nil
			}
		}
		if uint64(len(page)) < n {
			return out, nil
		}
		from = esdbclient.Position{Commit: after.Tx, Prepare: after.Seq}
	}
}

// visible reports whether an event of $all is one of the store's events:
// not a system event ($-prefixed stream or type), inside the namespace,
// and not in one of the adapter's bookkeeping streams.
func (s *Store) visible(e *esdbclient.RecordedEvent) bool {
	if strings.HasPrefix(e.StreamID, "$") || strings.HasPrefix(e.EventType, "$") {
		return false
	}
	name, ok := strings.CutPrefix(e.StreamID, s.ns)
	return ok && !internal(name)
}

// internal reports a bookkeeping stream of this adapter, also one of a
// namespaced store seen from outside its namespace.
func internal(name string) bool {
	return strings.HasPrefix(name, internalPrefix) || strings.Contains(name, "/"+internalPrefix)
}

// decode turns a stored event into an es.Recorded. Its custom metadata is
// our es.Metadata as JSON (extra keys such as "$correlationId" are
// ignored); an event written by someone else without metadata gets none.
func (s *Store) decode(e *esdbclient.RecordedEvent) (es.Recorded, error) {
	var md es.Metadata
	if len(e.UserMetadata) > 0 {
		if err := json.Unmarshal(e.UserMetadata, &md); err != nil {
			return es.Recorded{}, fmt.Errorf("event %s in %s at revision %d: metadata is not ours: %w", e.EventID, e.StreamID, e.EventNumber, err)
		}
	}
	return es.Recorded{
		ID:            e.EventID.String(),
		Stream:        strings.TrimPrefix(e.StreamID, s.ns),
		StreamVersion: int64(e.EventNumber) + 1,
		Position:      toPosition(e.Position),
		Type:          e.EventType,
		Data:          json.RawMessage(e.Data),
		Metadata:      md,
	}, nil
}

// readStreamRaw reads up to count events of an EventStoreDB stream. A
// missing stream has none.
func (s *Store) readStreamRaw(ctx context.Context, stream string, dir esdbclient.Direction, from esdbclient.StreamPosition, count uint64) ([]*esdbclient.RecordedEvent, error) {
	c, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer s.end()
	rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: dir, From: from}, count)
	if err != nil {
		return nil, s.check(c, err)
	}
	out, err := drain(rs, count)
	if errorCode(err) == esdbclient.ErrorCodeResourceNotFound {
		return nil, nil
	}
	return out, s.check(c, err)
}

// readAllRaw reads up to count events of $all, system events included.
func (s *Store) readAllRaw(ctx context.Context, dir esdbclient.Direction, from esdbclient.AllPosition, count uint64) ([]*esdbclient.RecordedEvent, error) {
	c, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer s.end()
	rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: dir, From: from}, count)
	if err != nil {
		return nil, s.check(c, err)
	}
	out, err := drain(rs, count)
	return out, s.check(c, err)
}

// drain receives a read to its end. With links unresolved (the default)
// every message carries its event in Event.
func drain(rs *esdbclient.ReadStream, count uint64) ([]*esdbclient.RecordedEvent, error) {
	defer rs.Close()
	out := make([]*esdbclient.RecordedEvent, 0, min(count, pageSize))
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.Event != nil {
			out = append(out, ev.Event)
		}
	}
}
