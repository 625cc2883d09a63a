package commands

import (
	"context"
	"fmt"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// A key may name the tools it allows (apikey.Settings.Tools): over MCP,
// and in the conversations it opens, where the model is offered only
// those and any other it names is refused with a result it reads.

// allows reports whether the keys may all use the tool: the conversation's
// key and the key its latest turn came with. It decides on the keys as
// their streams hold them now (a read of what came since the cached fold),
// so a scope narrowed a moment ago already holds.
func (h *Handler) allows(ctx context.Context, tool string, keyIDs ...string) (bool, error) {
	for _, id := range keyIDs {
		k, _, err := h.refreshKey(ctx, id)
		if err != nil {
			return false, err
		}
		if !k.Settings.Allows(tool) {
			return false, nil
		}
	}
	return true, nil
}

// scoped keeps the specs all the keys allow.
func (h *Handler) scoped(ctx context.Context, specs []agent.ToolSpec, keyIDs ...string) ([]agent.ToolSpec, error) {
	for _, id := range keyIDs {
		k, _, err := h.refreshKey(ctx, id)
		if err != nil {
			return nil, err
		}
		if k.Settings.Tools == nil {
			continue
		}
		out := make([]agent.ToolSpec, 0, len(specs))
		for _, s := range specs {
			if k.Settings.Allows(s.Name) {
				out = append(out, s)
			}
		}
		specs = out
	}
	return specs, nil
}

// notAllowed says why a call of a tool outside the key's scope was refused.
func notAllowed(tool string) string {
	return fmt.Sprintf("This API key does not allow the tool %s; nothing was done. Its owner can add it to the key's tools.", tool)
}
