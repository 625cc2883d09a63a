package conversation_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es/estest"
)

// A model step's claim holds while its owner is alive and the lease runs;
// a claim whose owner is gone is taken over at once, and a claim from
// before owners were recorded holds for its whole lease.
func TestClaimOwnership(t *testing.T) {
	const lease = time.Minute
	aliveOnly := func(names ...string) func(string) bool {
		return func(o string) bool {
			for _, n := range names {
				if n == o {
					return true
				}
			}
			return false
		}
	}
	claimedBy := func(owner string) *conversation.Conversation {
		return estest.Given[conversation.Conversation](opened(), &conversation.ModelStepStarted{Step: 1, StartedAt: at(1), Owner: owner})
	}

	// First claim: it names its owner.
	fresh := estest.Given[conversation.Conversation](opened())
	facts, err := fresh.ClaimModelStep(1, lease, at(2), "i-1", aliveOnly("i-1"))
	estest.ThenFacts(t, facts, err, &conversation.ModelStepStarted{Step: 1, StartedAt: at(2), Owner: "i-1"})

	// Its owner alive, within the lease: held, by others and by itself.
	for _, who := range []string{"i-2", "i-1"} {
		if _, err := claimedBy("i-1").ClaimModelStep(1, lease, at(10*time.Second), who, aliveOnly("i-1", "i-2")); !errors.Is(err, conversation.ErrNothingToDo) {
			t.Errorf("%s took a claim held by a live owner: %v", who, err)
		}
	}
	// Its owner gone: taken over at once, long before the lease ends.
	facts, err = claimedBy("i-1").ClaimModelStep(1, lease, at(2*time.Second), "i-2", aliveOnly("i-2"))
	estest.ThenFacts(t, facts, err, &conversation.ModelStepStarted{Step: 1, StartedAt: at(2 * time.Second), Owner: "i-2"})
	// The lease still bounds a live but hung owner.
	if _, err := claimedBy("i-1").ClaimModelStep(1, lease, at(2*time.Minute), "i-2", aliveOnly("i-1", "i-2")); err != nil {
		t.Errorf("a claim past its lease was not taken: %v", err)
	}
	// A claim that names no owner holds for its lease, whoever asks.
	if _, err := claimedBy("").ClaimModelStep(1, lease, at(10*time.Second), "i-2", aliveOnly("i-2")); !errors.Is(err, conversation.ErrNothingToDo) {
		t.Errorf("an ownerless claim was taken within its lease: %v", err)
	}
	if c := claimedBy("i-1"); c.ClaimHeld(1, lease, at(10*time.Second), aliveOnly()) || !c.ClaimHeld(1, lease, at(10*time.Second), nil) {
		t.Errorf("ClaimHeld: a gone owner holds, or a nil liveness does not")
	}
}
