package conversations

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"
)

// A watch hears of its conversation's ending once, not of another's, not of
// a step, and not after it stopped; events before the start are skipped.
func TestEndingsTellWaitersOnce(t *testing.T) {
	var l projectiontest.Log
	x := ids{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
	before := l.Rec(t, conversation.Stream(a), 1, x.opened(a, t0))
	e := NewEndings(before.Position)
	var ended []string
	e.OnEnd = func(id string) { ended = append(ended, id) }
	endA, stopA := e.Watch(a)
	defer stopA()
	endB, stopB := e.Watch(b)
	endC, stopC := e.Watch(c)
	stopC()

	stepA := l.Rec(t, conversation.Stream(a), 2, modelStep(1, 10, 5, 0))
	resolvedA := l.Rec(t, conversation.Stream(a), 3, &conversation.Resolved{Reply: "done", ResolvedAt: t0})
	failedC := l.Rec(t, conversation.Stream(c), 2, &conversation.Failed{Code: "STEP_LIMIT", Reason: "stopped", FailedAt: t0})
	if err := e.Apply(context.Background(), []es.Recorded{before, stepA, resolvedA, failedC}); err != nil {
		t.Fatal(err)
	}
	select {
	case pos := <-endA:
		if pos != resolvedA.Position {
			t.Errorf("ending at %v, want %v", pos, resolvedA.Position)
		}
	default:
		t.Fatal("the waiter of a resolved conversation heard nothing")
	}
	if len(endB) != 0 || len(endC) != 0 {
		t.Error("a waiter heard of another conversation's ending, or after it stopped")
	}
	if !reflect.DeepEqual(ended, []string{a, c}) {
		t.Errorf("OnEnd heard %v, want the endings of %s and %s", ended, a, c)
	}
	if cp, _ := e.Checkpoint(context.Background()); cp != failedC.Position {
		t.Errorf("checkpoint = %v, want %v", cp, failedC.Position)
	}
	// A replayed batch tells nobody again.
	endA2, stopA2 := e.Watch(a)
	defer stopA2()
	if err := e.Apply(context.Background(), []es.Recorded{resolvedA}); err != nil || len(endA2) != 0 {
		t.Errorf("a replayed ending was told again (%v)", err)
	}
	stopB()
	if len(e.waiters) != 1 {
		t.Errorf("%d conversations still watched, want 1", len(e.waiters))
	}
}
