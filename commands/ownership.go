package commands

import "context"

// Liveness tells whether a gateway instance is still at work: a model
// step claimed by an instance that is gone is taken over at once rather
// than after the claim's lease, so a crashed or killed instance leaves a
// hole of seconds, not minutes.
type Liveness interface {
	Alive(ctx context.Context, instance string) (bool, error)
}

// alive is the liveness check the claims use. This instance is alive; an
// owner whose state cannot be read counts as alive, so a database hiccup
// never makes two instances call the model for the same step.
func (h *Handler) alive(ctx context.Context) func(owner string) bool {
	return func(owner string) bool {
		if owner == h.Instance || h.Liveness == nil {
			return true
		}
		ok, err := h.Liveness.Alive(ctx, owner)
		if err != nil {
			h.logger().Warn("could not tell whether an instance is alive; leaving its claim alone", "instance", owner, "err", err)
			return true
		}
		return ok
	}
}

// Orphaned reports whether a conversation waits on a model step that an
// instance no longer alive claimed: the reaper resumes such a conversation
// at once instead of after GATEWAY_STALL_AFTER.
func (h *Handler) Orphaned(ctx context.Context, conversationID string) (bool, error) {
	c, _, err := h.loadConversation(ctx, conversationID)
	if err != nil {
		return false, err
	}
	if c.Status.Terminal() || c.InFlight == 0 || c.InFlightOwner == "" || c.Next().ModelStep != c.InFlight {
		return false, nil
	}
	return !c.ClaimHeld(c.InFlight, h.stepLease(), h.now(), h.alive(ctx)), nil
}
