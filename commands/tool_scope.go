package commands

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// A key may name the tools it allows (apikey.Settings.Tools): over MCP,
// and in the conversations it opens, where the model is offered only
// those and any other it names is refused with a result it reads.

// allows reports whether the key may use the tool, on its cached fold.
func (h *Handler) allows(ctx context.Context, keyID, tool string) (bool, error) {
	k, _, err := h.key(ctx, keyID)
	if err != nil {
		return false, err
	}
	return k.Settings.Allows(tool), nil
}

// scoped keeps the specs the key allows.
func (h *Handler) scoped(ctx context.Context, keyID string, specs []agent.ToolSpec) ([]agent.ToolSpec, error) {
	k, _, err := h.key(ctx, keyID)
	if err != nil || k.Settings.Tools == nil {
		return specs, err
	}
	out := make([]agent.ToolSpec, 0, len(specs))
	for _, s := range specs {
		if k.Settings.Allows(s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}

// notAllowedResult is what a refused call returns.
func notAllowedResult(tool string) string {
	b, _ := json.Marshal(map[string]string{"error": fmt.Sprintf(
		"This API key does not allow the tool %s; nothing was done. Its owner can add it to the key's tools.", tool)})
	return string(b)
}
