package projections

import (
	"context"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// countingLog is a growing log that counts the reads that reach it.
type countingLog struct {
	events []es.Recorded
	reads  int
}

func (l *countingLog) ReadAll(_ context.Context, after es.Position, limit int) ([]es.Recorded, error) {
	l.reads++
	var out []es.Recorded
	for _, e := range l.events {
		if after.Less(e.Position) && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}
func (l *countingLog) Head(context.Context) (es.Position, error) { return es.Position{}, nil }
func (l *countingLog) Changed() <-chan struct{}                  { return nil }
func (l *countingLog) Known() es.Position                        { return es.Position{} }

func (l *countingLog) grow(n int) {
	for range n {
		l.events = append(l.events, es.Recorded{Position: es.Position{Tx: uint64(len(l.events) + 1), Seq: 1}})
	}
}

// A reader that fell behind catches up from what the readers ahead of it
// read, without reading the log again, and in batches as big as a read of
// its own would have given it: small batches would cost a transaction each.
func TestSharedLogServesLaggingReadersWholeBatches(t *testing.T) {
	ctx := context.Background()
	log := &countingLog{}
	shared := Share(log)
	lead := es.Start
	for range 10 { // the leading reader follows the log as it grows by 5
		log.grow(5)
		got, err := shared.ReadAll(ctx, lead, 100)
		if err != nil || len(got) != 5 {
			t.Fatalf("leading read: %d events, %v", len(got), err)
		}
		lead = got[len(got)-1].Position
	}
	if log.reads != 10 {
		t.Fatalf("the leading reader read the log %d times, want 10", log.reads)
	}
	got, err := shared.ReadAll(ctx, es.Position{Tx: 3, Seq: 1}, 20)
	if err != nil {
		t.Fatal(err)
	}
	if log.reads != 10 {
		t.Errorf("the lagging reader read the log itself (%d reads)", log.reads)
	}
	if len(got) != 20 {
		t.Fatalf("the lagging reader got %d events, want a whole batch of 20", len(got))
	}
	for i, e := range got {
		if want := uint64(4 + i); e.Position.Tx != want {
			t.Fatalf("event %d is at %d, want %d", i, e.Position.Tx, want)
		}
	}
	// At the end of what was read, a reader reads the log again.
	if got, _ := shared.ReadAll(ctx, lead, 20); len(got) != 0 || log.reads != 11 {
		t.Errorf("at the head: %d events after %d reads, want none after 11", len(got), log.reads)
	}
}
