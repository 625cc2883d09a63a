// Package messaging carries commands between the sagas that decide what
// must happen next and the handlers that do the slow work (model calls,
// tool calls), over watermill: an in-process gochannel in embedded mode,
// a Postgres queue (watermill-sql) when DATABASE_URL is set, so that the
// work spreads over every gateway instance sharing the database.
package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	fastjson "github.com/segmentio/encoding/json"
	"github.com/sois-ai/chat-agent-gateway/commands"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Transport is a watermill publisher plus a way to subscribe per handler.
type Transport struct {
	Name       string
	Publisher  message.Publisher
	Subscriber func(handlerName string) (message.Subscriber, error)
	Close      func() error
	// TopicPrefix is put before a command's name to make its topic
	// (default "commands.").
	TopicPrefix string
	// AckAfterHandling keeps a command unacknowledged until its handler
	// returns, so a crash or an error makes the broker deliver it again.
	// Transports whose unacknowledged messages hold nothing back elsewhere
	// (NATS JetStream) use it; the others acknowledge when a worker takes
	// a command (see New).
	AckAfterHandling bool
}

// Options tune the bus.
type Options struct {
	// Workers bounds how many commands run at once in this process.
	Workers int
	Logger  *slog.Logger
	// Tracer makes a span of each command handled, in the trace its
	// message names (nil: none).
	Tracer trace.Tracer
}

// traceKey is the message metadata that carries a command's trace context.
const traceKey = "traceparent"

// Bus sends commands and runs their handlers.
type Bus struct {
	transport Transport
	router    *message.Router
	bus       *cqrs.CommandBus
	processor *cqrs.CommandProcessor
	workers   int
	slots     map[string]handlerSlots
	groups    map[string]*slotGroup
	prefix    string
	logger    *slog.Logger

	mu  sync.Mutex
	ctx context.Context
}

var marshaler = commandMarshaler{cqrs.JSONMarshaler{GenerateName: cqrs.StructName}}

// commandMarshaler is watermill's JSON marshaler with a faster decoder:
// every command a worker takes is decoded once, and encoding/json's
// reflection was a visible part of a worker's time.
type commandMarshaler struct{ cqrs.JSONMarshaler }

func (commandMarshaler) Unmarshal(msg *message.Message, v any) error {
	return fastjson.Unmarshal(msg.Payload, v)
}

// New builds a bus on a transport.
func New(t Transport, opts Options) (*Bus, error) {
	if opts.Workers <= 0 {
		opts.Workers = 32
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(opts.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wlog)
	if err != nil {
		return nil, err
	}
	b := &Bus{transport: t, router: router, workers: opts.Workers, slots: map[string]handlerSlots{},
		groups: map[string]*slotGroup{}, logger: opts.Logger}
	router.AddMiddleware(middleware.Recoverer, b.limit)
	if !t.AckAfterHandling {
		// The command is acknowledged as soon as a worker takes it. The
		// event store, not the queue, is what makes work durable: a command
		// lost to a crash is derived again from the events by the reaper.
		// Holding the message until the work ends would, on the Postgres
		// queue, keep a transaction open through a whole model call and
		// hold back the snapshot horizon every event-log reader waits on.
		router.AddMiddleware(middleware.InstantAck)
	}
	prefix := t.TopicPrefix
	if prefix == "" {
		prefix = "commands."
	}
	b.prefix = prefix
	b.bus, err = cqrs.NewCommandBusWithConfig(t.Publisher, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return prefix + p.CommandName, nil
		},
		Marshaler: marshaler,
		Logger:    wlog,
		OnSend: func(p cqrs.CommandBusOnSendParams) error {
			if tp := commands.TraceParent(p.Message.Context()); tp != "" {
				p.Message.Metadata.Set(traceKey, tp)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	tracer := opts.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	b.processor, err = cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return prefix + p.CommandName, nil
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return t.Subscriber(p.HandlerName)
		},
		Marshaler: marshaler,
		Logger:    wlog,
		OnHandle: func(p cqrs.CommandProcessorOnHandleParams) error {
			began := time.Now()
			// The message may be acknowledged before the work starts, which
			// ends its context; the work lives until the bus stops instead.
			ctx, cancel := context.WithCancel(context.WithoutCancel(p.Message.Context()))
			defer cancel()
			ctx = commands.WithTraceParent(ctx, p.Message.Metadata.Get(traceKey))
			ctx, span := tracer.Start(ctx, "command "+p.CommandName, trace.WithSpanKind(trace.SpanKindConsumer))
			defer span.End()
			stop := context.AfterFunc(b.runCtx(), cancel)
			defer stop()
			err := handleWithRetries(ctx, func() error { return p.Handler.Handle(ctx, p.Command) })
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			lvl := slog.LevelDebug
			if err != nil {
				lvl = slog.LevelWarn
			}
			opts.Logger.Log(p.Message.Context(), lvl, "command handled", "command", p.CommandName,
				"took", time.Since(began).Round(time.Millisecond), "err", err)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// limit holds a worker slot of the message's handler for the whole
// handling, taken before the message is acknowledged, so a busy process
// stops pulling. Each handler (or group of handlers) has its own slots:
// slow webhook receivers cannot starve model steps.
func (b *Bus) limit(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		b.mu.Lock()
		hs, ok := b.slots[message.HandlerNameFromCtx(msg.Context())]
		b.mu.Unlock()
		if !ok {
			return h(msg)
		}
		if err := hs.group.acquire(msg.Context(), hs.low); err != nil {
			return nil, err
		}
		defer hs.group.release()
		return h(msg)
	}
}

// handlerSlots is where a handler takes its worker slot.
type handlerSlots struct {
	group *slotGroup
	low   bool
}

// slotGroup is a number of worker slots shared by some handlers, handed to
// waiting high-priority work before low-priority work: a conversation's
// next step and tool calls go before starting new conversations, so that
// under a flood of new messages the ones already running still finish
// (and the number running stays bounded) instead of every conversation
// advancing a little.
type slotGroup struct {
	mu        sync.Mutex
	free      int
	high, low []chan struct{}
}

func newSlotGroup(n int) *slotGroup { return &slotGroup{free: n} }

func (g *slotGroup) acquire(ctx context.Context, low bool) error {
	g.mu.Lock()
	if g.free > 0 && (len(g.high) == 0 && (len(g.low) == 0 || !low)) {
		g.free--
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if low {
		g.low = append(g.low, ch)
	} else {
		g.high = append(g.high, ch)
	}
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-ch: // handed over meanwhile: give it on
			g.handOn()
		default:
			g.high = removeChan(g.high, ch)
			g.low = removeChan(g.low, ch)
		}
		return ctx.Err()
	}
}

func (g *slotGroup) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.handOn()
}

// handOn gives a freed slot to the first high waiter, else the first low
// one, else back to the pool. Callers hold mu.
func (g *slotGroup) handOn() {
	switch {
	case len(g.high) > 0:
		close(g.high[0])
		g.high = g.high[1:]
	case len(g.low) > 0:
		close(g.low[0])
		g.low = g.low[1:]
	default:
		g.free++
	}
}

func removeChan(q []chan struct{}, ch chan struct{}) []chan struct{} {
	for i, c := range q {
		if c == ch {
			return append(q[:i:i], q[i+1:]...)
		}
	}
	return q
}

// Handle registers a typed command handler with the bus's default number
// of workers; call before Run. The name is stable: on the Postgres queue
// it names the consumer.
func Handle[C any](b *Bus, name string, fn func(ctx context.Context, cmd *C) error) error {
	return HandleWithWorkers(b, name, b.workers, fn)
}

// HandleWithWorkers registers a handler that runs at most workers commands
// at once in this process.
func HandleWithWorkers[C any](b *Bus, name string, workers int, fn func(ctx context.Context, cmd *C) error) error {
	if workers <= 0 {
		workers = b.workers
	}
	b.mu.Lock()
	b.slots[name] = handlerSlots{group: newSlotGroup(workers)}
	b.mu.Unlock()
	return b.processor.AddHandlers(cqrs.NewCommandHandler(name, fn))
}

// HandleInGroup registers a handler that shares the bus's number of
// workers with the other handlers of group; low-priority handlers get a
// slot only when no high-priority one waits for it.
func HandleInGroup[C any](b *Bus, name, group string, low bool, fn func(ctx context.Context, cmd *C) error) error {
	b.mu.Lock()
	g := b.groups[group]
	if g == nil {
		g = newSlotGroup(b.workers)
		b.groups[group] = g
	}
	b.slots[name] = handlerSlots{group: g, low: low}
	b.mu.Unlock()
	return b.processor.AddHandlers(cqrs.NewCommandHandler(name, fn))
}

// Send publishes a command (a pointer to a struct).
func (b *Bus) Send(ctx context.Context, cmd any) error {
	if err := b.bus.Send(ctx, cmd); err != nil {
		return fmt.Errorf("send %T: %w", cmd, err)
	}
	return nil
}

// SendAll publishes commands with as few writes as the transport allows:
// one publish per command type (one INSERT for all of them on the Postgres
// queue), instead of one per command.
func (b *Bus) SendAll(ctx context.Context, cmds []any) error {
	byTopic := map[string][]*message.Message{}
	var topics []string
	for _, cmd := range cmds {
		parent := commands.TraceParent(ctx)
		if t, ok := cmd.(commands.Traced); ok {
			cmd, parent = t.Command, t.TraceParent
		}
		msg, err := marshaler.Marshal(cmd)
		if err != nil {
			return fmt.Errorf("send %T: %w", cmd, err)
		}
		msg.SetContext(ctx)
		if parent != "" {
			msg.Metadata.Set(traceKey, parent)
		}
		topic := b.prefix + marshaler.Name(cmd)
		if _, ok := byTopic[topic]; !ok {
			topics = append(topics, topic)
		}
		byTopic[topic] = append(byTopic[topic], msg)
	}
	for _, topic := range topics {
		if err := b.transport.Publisher.Publish(topic, byTopic[topic]...); err != nil {
			return fmt.Errorf("send %d commands to %s: %w", len(byTopic[topic]), topic, err)
		}
	}
	return nil
}

// Run processes commands until ctx ends.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	b.ctx = ctx
	b.mu.Unlock()
	return b.router.Run(ctx)
}

func (b *Bus) runCtx() context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil {
		return context.Background()
	}
	return b.ctx
}

// Running is closed once handlers are subscribed.
func (b *Bus) Running() chan struct{} { return b.router.Running() }

// StopHandlers stops the router: no command is taken any more, and the
// handlers in flight finish (within the router's close timeout). Sending
// still works until Close, so a caller can stop what sends (sagas) after
// the handlers and before the transport.
func (b *Bus) StopHandlers() error { return b.closeRouter() }

// closeRouter stops the handlers of a router that ran. One that never ran
// (an API-only instance) has nothing to stop, and watermill's Close would
// wait its whole close timeout for handlers that never started.
func (b *Bus) closeRouter() error {
	b.mu.Lock()
	ran := b.ctx != nil
	b.mu.Unlock()
	if !ran {
		return nil
	}
	return b.router.Close()
}

// Close stops the router and the transport. Nothing may Send once Close
// has begun: the transports' publishers do not guard against it.
func (b *Bus) Close() error {
	err := b.closeRouter()
	if b.transport.Close != nil {
		if cerr := b.transport.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// TransportName says which transport carries commands (for logs and health).
func (b *Bus) TransportName() string { return b.transport.Name }

// handleWithRetries runs a handler again after a failure (a database
// hiccup, say), a few times with growing pauses. It lives here rather than
// in watermill's Retry middleware because the message is acknowledged
// before the work starts, and that middleware gives up on an acknowledged
// message's context before it even calls the handler.
func handleWithRetries(ctx context.Context, fn func() error) error {
	delay := 200 * time.Millisecond
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if err = fn(); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
	return err
}
