package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/handlers/cli"
	httpapi "github.com/sois-ai/chat-agent-gateway/handlers/http"
	mcpserver "github.com/sois-ai/chat-agent-gateway/handlers/mcp"
	"github.com/sois-ai/chat-agent-gateway/handlers/sagas"
	"github.com/sois-ai/chat-agent-gateway/handlers/tools"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/leader"
	"github.com/sois-ai/chat-agent-gateway/infra/liveness"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/offline"
	"github.com/sois-ai/chat-agent-gateway/infra/messaging"
	"github.com/sois-ai/chat-agent-gateway/infra/metrics"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/relay"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
	"github.com/sois-ai/chat-agent-gateway/infra/tracing"
	"github.com/sois-ai/chat-agent-gateway/infra/webhook"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/agents"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	billingview "github.com/sois-ai/chat-agent-gateway/projections/billing"
	"github.com/sois-ai/chat-agent-gateway/projections/contacts"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
	"github.com/sois-ai/chat-agent-gateway/projections/documents"
	"github.com/sois-ai/chat-agent-gateway/projections/emails"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
	"github.com/sois-ai/chat-agent-gateway/projections/mcpusage"
	"github.com/sois-ai/chat-agent-gateway/projections/org"
	"github.com/sois-ai/chat-agent-gateway/projections/tasks"
)

// App is the whole gateway wired together: the only place that knows
// which adapter backs which port.
type App struct {
	cfg    Config
	logger *slog.Logger
	clock  commands.Clock

	Store eventstore.Store
	// Log is the event log as this process's readers (projections, sagas)
	// share it.
	Log  *projections.SharedLog
	wake *pg.Wakeups
	pool *pgxpool.Pool
	// live beats this instance's heartbeat (Postgres modes).
	live *liveness.Postgres
	// SQL counts the statements this process sends to Postgres.
	SQL    pg.Counter
	Runner *projections.Runner
	Bus    *messaging.Bus
	Cmds   *commands.Handler

	Identity      identity.Store
	Keys          apikeys.Store
	Conversations conversations.Store
	Contacts      contacts.Store
	Tasks         tasks.Store
	Documents     documents.Store
	Org           org.Store
	Emails        emails.Store
	Billing       billingview.Store
	McpUsage      mcpusage.Store
	Agents        agents.Store
	Endings       *conversations.Endings
	// Relay carries model steps' text to event streams as it is written.
	Relay interface {
		commands.Relay
		Subscribe(id string) (<-chan commands.Delta, func())
	}

	Handler http.Handler
	// ModelName and MailerName say which adapters run (for the start-up log).
	ModelName, MailerName string

	webhookClient *webhook.Client
	// Roles are the singleton roles this instance holds (see runRole).
	Roles leader.Roles
	// Metrics are what /metrics shows (see infra/metrics).
	Metrics *metrics.Metrics
	// Tracing exports spans over OTLP when configured (see infra/tracing).
	Tracing  *tracing.Tracing
	campaign *leader.Campaign

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Build connects the stores and wires every part, but starts nothing.
func Build(ctx context.Context, cfg Config, logger *slog.Logger, clock commands.Clock) (*App, error) {
	if clock == nil {
		clock = commands.SystemClock{}
	}
	a := &App{cfg: cfg, logger: logger, clock: clock}
	st, err := stores.Open(ctx, cfg.Stores(pg.Options{MaxConns: cfg.DBPool, Counter: &a.SQL}))
	if err != nil {
		return nil, err
	}
	a.pool, a.Store = st.Pool, st.Log
	// Read models: in memory (rebuilt from the log at start) without
	// Postgres, in its tables with it.
	if cfg.Embedded() {
		a.Identity, a.Keys, a.Conversations = identity.NewMemory(), apikeys.NewMemory(), conversations.NewMemory()
		a.Contacts, a.Tasks = contacts.NewMemory(), tasks.NewMemory()
		a.Documents, a.Org, a.Emails = documents.NewMemory(), org.NewMemory(), emails.NewMemory()
		a.Billing, a.McpUsage, a.Agents = billingview.NewMemory(), mcpusage.NewMemory(), agents.NewMemory()
	} else {
		pool := a.pool
		a.Identity, a.Keys, a.Conversations = identity.NewPostgres(pool), apikeys.NewPostgres(pool), conversations.NewPostgres(pool)
		a.Contacts, a.Tasks = contacts.NewPostgres(pool), tasks.NewPostgres(pool)
		a.Documents, a.Org, a.Emails = documents.NewPostgres(pool), org.NewPostgres(pool), emails.NewPostgres(pool)
		a.Billing, a.McpUsage, a.Agents = billingview.NewPostgres(pool), mcpusage.NewPostgres(pool), agents.NewPostgres(pool)
	}
	if pl := st.PgLog; pl != nil {
		// Tell the other instances of every append, and hear of theirs.
		a.wake = pg.NewWakeups(a.pool, logger)
		pl.OnAppend = func(p es.Position) { a.wake.Notify(eventsTopic, p.String()) }
		a.wake.OnRemote(eventsTopic, func(hint string) {
			if p, err := es.ParsePosition(hint); err == nil {
				pl.Observe(p)
			}
		})
	}
	if a.pool != nil && a.wake == nil {
		a.wake = pg.NewWakeups(a.pool, logger) // the command queue's wake-ups
	}
	a.Log = projections.Share(a.Store)
	// Commands: NATS JetStream when configured, else the Postgres queue,
	// else in-process channels.
	var transport messaging.Transport
	switch {
	case cfg.NATSURL != "":
		var err error
		// A model step may run for the whole model timeout; JetStream must
		// not hand it to another instance meanwhile.
		if transport, err = messaging.NATS(cfg.NATSURL, messaging.NATSOptions{AckWait: cfg.ModelCallBudget() + 2*time.Minute,
			Prefix: cfg.NATSPrefix, Workers: cfg.Workers}, logger); err != nil {
			a.Close()
			return nil, fmt.Errorf("NATS_URL: %w", err)
		}
	case cfg.Embedded():
		transport = messaging.GoChannel(logger)
	default:
		var err error
		if transport, err = messaging.Postgres(a.pool, messaging.PostgresOptions{Poll: queuePoll, Wake: a.wake}, logger); err != nil {
			a.Close()
			return nil, err
		}
	}
	sealer, err := cfg.Sealer(logger)
	if err != nil {
		a.Close()
		return nil, err
	}
	// Sync replies wait on conversation endings from here on.
	head, err := a.Log.Head(ctx)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Endings = conversations.NewEndings(head)
	a.Runner = projections.NewRunner(a.Log, projections.Options{Poll: cfg.Poll, Logger: logger},
		a.Identity, a.Keys, a.Conversations, a.Contacts, a.Tasks, a.Documents, a.Org, a.Emails, a.Billing, a.McpUsage, a.Agents, a.Endings)
	model, modelName, err := cfg.OpenModel()
	if err != nil {
		a.Close()
		return nil, err
	}
	mailer, mailerName, err := cfg.OpenMailer()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.ModelName, a.MailerName = modelName, mailerName
	modelName, maxOut := offline.Name, 1024
	if cfg.ModelConfigured {
		modelName = cfg.Model.Model
		if cfg.Model.MaxTokens > 0 {
			maxOut = cfg.Model.MaxTokens
		}
	}
	a.Cmds = &commands.Handler{Store: a.Store, Clock: clock, Sealer: sealer, Model: model, Mailer: mailer, MailFrom: cfg.MailFrom,
		Prices: cfg.Prices, ModelName: modelName, MaxOutputTokens: maxOut, HistoryTokens: cfg.HistoryTokens,
		Limits:       conversation.Limits{MaxSteps: cfg.MaxSteps, MaxToolCalls: cfg.MaxToolCalls, MaxDuration: cfg.MaxDuration},
		ModelTimeout: cfg.ModelTimeout, ModelCallBudget: cfg.ModelCallBudget(), Logger: logger}
	a.Endings.OnEnd = a.Cmds.ConversationEnded
	a.Metrics = metrics.New()
	if a.Tracing, err = tracing.New(ctx, cfg.Tracing); err != nil {
		a.Close()
		return nil, err
	}
	a.Cmds.Tracer = a.Tracing.Tracer
	a.Cmds.Observe = a.Metrics
	a.Metrics.Lags(a.lags)
	a.Metrics.Roles(a.Roles.Held, a.Roles.Waiting)
	// This process's life has an id of its own: what it claims names it,
	// and once it is gone another instance takes the work at once.
	a.Cmds.Instance = liveness.NewID()
	if a.pool != nil {
		a.live = &liveness.Postgres{Pool: a.pool, Self: a.Cmds.Instance}
		a.Cmds.Liveness = a.live
	} else {
		a.Cmds.Liveness = liveness.Local{Self: a.Cmds.Instance}
	}
	if a.wake != nil {
		a.Relay = relay.NewShared(a.wake)
	} else {
		a.Relay = relay.NewLocal()
	}
	a.Cmds.Relay = a.Relay
	catalog := tools.New(tools.Deps{Commands: a.Cmds, Contacts: a.Contacts, Tasks: a.Tasks, Documents: a.Documents,
		Org: a.Org, Emails: a.Emails, Identity: a.Identity, Sync: a.Runner, Logger: logger})
	a.Cmds.Tools = catalog
	a.webhookClient = webhook.New(webhook.Options{Timeout: cfg.WebhookTimeout, AllowPrivate: cfg.WebhookAllowPrivate})
	a.Cmds.Webhook = webhook.Sender{Client: a.webhookClient}
	a.Cmds.Webhooks = webhook.Policy(cfg.WebhookSchedule, cfg.WebhookTimeout)
	a.Cmds.Webhooks.PerHost = cfg.WebhookPerHost

	if a.Bus, err = messaging.New(transport, messaging.Options{Workers: cfg.Workers, Logger: logger, Tracer: a.Tracing.Tracer}); err != nil {
		a.Close()
		return nil, err
	}
	if err := errors.Join(
		// Model steps and tool calls share the workers, running
		// conversations first (see messaging.HandleInGroup).
		messaging.HandleInGroup(a.Bus, "RunModelStep", "agent", false, func(ctx context.Context, c *commands.RunModelStep) error {
			return a.Cmds.RunModelStep(ctx, *c)
		}),
		messaging.HandleInGroup(a.Bus, "ExecuteToolCall", "agent", false, func(ctx context.Context, c *commands.ExecuteToolCall) error {
			return a.Cmds.ExecuteToolCall(ctx, *c)
		}),
		messaging.HandleInGroup(a.Bus, "StartConversation", "agent", true, func(ctx context.Context, c *commands.StartConversation) error {
			return a.Cmds.StartConversation(ctx, *c)
		}),
		messaging.Handle(a.Bus, "SettleConversation", func(ctx context.Context, c *commands.SettleConversation) error {
			return a.Cmds.SettleConversation(ctx, *c)
		}),
		messaging.Handle(a.Bus, "SettleMcpCall", func(ctx context.Context, c *commands.SettleMcpCall) error {
			return a.Cmds.SettleMcpCall(ctx, *c)
		}),
		messaging.HandleWithWorkers(a.Bus, "AttemptWebhookDelivery", cfg.WebhookWorkers,
			func(ctx context.Context, c *commands.AttemptWebhookDelivery) error {
				return a.Cmds.AttemptWebhookDelivery(ctx, *c)
			}),
	); err != nil {
		a.Close()
		return nil, err
	}
	a.Handler = httpapi.New(httpapi.Deps{
		Commands: a.Cmds, Identity: a.Identity, Keys: a.Keys, Conversations: a.Conversations, Org: a.Org, Billing: a.Billing,
		Documents: a.Documents, Agents: a.Agents, Projections: a.Runner, Endings: a.Endings, Relay: a.Relay, Clock: clock, Ready: a.ready, AdminToken: cfg.AdminToken, Logger: logger, WriteWait: cfg.WriteWait, KeepAlive: cfg.KeepAlive,
		Metrics: a.Metrics, MetricsHandler: a.metricsOnMain(cfg), Tracer: a.httpTracer(),
		WebhookRefusal: a.webhookClient.Refusal, McpUsage: a.McpUsage, Cursors: sealer,
		MCP: mcpserver.New(mcpserver.Deps{Commands: a.Cmds, Catalog: catalog, Version: cli.Version(release), Logger: logger}),
	})
	return a, nil
}

// departures tells the reaper of instances that stopped (nil when this
// process works alone).
func (a *App) departures() interface {
	Departed(ctx context.Context) ([]string, error)
} {
	if a.live == nil {
		return nil
	}
	return a.live
}

// metricsOnMain is /metrics on the API's listener, unless
// GATEWAY_METRICS_ADDR gives it one of its own (see serve).
func (a *App) metricsOnMain(cfg Config) http.Handler {
	if cfg.MetricsAddr != "" {
		return nil
	}
	return a.Metrics.Handler()
}

// lags is how many events of the log each projection and saga of this
// gateway has still to apply, for gateway_subscription_lag_events.
func (a *App) lags(ctx context.Context) (map[string]int64, error) {
	head, err := a.Log.Head(ctx)
	if err != nil {
		return nil, err
	}
	behind := func(p es.Position) int64 {
		if head.Seq > p.Seq {
			return int64(head.Seq - p.Seq)
		}
		return 0
	}
	out := map[string]int64{}
	for _, s := range a.Runner.Statuses() {
		out["projection."+s.Name] = behind(s.Position)
	}
	for _, name := range []string{sagas.AgentLoopName, sagas.WebhooksName, sagas.BillingName} {
		cp, err := a.Store.LoadCheckpoint(ctx, name)
		if err != nil {
			return nil, err
		}
		out[name] = behind(cp)
	}
	return out, nil
}

// httpTracer is the tracer of HTTP requests: none while tracing is off, so
// requests pay nothing for it.
func (a *App) httpTracer() trace.Tracer {
	if !a.Tracing.On() {
		return nil
	}
	return a.Tracing.Tracer
}
