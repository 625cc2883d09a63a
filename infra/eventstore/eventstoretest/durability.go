package eventstoretest

import (
	"errors"
	"slices"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
)

// testSurvivesReopen checks that what a store acknowledged is still there
// after a restart: events, stream versions, the event-id index, the global
// counter and checkpoints.
func (s *suite) testSurvivesReopen(t *testing.T) {
	ctx := testContext(t)
	st := s.newStore(t)
	t.Cleanup(func() { _ = st.Close() }) // whichever store is current at the end

	streams := map[string][]es.Event{
		"conversation-1": NewEvents("MessageSent", 3),
		"conversation-2": NewEvents("MessageSent", 2),
		"billing":        NewEvents("Charged", 1),
	}
	for stream, evs := range streams {
		mustAppend(t, ctx, st, stream, es.NoStream, evs...)
	}
	before := readAllEventually(t, ctx, st, 6)
	head, err := st.Head(ctx)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	cp := before[2].Position
	if err := st.SaveCheckpoint(ctx, "saga.billing", cp); err != nil {
		t.Fatalf("save checkpoint: %v", err)
	}

	st = s.cfg.reopen(t, st)

	after := readAllEventually(t, ctx, st, 6)
	if !slices.EqualFunc(before, after, func(a, b es.Recorded) bool {
		return a.ID == b.ID && a.Position == b.Position && a.Stream == b.Stream && a.StreamVersion == b.StreamVersion
	}) {
		t.Fatalf("the log changed across a reopen")
	}
	for stream, evs := range streams {
		recs := mustReadStream(t, ctx, st, stream, 0)
		if len(recs) != len(evs) {
			t.Fatalf("%s has %d events after reopen, want %d", stream, len(recs), len(evs))
		}
		for i, r := range recs {
			checkRecorded(t, r, evs[i], stream, int64(i+1))
		}
	}
	if got, err := st.Head(ctx); err != nil || got != head {
		t.Errorf("head after reopen = %s, %v; want %s", got, err, head)
	}
	if got, err := st.LoadCheckpoint(ctx, "saga.billing"); err != nil || got != cp {
		t.Errorf("checkpoint after reopen = %s, %v; want %s", got, err, cp)
	}

	// The store carries on where it was: versions, ids and positions.
	_, err = st.Append(ctx, "conversation-1", 2, NewEvent("MessageSent", 9))
	wantConflict(t, err, "stale version after reopen", 3)
	_, err = st.Append(ctx, "new", es.NoStream, streams["billing"][0])
	if !errors.Is(err, eventstore.ErrDuplicateEvent) {
		t.Errorf("re-appending a stored event after reopen: err = %v, want eventstore.ErrDuplicateEvent", err)
	}
	res := mustAppend(t, ctx, st, "conversation-1", 3, NewEvent("MessageSent", 4))
	if res.Version != 4 || !head.Less(res.Position) {
		t.Errorf("append after reopen landed at version %d position %s; want 4, after %s", res.Version, res.Position, head)
	}
}
