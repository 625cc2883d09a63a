package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/handlers/sagas"
	"github.com/sois-ai/chat-agent-gateway/infra/leader"
	"github.com/sois-ai/chat-agent-gateway/infra/liveness"
)

// Start brings the read models up to date, then starts the projections,
// the command handlers, the agent loop saga and the reaper.
func (a *App) Start(ctx context.Context) error {
	began := time.Now()
	if err := a.Runner.CatchUp(ctx); err != nil {
		return err
	}
	a.logger.Info("read models are up to date", "took", time.Since(began).Round(time.Millisecond))
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if a.live != nil {
		if err := a.live.Start(ctx); err != nil {
			return fmt.Errorf("announce this instance: %w", err)
		}
	}
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
	sagaLog := sagas.SharedLog{SharedLog: a.Log, Checkpoints: a.Store}
	loop := &sagas.AgentLoop{Log: sagaLog, Bus: a.Bus, Poll: a.cfg.Poll, Logger: a.logger}
	a.runRole(ctx, sagas.AgentLoopName, loop.Run)
	startDelivery := func(ctx context.Context, id string, version int64) error {
		_, _, err := a.Cmds.StartWebhookDelivery(ctx, commands.StartWebhookDelivery{ConversationID: id,
			Reason: commands.ReasonConversationEnded, AtVersion: version})
		if errors.Is(err, commands.ErrNoResponseURL) || errors.Is(err, conversation.ErrNothingToDo) || errors.Is(err, commands.ErrNotFinished) {
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
		OrphanAfter:      liveness.DefaultTimeout,
		Departures:       a.departures(),
		ResumeAllAtStart: a.cfg.Embedded(), McpCalls: a.McpUsage, Logger: a.logger}
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
	detail := map[string]any{"event_store": a.cfg.StoreKind(), "transport": a.Bus.TransportName(), "projections": a.Runner.Statuses(),
		"roles": map[string]any{"held": a.Roles.Held(), "standby": a.Roles.Waiting()}}
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.Runner.WaitForReadable(wait); err != nil {
		return detail, fmt.Errorf("read models are behind the event log (or the store is unreachable): %w", err)
	}
	detail["projections"] = a.Runner.Statuses()
	return detail, nil
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
	if a.Tracing != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.Tracing.Shutdown(sctx) // flush the spans still buffered
		cancel()
	}
	if a.Store != nil {
		_ = a.Store.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}
