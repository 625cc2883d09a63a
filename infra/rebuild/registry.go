// Package rebuild is operator tooling over the read models: it replays the
// event log into projections (Replay), rebuilds the Postgres read models
// beside the live ones and switches them in at once (Postgres), and
// reports how far each projection has got (Status).
//
// The embedded (bbolt) gateway keeps its read models in memory and folds
// them from the log at every start, so it has nothing to rebuild: only the
// Postgres read models live on between starts.
package rebuild

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/agents"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	"github.com/sois-ai/chat-agent-gateway/projections/billing"
	"github.com/sois-ai/chat-agent-gateway/projections/contacts"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
	"github.com/sois-ai/chat-agent-gateway/projections/documents"
	"github.com/sois-ai/chat-agent-gateway/projections/emails"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
	"github.com/sois-ai/chat-agent-gateway/projections/mcpusage"
	"github.com/sois-ai/chat-agent-gateway/projections/org"
	"github.com/sois-ai/chat-agent-gateway/projections/tasks"
)

// ReadModel is one Postgres projection: its checkpoint name, the tables it
// alone writes (they move together when it is switched) and how to run it
// on a pool.
type ReadModel struct {
	Name   string
	Tables []string
	New    func(*pgxpool.Pool) projections.Projection
}

// ReadModels lists every Postgres read model, in the order the gateway
// runs them. A table that belongs to no entry here is not rebuilt; the
// package's tests check that every read-model table of the migrations is
// listed.
func ReadModels() []ReadModel {
	return []ReadModel{
		{identity.Name, []string{"workspaces", "members"}, func(p *pgxpool.Pool) projections.Projection { return identity.NewPostgres(p) }},
		{apikeys.Name, []string{"api_keys"}, func(p *pgxpool.Pool) projections.Projection { return apikeys.NewPostgres(p) }},
		{conversations.Name, []string{"conversations", "conversation_usage"}, func(p *pgxpool.Pool) projections.Projection { return conversations.NewPostgres(p) }},
		{contacts.Name, []string{"contacts"}, func(p *pgxpool.Pool) projections.Projection { return contacts.NewPostgres(p) }},
		{tasks.Name, []string{"tasks"}, func(p *pgxpool.Pool) projections.Projection { return tasks.NewPostgres(p) }},
		{documents.Name, []string{"documents"}, func(p *pgxpool.Pool) projections.Projection { return documents.NewPostgres(p) }},
		// team_members references teams: the three tables move together.
		{org.Name, []string{"departments", "teams", "team_members"}, func(p *pgxpool.Pool) projections.Projection { return org.NewPostgres(p) }},
		{emails.Name, []string{"emails"}, func(p *pgxpool.Pool) projections.Projection { return emails.NewPostgres(p) }},
		{billing.Name, []string{"billing_periods", "billing_reservations", "billing_charges"}, func(p *pgxpool.Pool) projections.Projection { return billing.NewPostgres(p) }},
		{mcpusage.Name, []string{"mcp_usage", "mcp_calls"}, func(p *pgxpool.Pool) projections.Projection { return mcpusage.NewPostgres(p) }},
		{agents.Name, []string{"agents"}, func(p *pgxpool.Pool) projections.Projection { return agents.NewPostgres(p) }},
	}
}

// Names lists the read models' names.
func Names() []string {
	var out []string
	for _, m := range ReadModels() {
		out = append(out, m.Name)
	}
	return out
}

// Select returns the named read models (all of them when names is empty),
// in registry order and without duplicates.
func Select(names []string) ([]ReadModel, error) {
	all := ReadModels()
	if len(names) == 0 {
		return all, nil
	}
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(all, func(m ReadModel) bool { return m.Name == n }) {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown read model %s; the read models are %s", strings.Join(unknown, ", "), strings.Join(Names(), ", "))
	}
	var out []ReadModel
	for _, m := range all {
		if slices.Contains(names, m.Name) {
			out = append(out, m)
		}
	}
	return out, nil
}
