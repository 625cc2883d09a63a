package esdb

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// maxAnyRetries bounds how often an es.AnyVersion append starts over
// after another writer took the revision it aimed at.
const maxAnyRetries = 200

// storedMetadata is what an event's custom metadata holds: our metadata
// (with the chain hash) and the two keys EventStoreDB's projections read.
type storedMetadata struct {
	es.Metadata
	ESCorrelationID string `json:"$correlationId,omitempty"`
	ESCausationID   string `json:"$causationId,omitempty"`
}

// tail is what an append needs to know of the stream it extends.
type tail struct {
	version int64  // number of events, 0 for a missing stream
	hash    string // chain hash of the last event, "" for none
}

// Append adds events to a stream at the expected version.
//
// The expected version becomes an EventStoreDB expected revision: es.NoStream
// (0) is NoStream, version n ≥ 1 is StreamRevision{n-1}, the revision of the
// stream's last event. es.AnyVersion is not sent as Any: the chain hash of
// the first new event depends on the stream's last event, so the adapter
// reads that event and appends at exactly its revision, starting over when
// another writer got there first. Every event's id is claimed first
// (claim.go); a write that fails on the expected revision releases its
// claims, one whose outcome is unknown (a timeout, a lost connection) keeps
// them, since its events may have landed.
//
// A wrong expected version is an *es.ConflictError with the version the
// server reported. The result's position is that of the last event: taken
// from the server's answer for a single event, read back otherwise (the
// answer's position for several events is not documented as the last
// one's, and an idempotent write is answered without one).
func (s *Store) Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error) {
	return s.AppendGuarded(ctx, stream, expected, nil, events...)
}

// AppendGuarded checks each guarded stream's last revision, then appends.
// EventStoreDB has no transaction across streams, so a guarded stream that
// moves between that read and the append is not noticed: the guard is as
// good as reading the stream right before appending, which is what the
// commands did before guards existed.
func (s *Store) AppendGuarded(ctx context.Context, stream string, expected int64, guards []es.Guard, events ...es.Event) (es.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return es.AppendResult{}, err
	}
	if err := eventstore.ValidateGuards(stream, guards); err != nil {
		return es.AppendResult{}, err
	}
	for _, g := range guards {
		if err := checkNames(g.Stream, nil); err != nil {
			return es.AppendResult{}, err
		}
		t, err := s.readTail(ctx, s.raw(g.Stream))
		if err != nil {
			return es.AppendResult{}, fmt.Errorf("append to %s: read guard %s: %w", stream, g.Stream, err)
		}
		if t.version != g.Version {
			return es.AppendResult{}, &es.ConflictError{Stream: g.Stream, Expected: g.Version, Actual: t.version}
		}
	}
	if err := checkNames(stream, events); err != nil {
		return es.AppendResult{}, err
	}
	digests, err := eventstore.Digests(stream, events)
	if err != nil {
		return es.AppendResult{}, err
	}
	raw := s.raw(stream)
	attempt := uuid.NewString()
	var claims []claim
	for try := 0; ; try++ {
		t, err := s.readTail(ctx, raw)
		if err != nil {
			s.release(claims) // nil in the first round
			return es.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		if expected != es.AnyVersion && t.version != expected {
			return es.AppendResult{}, &es.ConflictError{Stream: stream, Expected: expected, Actual: t.version}
		}
		if claims, err = s.claimAll(ctx, raw, t.version, events, attempt, claims); err != nil {
			return es.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		res, err := s.write(ctx, stream, raw, t, events, digests)
		if err == nil {
			s.changed.Advance(res.Position)
			return res, nil
		}
		if errorCode(err) != esdbclient.ErrorCodeWrongExpectedVersion {
			return es.AppendResult{}, fmt.Errorf("append to %s (outcome unknown, ids stay claimed): %w", stream, err)
		}
		if expected != es.AnyVersion || try >= maxAnyRetries || ctx.Err() != nil {
			s.release(claims)
			actual, ok := reportedVersion(err)
			if !ok {
				if t2, rerr := s.readTail(ctx, raw); rerr == nil {
					actual = t2.version
				}
			}
			return es.AppendResult{}, &es.ConflictError{Stream: stream, Expected: expected, Actual: actual}
		}
		// An any-version append starts over at the new end, moving its
		// claims along.
		if err := backoff(ctx, try); err != nil {
			s.release(claims)
			return es.AppendResult{}, err
		}
	}
}

// readTail reads the stream's last event.
func (s *Store) readTail(ctx context.Context, raw string) (tail, error) {
	page, err := s.readStreamRaw(ctx, raw, esdbclient.Backwards, esdbclient.End{}, 1)
	if err != nil || len(page) == 0 {
		return tail{}, err
	}
	var md struct {
		Hash string `json:"hash"`
	}
	// An event without our metadata starts the chain afresh.
	_ = json.Unmarshal(page[0].UserMetadata, &md)
	return tail{version: int64(page[0].EventNumber) + 1, hash: md.Hash}, nil
}

// write sends the events with their chain hashes at exactly the revision
// t names.
func (s *Store) write(ctx context.Context, stream, raw string, t tail, events []es.Event, digests []string) (es.AppendResult, error) {
	hashes := eventstore.Link(t.hash, stream, t.version, digests)
	data := make([]esdbclient.EventData, len(events))
	for i, ev := range events {
		md := ev.Metadata
		md.Hash = hashes[i]
		meta, err := json.Marshal(storedMetadata{Metadata: md, ESCorrelationID: md.CorrelationID, ESCausationID: md.CausationID})
		if err != nil {
			return es.AppendResult{}, fmt.Errorf("%w: stream %s event %s: metadata: %w", eventstore.ErrInvalidAppend, stream, ev.ID, err)
		}
		data[i] = esdbclient.EventData{
			EventID:     uuid.MustParse(ev.ID), // ValidateAppend checked it
			EventType:   ev.Type,
			ContentType: esdbclient.ContentTypeJson,
			Data:        ev.Data,
			Metadata:    meta,
		}
	}
	var exp esdbclient.ExpectedRevision = esdbclient.NoStream{}
	if t.version > 0 {
		exp = esdbclient.StreamRevision{Value: uint64(t.version - 1)}
	}
	c, err := s.begin()
	if err != nil {
		return es.AppendResult{}, err
	}
	defer s.end()
	wctx, cancel := context.WithTimeout(ctx, appendTimeout)
	defer cancel()
	wr, err := c.AppendToStream(wctx, raw, esdbclient.AppendToStreamOptions{ExpectedRevision: exp}, data...)
	if err != nil {
		return es.AppendResult{}, s.check(c, err)
	}
	version := t.version + int64(len(events))
	pos := es.Position{Tx: wr.CommitPosition, Seq: wr.PreparePosition}
	if len(events) > 1 || wr.CommitPosition != wr.PreparePosition || wr.CommitPosition == 0 {
		// The appended events are there to stay; if reading the last one
		// back fails, the reported position is the best there is.
		last := data[len(data)-1].EventID
		if page, err := s.readStreamRaw(ctx, raw, esdbclient.Forwards, esdbclient.Revision(uint64(version-1)), 1); err == nil && len(page) == 1 && page[0].EventID == last {
			pos = toPosition(page[0].Position)
		}
	}
	return es.AppendResult{Version: version, Position: pos}, nil
}

// appendInternal writes one bookkeeping event (a claim, a release, a
// checkpoint) with a fresh id (a reused id could be taken for an
// idempotent retry) and returns its revision.
func (s *Store) appendInternal(ctx context.Context, stream string, expected esdbclient.ExpectedRevision, eventType string, v any) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	c, err := s.begin()
	if err != nil {
		return 0, err
	}
	defer s.end()
	wr, err := c.AppendToStream(ctx, stream, esdbclient.AppendToStreamOptions{ExpectedRevision: expected}, esdbclient.EventData{
		EventID:     uuid.New(),
		EventType:   eventType,
		ContentType: esdbclient.ContentTypeJson,
		Data:        data,
	})
	if err != nil {
		return 0, s.check(c, err)
	}
	return wr.NextExpectedVersion, nil
}

// wrongVersion matches the client's text for a WrongExpectedVersion answer,
// whose current revision it does not expose otherwise.
var wrongVersion = regexp.MustCompile(`but got '([^']*)'`)

// reportedVersion is our version of the stream as the server reported it
// in a WrongExpectedVersion error: "no_stream" is 0, revision r is r+1.
func reportedVersion(err error) (int64, bool) {
	m := wrongVersion.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	if m[1] == "no_stream" {
		return 0, true
	}
	r, perr := strconv.ParseInt(m[1], 10, 64)
	if perr != nil || r < 0 {
		return 0, false
	}
	return r + 1, true
}

// backoff sleeps a little, more after more tries, with jitter so that
// racing appenders spread out.
func backoff(ctx context.Context, try int) error {
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(try, 5)))
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
