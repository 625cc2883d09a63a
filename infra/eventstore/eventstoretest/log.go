package eventstoretest

import (
	"slices"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

func (s *suite) testReadAllPages(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	if page, err := st.ReadAll(ctx, es.Start, 10); err != nil || len(page) != 0 {
		t.Fatalf("read all on an empty store = %d events, %v; want none and no error", len(page), err)
	}
	if _, err := st.ReadAll(ctx, es.Start, 0); err == nil {
		t.Errorf("read all with limit 0 succeeded, want an error")
	}

	// Interleave streams and batch sizes so log order and stream order differ.
	want := map[string]bool{}
	versions := map[string]int64{}
	for i := range 12 {
		stream := []string{"a", "b", "c"}[i%3]
		evs := NewEvents("Happened", 1+i%3)
		mustAppend(t, ctx, st, stream, versions[stream], evs...)
		versions[stream] += int64(len(evs))
		for _, e := range evs {
			want[e.ID] = true
		}
	}
	all := readAllEventually(t, ctx, st, len(want))
	checkLogOrder(t, all)
	for _, r := range all {
		if !want[r.ID] {
			t.Fatalf("read all returned unknown event %s", r.ID)
		}
		delete(want, r.ID)
	}
	if len(want) != 0 {
		t.Fatalf("read all missed %d events", len(want))
	}

	// Paging by the last position seen yields the same log, page by page.
	paged := readAll(t, ctx, st, es.Start, 4)
	if !slices.Equal(ids(paged), ids(all)) {
		t.Fatalf("paging with limit 4 returned a different log than one big read")
	}
	for _, cut := range []int{0, 5, len(all) - 1} {
		rest, err := st.ReadAll(ctx, all[cut].Position, len(all))
		if err != nil {
			t.Fatalf("read all after %s: %v", all[cut].Position, err)
		}
		if !slices.Equal(ids(rest), ids(all[cut+1:])) {
			t.Errorf("read all after index %d returned %d events, want the %d after it", cut, len(rest), len(all)-cut-1)
		}
		if cut+1 < len(all) {
			// A subscriber that pages one event at a time must not skip
			// or repeat one.
			if page, err := st.ReadAll(ctx, all[cut].Position, 1); err != nil || len(page) != 1 || page[0].ID != all[cut+1].ID {
				t.Errorf("read all after index %d with limit 1 did not return exactly the next event (err %v)", cut, err)
			}
		}
	}
}

func (s *suite) testHead(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	head, err := st.Head(ctx)
	if err != nil || head != es.Start {
		t.Fatalf("head of an empty store = %s, %v; want %s", head, err, es.Start)
	}
	var last es.AppendResult
	for i := range 5 {
		last = mustAppend(t, ctx, st, "s", int64(i*2), NewEvents("Happened", 2)...)
	}
	all := readAllEventually(t, ctx, st, 10)
	head, err = st.Head(ctx)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if head != all[len(all)-1].Position {
		t.Errorf("head = %s, last event read = %s", head, all[len(all)-1].Position)
	}
	if head != last.Position {
		t.Errorf("head = %s, last append reported %s", head, last.Position)
	}
}

func (s *suite) testChanged(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	for i := range 3 {
		ch := st.Changed()
		select {
		case <-ch:
			t.Fatalf("changed channel is closed before any append")
		default:
		}
		mustAppend(t, ctx, st, "s", int64(i), NewEvent("Happened", i))
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("changed channel was not closed within 5s of append %d", i+1)
		}
	}
}

func (s *suite) testCheckpoints(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	pos, err := st.LoadCheckpoint(ctx, "unknown")
	if err != nil || pos != es.Start {
		t.Fatalf("load unknown checkpoint = %s, %v; want %s", pos, err, es.Start)
	}
	save := func(name string, p es.Position) {
		t.Helper()
		if err := st.SaveCheckpoint(ctx, name, p); err != nil {
			t.Fatalf("save checkpoint %s at %s: %v", name, p, err)
		}
	}
	load := func(name string, want es.Position) {
		t.Helper()
		got, err := st.LoadCheckpoint(ctx, name)
		if err != nil || got != want {
			t.Fatalf("load checkpoint %s = %s, %v; want %s", name, got, err, want)
		}
	}
	save("saga.billing", es.Position{Tx: 1 << 40, Seq: 42})
	save("projection.inbox", es.Position{Seq: 7})
	load("saga.billing", es.Position{Tx: 1 << 40, Seq: 42})
	load("projection.inbox", es.Position{Seq: 7})
	save("saga.billing", es.Position{Tx: 3, Seq: 1})
	load("saga.billing", es.Position{Tx: 3, Seq: 1})
	load("projection.inbox", es.Position{Seq: 7})
}
