package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	httpapi "github.com/sois-ai/chat-agent-gateway/handlers/http"
	"github.com/sois-ai/chat-agent-gateway/handlers/sagas"
	"github.com/sois-ai/chat-agent-gateway/handlers/tools"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/leader"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/offline"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/openai"
	"github.com/sois-ai/chat-agent-gateway/infra/mail"
	"github.com/sois-ai/chat-agent-gateway/infra/messaging"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/secrets"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
	"github.com/sois-ai/chat-agent-gateway/infra/webhook"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	billingview "github.com/sois-ai/chat-agent-gateway/projections/billing"
	"github.com/sois-ai/chat-agent-gateway/projections/contacts"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
	"github.com/sois-ai/chat-agent-gateway/projections/documents"
	"github.com/sois-ai/chat-agent-gateway/projections/emails"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
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

	Handler http.Handler
	// ModelName and MailerName say which adapters run (for the start-up log).
	ModelName, MailerName string

	webhookClient *webhook.Client
	// Roles are the singleton roles this instance holds (see runRole).
	Roles    leader.Roles
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
	st, err := stores.Open(ctx, cfg.stores(pg.Options{MaxConns: cfg.DBPool, Counter: &a.SQL}))
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
		a.Billing = billingview.NewMemory()
	} else {
		pool := a.pool
		a.Identity, a.Keys, a.Conversations = identity.NewPostgres(pool), apikeys.NewPostgres(pool), conversations.NewPostgres(pool)
		a.Contacts, a.Tasks = contacts.NewPostgres(pool), tasks.NewPostgres(pool)
		a.Documents, a.Org, a.Emails = documents.NewPostgres(pool), org.NewPostgres(pool), emails.NewPostgres(pool)
		a.Billing = billingview.NewPostgres(pool)
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
		if transport, err = messaging.NATS(cfg.NATSURL, messaging.NATSOptions{AckWait: cfg.ModelTimeout + 2*time.Minute,
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
	sealer, err := a.sealer()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Runner = projections.NewRunner(a.Log, projections.Options{Poll: cfg.Poll, Logger: logger},
		a.Identity, a.Keys, a.Conversations, a.Contacts, a.Tasks, a.Documents, a.Org, a.Emails, a.Billing)
	model, err := a.model()
	if err != nil {
		a.Close()
		return nil, err
	}
	mailer, err := a.mailer()
	if err != nil {
		a.Close()
		return nil, err
	}
	modelName, maxOut := offline.Name, 1024
	if cfg.ModelConfigured {
		modelName = cfg.Model.Model
		if cfg.Model.MaxTokens > 0 {
			maxOut = cfg.Model.MaxTokens
		}
	}
	a.Cmds = &commands.Handler{Store: a.Store, Clock: clock, Sealer: sealer, Model: model, Mailer: mailer, MailFrom: cfg.MailFrom,
		Prices: cfg.Prices, ModelName: modelName, MaxOutputTokens: maxOut,
		Limits:       conversation.Limits{MaxSteps: cfg.MaxSteps, MaxToolCalls: cfg.MaxToolCalls, MaxDuration: cfg.MaxDuration},
		ModelTimeout: cfg.ModelTimeout, Logger: logger}
	a.Cmds.Tools = tools.New(tools.Deps{Commands: a.Cmds, Contacts: a.Contacts, Tasks: a.Tasks, Documents: a.Documents,
		Org: a.Org, Emails: a.Emails, Identity: a.Identity, Sync: a.Runner, Logger: logger})
	a.webhookClient = webhook.New(webhook.Options{Timeout: cfg.WebhookTimeout, AllowPrivate: cfg.WebhookAllowPrivate})
	a.Cmds.Webhook = webhook.Sender{Client: a.webhookClient}
	a.Cmds.Webhooks = webhook.Policy(cfg.WebhookSchedule, cfg.WebhookTimeout)
	a.Cmds.Webhooks.PerHost = cfg.WebhookPerHost

	if a.Bus, err = messaging.New(transport, messaging.Options{Workers: cfg.Workers, Logger: logger}); err != nil {
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
		Projections: a.Runner, Clock: clock, Ready: a.ready, AdminToken: cfg.AdminToken, Logger: logger, WriteWait: cfg.WriteWait,
		WebhookRefusal: a.webhookClient.Refusal,
	})
	return a, nil
}

// model picks the OpenAI-compatible endpoint when one is configured, the
// offline model otherwise.
func (a *App) model() (commands.Model, error) {
	if !a.cfg.ModelConfigured {
		a.ModelName = offline.Name
		return offline.New(), nil
	}
	m, err := openai.New(a.cfg.Model)
	if err != nil {
		return nil, err
	}
	a.ModelName = m.Name() + " at " + a.cfg.Model.BaseURL
	return m, nil
}

func (a *App) mailer() (commands.Mailer, error) {
	if a.cfg.SMTPURL == "" {
		a.MailerName = mail.TransportOutbox
		return mail.Port{Mailer: mail.Outbox{From: a.cfg.MailFrom}}, nil
	}
	m, err := mail.FromURL(a.cfg.SMTPURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	a.MailerName = m.String()
	return mail.Port{Mailer: m}, nil
}

func (a *App) sealer() (*secrets.Sealer, error) {
	var key []byte
	var err error
	if a.cfg.SecretKey != "" {
		key, err = secrets.ParseKey(a.cfg.SecretKey)
	} else {
		path := filepath.Join(a.cfg.DataDir, "secret.key")
		var created bool
		key, created, err = secrets.LoadOrCreateKeyFile(path)
		if created {
			a.logger.Info("generated a server key for sealing signing secrets", "path", path)
		}
		if !a.cfg.Embedded() && err == nil {
			a.logger.Warn("GATEWAY_SECRET_KEY is not set: using the key file in the data dir; every instance sharing the database needs the same key")
		}
	}
	if err != nil {
		return nil, err
	}
	return secrets.New(key)
}

// Start brings the read models up to date, then starts the projections,
// the command handlers, the agent loop saga and the reaper.
func (a *App) Start(ctx context.Context) error {
	began := time.Now()
	if err := a.Runner.CatchUp(ctx); err != nil {
		return err
	}
	a.logger.Info("read models are up to date", "took", time.Since(began).Round(time.Millisecond))
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if a.wake != nil {
		a.goRun(func() { a.wake.Run(ctx) })
	}
	a.goRun(func() { a.Log.RunPulse(ctx, a.cfg.Poll) })
	a.goRun(func() { a.Runner.Run(ctx) })
	if !a.cfg.Background {
		// An API-only instance: it answers requests and keeps its read
		// models, and leaves the agent's work to the other instances.
		a.logger.Info("background work is off (GATEWAY_BACKGROUND=false): no command handlers, sagas or reaper here")
		return nil
	}
	a.goRun(func() {
		if err := a.Bus.Run(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("command bus stopped", "err", err)
		}
	})
	select {
	case <-a.Bus.Running():
	case <-time.After(30 * time.Second):
		return errors.New("the command bus did not start within 30s")
	}
	sagaLog := sagaLog{a.Log, a.Store}
	loop := &sagas.AgentLoop{Log: sagaLog, Bus: a.Bus, Poll: a.cfg.Poll, Logger: a.logger}
	a.runRole(ctx, sagas.AgentLoopName, loop.Run)
	startDelivery := func(ctx context.Context, id string) error {
		_, _, err := a.Cmds.StartWebhookDelivery(ctx, commands.StartWebhookDelivery{ConversationID: id, Reason: commands.ReasonConversationEnded})
		if errors.Is(err, commands.ErrNoResponseURL) || errors.Is(err, conversation.ErrNothingToDo) {
			return nil
		}
		return err
	}
	hooks := &sagas.Webhooks{Log: sagaLog, Bus: a.Bus, Conversations: a.Conversations, Clock: a.clock, Start: startDelivery,
		Tick: min(time.Second, a.cfg.WebhookSchedule[0]), Stale: a.Cmds.Webhooks.Stale, Poll: a.cfg.Poll, Logger: a.logger}
	a.runRole(ctx, sagas.WebhooksName, hooks.Run)
	bill := &sagas.Billing{Log: sagaLog, Bus: a.Bus, Poll: a.cfg.Poll, Logger: a.logger}
	a.runRole(ctx, sagas.BillingName, bill.Run)
	reaper := &sagas.Reaper{Conversations: a.Conversations, Commands: a.Cmds, Bus: a.Bus, Clock: a.clock,
		StallAfter: a.cfg.StallAfter, GiveUpAfter: a.cfg.GiveUpAfter, Interval: min(a.cfg.StallAfter/4, 5*time.Second),
		ResumeAllAtStart: a.cfg.Embedded(), Logger: a.logger}
	a.runRole(ctx, "reaper", reaper.Run)
	if a.campaign != nil {
		a.goRun(func() { a.campaign.Run(ctx) })
	}
	return nil
}

// eventsTopic is the wake-up topic of appended events (the hint is the
// position of the last one).
const eventsTopic = "events"

// queuePoll is how often an idle command queue subscriber looks for
// commands no wake-up announced: only a safety net.
const queuePoll = 10 * time.Second

// sagaLog is what the sagas follow: the shared log for reading, the store
// for their checkpoints.
type sagaLog struct {
	*projections.SharedLog
	store eventstore.Store
}

func (l sagaLog) LoadCheckpoint(ctx context.Context, name string) (es.Position, error) {
	return l.store.LoadCheckpoint(ctx, name)
}

func (l sagaLog) SaveCheckpoint(ctx context.Context, name string, pos es.Position) error {
	return l.store.SaveCheckpoint(ctx, name, pos)
}

// runRole runs a saga or the reaper on exactly one instance: here at once
// in embedded mode (one process owns the store), under a Postgres advisory
// lock when instances share a database. Projectors run on every instance:
// each batch is applied under its checkpoint row's lock, so one instance
// applies it and the others skip it, and every instance can answer reads
// of its own writes.
func (a *App) runRole(ctx context.Context, role string, run func(ctx context.Context)) {
	if a.pool == nil {
		a.goRun(func() { leader.Local(ctx, &a.Roles, role, run) })
		return
	}
	if a.campaign == nil {
		// One connection and one statement per check for all the roles.
		a.campaign = leader.NewCampaign(a.pool, &a.Roles, 2*time.Second, a.logger)
	}
	a.campaign.Add(role, run)
}

func (a *App) goRun(fn func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn()
	}()
}

// ready answers /readyz: the store answers and the read models catch up
// with the log's head within a bound.
func (a *App) ready(ctx context.Context) (any, error) {
	detail := map[string]any{"event_store": a.storeKind(), "transport": a.Bus.TransportName(), "projections": a.Runner.Statuses(),
		"roles": map[string]any{"held": a.Roles.Held(), "standby": a.Roles.Waiting()}}
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.Runner.WaitForReadable(wait); err != nil {
		return detail, fmt.Errorf("read models are behind the event log (or the store is unreachable): %w", err)
	}
	detail["projections"] = a.Runner.Statuses()
	return detail, nil
}

func (a *App) storeKind() string {
	switch {
	case a.cfg.EventStoreURL != "":
		return "eventstoredb"
	case a.cfg.Embedded():
		return "embedded"
	}
	return "postgres"
}

// Close stops background work and releases the stores.
func (a *App) Close() {
	if a.cancel != nil {
		a.cancel()
	}
	// Handlers first, then whatever else sends commands (sagas, reaper),
	// and only then the transport: a publisher closed under a saga's Send
	// is a data race in watermill-sql.
	if a.Bus != nil {
		_ = a.Bus.StopHandlers()
	}
	a.wg.Wait()
	if a.Bus != nil {
		_ = a.Bus.Close()
	}
	if a.webhookClient != nil {
		a.webhookClient.Close()
	}
	if a.Store != nil {
		_ = a.Store.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}
