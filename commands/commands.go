package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Handler runs every command; its fields are the ports commands need.
type Handler struct {
	Store  EventStore
	Clock  Clock
	Sealer Sealer
	Model  Model
	Tools  Tools
	Limits conversation.Limits
	// ModelTimeout (GATEWAY_MODEL_TIMEOUT) bounds each attempt of a model
	// call (the model adapter applies it); ModelCallBudget bounds the whole
	// call, retries included. Zero ModelCallBudget: ModelTimeout.
	ModelTimeout    time.Duration
	ModelCallBudget time.Duration
	// Instance names this process's life (new at each start); Liveness
	// tells whether another instance is still alive (nil: claims are held
	// for their whole lease).
	Instance string
	Liveness Liveness
	Webhook  WebhookSender
	Webhooks WebhookPolicy
	Mailer   Mailer
	// Prices price model steps and tool calls; ModelName is the
	// configured model (the price looked up), MaxOutputTokens bounds an
	// answer (the worst case reserved before a step).
	Prices          billing.Prices
	ModelName       string
	MaxOutputTokens int
	// Relay carries model steps' text to event streams as it is written
	// (nil: streams get the reply from the log when it is recorded).
	Relay Relay
	// HistoryTokens bounds the conversation history a model step sends
	// (0: agent.DefaultHistoryTokens).
	HistoryTokens int

	budgets      budgetBook
	keys         keyCache
	convs        conversationCache
	webhookHosts hostSlots
	// Stats counts appends and the conflicts among them.
	Stats Stats
	// Observe hears of every append and what it recorded (nil: nobody).
	Observe Observer
	// Tracer makes the spans of model calls, tool calls and webhook
	// deliveries (nil: none).
	Tracer trace.Tracer
	// MailFrom is the sender of the agent's e-mail ("" = the mailer's default).
	MailFrom string
	Logger   *slog.Logger
}

func (h *Handler) now() time.Time { return h.Clock.Now() }

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// NewID returns a fresh UUID, version 7: its first 48 bits are the time,
// the other 74 random. Ids made one after the other sort together, so the
// indexes keyed by them (event ids, stream names, correlation ids) grow at
// their end instead of touching a random page for every new entry, in
// Postgres and in the embedded store alike.
func NewID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}

// folder is any aggregate that folds facts.
type folder interface{ Apply(es.Fact) }

// load folds a stream into agg and returns its version and raw records.
func (h *Handler) load(ctx context.Context, stream string, reg es.Registry, agg folder) (int64, []es.Recorded, error) {
	recs, err := h.Store.ReadStream(ctx, stream, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", stream, err)
	}
	for _, r := range recs {
		f, err := reg.Decode(r)
		if err != nil {
			return 0, nil, err
		}
		agg.Apply(f)
	}
	if len(recs) == 0 {
		return 0, nil, nil
	}
	return recs[len(recs)-1].StreamVersion, recs, nil
}

// append records facts with metadata; an empty list appends nothing.
func (h *Handler) append(ctx context.Context, stream string, expected int64, md es.Metadata, facts ...es.Fact) (es.AppendResult, error) {
	if len(facts) == 0 {
		return es.AppendResult{Version: expected}, nil
	}
	return h.appendGuarded(ctx, stream, expected, nil, md, facts...)
}

// appendGuarded is append with guards on other streams (see es.Guard);
// without guards it is a plain append.
func (h *Handler) appendGuarded(ctx context.Context, stream string, expected int64, guards []es.Guard, md es.Metadata, facts ...es.Fact) (es.AppendResult, error) {
	md.OccurredAt = h.now()
	if md.TraceParent == "" {
		md.TraceParent = TraceParent(ctx)
	}
	evs := make([]es.Event, 0, len(facts))
	for _, f := range facts {
		ev, err := es.NewEvent(NewID(), f, md)
		if err != nil {
			return es.AppendResult{}, err
		}
		evs = append(evs, ev)
	}
	h.Stats.Appends.Add(1)
	var res es.AppendResult
	var err error
	began := time.Now()
	if len(guards) == 0 {
		res, err = h.Store.Append(ctx, stream, expected, evs...)
	} else {
		res, err = h.Store.AppendGuarded(ctx, stream, expected, guards, evs...)
	}
	if h.Observe != nil {
		h.Observe.Appended(len(evs), time.Since(began), err)
		if err == nil {
			h.Observe.Recorded(stream, facts)
		}
	}
	if errors.Is(err, es.ErrConcurrency) {
		h.Stats.Conflicts.Add(1)
	}
	return res, err
}

// Stats counts what the write side did, for the benchmark and operators:
// appends tried, and how many of them lost a race (each costs a reload and
// a retry).
type Stats struct {
	Appends, Conflicts atomic.Int64
	// BudgetWaits counts reservations that waited for running work to
	// give budget back.
	BudgetWaits atomic.Int64
	// IdleBudgetPerMille is the most of a budget (in thousandths) found
	// neither spent nor set aside at a moment a reservation had to wait:
	// what the reservations' sizing leaves unused while work waits.
	IdleBudgetPerMille atomic.Int64
}

func (s *Stats) observeIdleBudget(idle, limit billing.MicroUSD) {
	if limit <= 0 {
		return
	}
	pm := int64(max(idle, 0) * 1000 / limit)
	for {
		cur := s.IdleBudgetPerMille.Load()
		if pm <= cur || s.IdleBudgetPerMille.CompareAndSwap(cur, pm) {
			return
		}
	}
}

// retry runs decide-and-append again when someone else appended first,
// so the decision is always taken on the latest facts.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = fn(); !errors.Is(err, es.ErrConcurrency) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

// causedBy reports whether a stream already holds a fact caused by cause:
// a retried tool call finds its own earlier effect and does not repeat it.
func causedBy(recs []es.Recorded, cause string) bool {
	for _, r := range recs {
		if r.Metadata.CausationID == cause {
			return true
		}
	}
	return false
}

// decide is the life of most commands: fold the stream into a fresh
// aggregate, let fn decide, append what it decided at the version read.
// A conflict (someone moved first) reloads and decides again. fn sees the
// stream's records too, for commands that act once per cause. It returns
// the aggregate with the new facts applied and where they were appended.
func decide[A any, P interface {
	*A
	folder
}](ctx context.Context, h *Handler, stream string, reg es.Registry, md es.Metadata,
	fn func(agg P, recs []es.Recorded) ([]es.Fact, error)) (A, es.Position, error) {
	var out A
	var pos es.Position
	err := retry(ctx, func() error {
		var a A
		v, recs, err := h.load(ctx, stream, reg, P(&a))
		if err != nil {
			return err
		}
		facts, err := fn(&a, recs)
		if err != nil {
			return err
		}
		res, err := h.append(ctx, stream, v, md, facts...)
		if err != nil {
			return err
		}
		for _, f := range facts {
			P(&a).Apply(f)
		}
		out, pos = a, res.Position
		return nil
	})
	return out, pos, err
}

// found folds stream into an aggregate and returns it when visible says
// the caller may see it (it exists, in their workspace), notFound if not.
func found[A any, P interface {
	*A
	folder
}](ctx context.Context, h *Handler, stream string, reg es.Registry, notFound error, visible func(P) bool) (A, error) {
	var a A
	if _, _, err := h.load(ctx, stream, reg, P(&a)); err != nil {
		return a, err
	}
	if !visible(&a) {
		var zero A
		return zero, notFound
	}
	return a, nil
}

// createOnce appends facts as the first of stream. The same id again (the
// stream is there) is no error: the caller reads back what is there, so a
// repeated create returns the first.
func (h *Handler) createOnce(ctx context.Context, stream string, md es.Metadata, facts []es.Fact) error {
	if _, err := h.append(ctx, stream, es.NoStream, md, facts...); err != nil && !isConflict(err) {
		return err
	}
	return nil
}
