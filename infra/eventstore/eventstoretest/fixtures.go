package eventstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// occurredAt has nanoseconds and a non-UTC zone on purpose: stores only owe
// the instant to the microsecond, not the zone or the last digits.
var occurredAt = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// NewEvent returns an event with a fresh ID, a small JSON object as data and
// every metadata field set, so a round trip that drops a field shows up.
func NewEvent(eventType string, n int) es.Event {
	id := uuid.NewString()
	return es.Event{
		ID:   id,
		Type: eventType,
		Data: json.RawMessage(fmt.Sprintf(`{"n": %d, "nested": {"ok": true, "list": [1, 2.5, "three"]}, "text": "héllo \"q\""}`, n)),
		Metadata: es.Metadata{
			CorrelationID: "corr-" + id[:8],
			CausationID:   "cause-" + id[:8],
			Actor:         es.Actor{Kind: "user", ID: "user-42"},
			Schema:        2,
			OccurredAt:    occurredAt.Add(time.Duration(n) * time.Second),
		},
	}
}

// NewEvents returns n events of the given type numbered from 1.
func NewEvents(eventType string, n int) []es.Event {
	evs := make([]es.Event, n)
	for i := range evs {
		evs[i] = NewEvent(eventType, i+1)
	}
	return evs
}

// testContext bounds every subtest, so a store that hangs fails instead of
// blocking the whole test binary until its global timeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(t *testing.T, ctx context.Context, st eventstore.Store, stream string, expected int64, evs ...es.Event) es.AppendResult {
	t.Helper()
	res, err := st.Append(ctx, stream, expected, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s at %d: %v", len(evs), stream, expected, err)
	}
	return res
}

func mustReadStream(t *testing.T, ctx context.Context, st eventstore.Store, stream string, after int64) []es.Recorded {
	t.Helper()
	recs, err := st.ReadStream(ctx, stream, after)
	if err != nil {
		t.Fatalf("read stream %s after %d: %v", stream, after, err)
	}
	return recs
}

// readAllEventually pages through the whole log until it holds want events.
// It has to wait because a store may hold events back until no earlier one
// can still commit (Postgres waits for every older transaction in the
// cluster, including other tests'); it must never return more than want.
func readAllEventually(t *testing.T, ctx context.Context, st eventstore.Store, want int) []es.Recorded {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := readAll(t, ctx, st, es.Start, 100)
		if len(all) > want {
			t.Fatalf("read all returned %d events, only %d were appended", len(all), want)
		}
		if len(all) == want {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("read all still returns %d of %d events after 10s", len(all), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readAll pages from after to the current end of the log.
func readAll(t *testing.T, ctx context.Context, st eventstore.Store, after es.Position, limit int) []es.Recorded {
	t.Helper()
	var all []es.Recorded
	for {
		page, err := st.ReadAll(ctx, after, limit)
		if err != nil {
			t.Fatalf("read all after %s: %v", after, err)
		}
		if len(page) > limit {
			t.Fatalf("read all with limit %d returned %d events", limit, len(page))
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
}

// checkRecorded compares a stored event with what was appended.
func checkRecorded(t *testing.T, got es.Recorded, want es.Event, stream string, version int64) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("event id = %q, want %q", got.ID, want.ID)
	}
	if got.Stream != stream {
		t.Errorf("event %s: stream = %q, want %q", want.ID, got.Stream, stream)
	}
	if got.StreamVersion != version {
		t.Errorf("event %s: stream version = %d, want %d", want.ID, got.StreamVersion, version)
	}
	if got.Position == es.Start {
		t.Errorf("event %s: position is the start of the log", want.ID)
	}
	if got.Type != want.Type {
		t.Errorf("event %s: type = %q, want %q", want.ID, got.Type, want.Type)
	}
	if !jsonEqual(got.Data, want.Data) {
		t.Errorf("event %s: data = %s, want %s", want.ID, got.Data, want.Data)
	}
	gm, wm := got.Metadata, want.Metadata
	if !gm.OccurredAt.Truncate(time.Microsecond).Equal(wm.OccurredAt.Truncate(time.Microsecond)) {
		t.Errorf("event %s: occurred at %s, want %s", want.ID, gm.OccurredAt, wm.OccurredAt)
	}
	if !isHash(gm.Hash) {
		t.Errorf("event %s: hash = %q, want 64 lowercase hex digits", want.ID, gm.Hash)
	}
	// The store sets the hash, whatever the caller put there; the audit
	// tests check its value.
	gm.OccurredAt, wm.OccurredAt = time.Time{}, time.Time{}
	gm.Hash, wm.Hash = "", ""
	if gm != wm {
		t.Errorf("event %s: metadata = %+v, want %+v", want.ID, gm, wm)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// checkLogOrder asserts what every reader of the global log relies on:
// positions strictly increase and each stream's versions come in order.
func checkLogOrder(t *testing.T, recs []es.Recorded) {
	t.Helper()
	last := map[string]int64{}
	for i, r := range recs {
		if i > 0 && !recs[i-1].Position.Less(r.Position) {
			t.Fatalf("log position %s at index %d does not come after %s", r.Position, i, recs[i-1].Position)
		}
		if r.StreamVersion <= last[r.Stream] {
			t.Fatalf("stream %s: version %d appears in the log after version %d", r.Stream, r.StreamVersion, last[r.Stream])
		}
		last[r.Stream] = r.StreamVersion
	}
}

func ids(recs []es.Recorded) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func wantConflict(t *testing.T, err error, what string, actual int64) {
	t.Helper()
	if !errors.Is(err, es.ErrConcurrency) {
		t.Fatalf("%s: err = %v, want one matching es.ErrConcurrency", what, err)
	}
	var ce *es.ConflictError
	if errors.As(err, &ce) && ce.Actual != actual {
		t.Errorf("%s: conflict reports actual version %d, want %d", what, ce.Actual, actual)
	}
}
