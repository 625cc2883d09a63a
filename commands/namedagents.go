package commands

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/namedagent"
)

// CreateAgent records a named agent under its slug; a slug in use in the
// workspace is namedagent.ErrExists, decided on the slug's own stream
// (its id derives from workspace and slug), so two creations racing for
// one slug meet in the store's version check.
func (h *Handler) CreateAgent(ctx context.Context, workspaceID, slug string, c namedagent.Config, cause Cause) (namedagent.Agent, es.Position, error) {
	return decide(ctx, h, namedagent.Stream(namedagent.ID(workspaceID, slug)), namedagent.Events, cause.meta(),
		func(a *namedagent.Agent, _ []es.Recorded) ([]es.Fact, error) {
			return a.Create(workspaceID, slug, c, cause.Actor.ID, h.now())
		})
}

// UpdateAgent replaces an agent's configuration with what change makes
// of the current one (a partial update decided on the latest facts); an
// error from change appends nothing and is returned as it is.
func (h *Handler) UpdateAgent(ctx context.Context, workspaceID, slug string, change func(namedagent.Config) (namedagent.Config, error), cause Cause) (namedagent.Agent, es.Position, error) {
	return decide(ctx, h, namedagent.Stream(namedagent.ID(workspaceID, slug)), namedagent.Events, cause.meta(),
		func(a *namedagent.Agent, _ []es.Recorded) ([]es.Fact, error) {
			if !a.Exists() || a.WorkspaceID != workspaceID {
				return nil, namedagent.ErrNotFound
			}
			next, err := change(a.Config)
			if err != nil {
				return nil, err
			}
			return a.Update(workspaceID, next, cause.Actor.ID, h.now())
		})
}

// DeleteAgent ends an agent; its slug may be used again.
func (h *Handler) DeleteAgent(ctx context.Context, workspaceID, slug string, cause Cause) (es.Position, error) {
	_, pos, err := decide(ctx, h, namedagent.Stream(namedagent.ID(workspaceID, slug)), namedagent.Events, cause.meta(),
		func(a *namedagent.Agent, _ []es.Recorded) ([]es.Fact, error) {
			return a.Delete(workspaceID, cause.Actor.ID, h.now())
		})
	return pos, err
}

// Agent folds the agent of a slug from its facts: what a new conversation
// runs with is decided on the agent's own events, never on a read model.
func (h *Handler) Agent(ctx context.Context, workspaceID, slug string) (namedagent.Agent, error) {
	if namedagent.ValidSlug(slug) != nil {
		return namedagent.Agent{}, namedagent.ErrNotFound
	}
	return found(ctx, h, namedagent.Stream(namedagent.ID(workspaceID, slug)), namedagent.Events, namedagent.ErrNotFound,
		func(a *namedagent.Agent) bool { return a.Exists() && a.WorkspaceID == workspaceID })
}
