package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/eventstoretest"
)

// readAllEventually reads the whole log until it holds want events; other
// tests' transactions on the same server can delay the horizon briefly.
func readAllEventually(t *testing.T, ctx context.Context, st *Store, want int) []es.Recorded {
	t.Helper()
	for {
		recs, err := st.ReadAll(ctx, es.Start, 100)
		if err != nil {
			t.Fatalf("read all: %v", err)
		}
		if len(recs) >= want {
			return recs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("read all returns %d of %d events", len(recs), want)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// The hole this adapter exists to avoid, built on purpose: a slow
// transaction takes a position, a fast one takes a later position and
// commits first. A reader that checkpoints global_position alone moves past
// the slow event before it exists and never sees it. ReadAll must not.
func TestNaiveReaderMissesASlowCommitButReadAllDoesNot(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, _ := newStore(t)

	slowEv := eventstoretest.NewEvent("SlowlyCommitted", 1)
	placed, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := st.append(ctx, "slow", es.NoStream, []es.Event{slowEv}, hooks{beforeCommit: func(ctx context.Context) error {
			close(placed)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}})
		done <- err
	}()
	select {
	case <-placed:
	case err := <-done:
		t.Fatalf("slow append ended early: %v", err)
	}
	fastEv := eventstoretest.NewEvent("QuicklyCommitted", 2)
	if _, err := st.Append(ctx, "fast", es.NoStream, fastEv); err != nil {
		t.Fatalf("fast append: %v", err)
	}

	naive := func(after int64) (ids []string, last int64) {
		rows, err := st.pool.Query(ctx, `SELECT event_id::text, global_position FROM events WHERE global_position > $1 ORDER BY global_position`, after)
		if err != nil {
			t.Fatalf("naive read: %v", err)
		}
		last = after
		var id string
		var pos int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &pos}, func() error {
			ids, last = append(ids, id), pos
			return nil
		}); err != nil {
			t.Fatalf("naive read: %v", err)
		}
		return ids, last
	}
	naiveSeen, naiveCheckpoint := naive(0)
	if !slices.Equal(naiveSeen, []string{fastEv.ID}) {
		t.Fatalf("naive reader saw %v while the slow append was open, want only the fast event", naiveSeen)
	}
	ours, err := st.ReadAll(ctx, es.Start, 100)
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	if len(ours) != 0 {
		t.Fatalf("read all returned %d events while an older transaction was open, want none", len(ours))
	}

	close(release)
	if err := <-done; err != nil {
		t.Fatalf("slow append: %v", err)
	}
	if more, _ := naive(naiveCheckpoint); len(more) != 0 {
		t.Fatalf("naive reader unexpectedly caught up with %v: the slow event did not take the earlier position", more)
	}
	t.Logf("naive reader checkpointed at position %d and never sees slow event %s", naiveCheckpoint, slowEv.ID)

	all := readAllEventually(t, ctx, st, 2)
	if got := []string{all[0].ID, all[1].ID}; !slices.Equal(got, []string{slowEv.ID, fastEv.ID}) || len(all) != 2 {
		t.Fatalf("read all = %v, want the slow event then the fast one", got)
	}
	if all[0].Position.Seq >= all[1].Position.Seq {
		t.Fatalf("slow event has position %s, fast %s: the test did not build the hole", all[0].Position, all[1].Position)
	}
}

// A transaction that took its id before the stream's last writer must not
// append after it: its events would sort before that writer's in the log
// although their versions are higher. The append retries with a new id.
func TestAppendWithAnOlderTransactionIDRetries(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, _ := newStore(t)
	if _, err := st.Append(ctx, "s", es.NoStream, eventstoretest.NewEvent("First", 1)); err != nil {
		t.Fatalf("append: %v", err)
	}

	var (
		attempts int
		once     sync.Once
	)
	older := eventstoretest.NewEvent("FromOlderTransaction", 3)
	_, err := st.append(ctx, "s", es.AnyVersion, []es.Event{older}, hooks{afterBegin: func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		// Take a transaction id now, then let a newer transaction append
		// to the stream and commit before this one touches it.
		if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
			return err
		}
		var err error
		once.Do(func() {
			_, err = st.Append(ctx, "s", 1, eventstoretest.NewEvent("FromNewerTransaction", 2))
		})
		return err
	}})
	if err != nil {
		t.Fatalf("append from the older transaction: %v", err)
	}
	if attempts != 2 {
		t.Errorf("append took %d attempts, want 2 (one rejected as stale, one retry)", attempts)
	}
	all := readAllEventually(t, ctx, st, 3)
	var versions []int64
	for _, r := range all {
		versions = append(versions, r.StreamVersion)
	}
	if !slices.Equal(versions, []int64{1, 2, 3}) {
		t.Fatalf("stream versions in log order = %v, want [1 2 3]", versions)
	}
	if all[2].ID != older.ID {
		t.Errorf("the retried event is not last in the log")
	}
}
