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
}

// Bus sends commands and runs their handlers.
type Bus struct {
	transport Transport
	router    *message.Router
	bus       *cqrs.CommandBus
	processor *cqrs.CommandProcessor
	workers   int
	slots     map[string]chan struct{}
	logger    *slog.Logger

	mu  sync.Mutex
	ctx context.Context
}

var marshaler = cqrs.JSONMarshaler{GenerateName: cqrs.StructName}

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
	b := &Bus{transport: t, router: router, workers: opts.Workers, slots: map[string]chan struct{}{}, logger: opts.Logger}
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
	b.bus, err = cqrs.NewCommandBusWithConfig(t.Publisher, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return prefix + p.CommandName, nil
		},
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, err
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
			stop := context.AfterFunc(b.runCtx(), cancel)
			defer stop()
			err := handleWithRetries(ctx, func() error { return p.Handler.Handle(ctx, p.Command) })
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
// stops pulling. Each handler has its own slots: slow webhook receivers
// cannot starve model steps.
func (b *Bus) limit(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		b.mu.Lock()
		slots := b.slots[message.HandlerNameFromCtx(msg.Context())]
		b.mu.Unlock()
		if slots == nil {
			return h(msg)
		}
		select {
		case slots <- struct{}{}:
		case <-msg.Context().Done():
			return nil, msg.Context().Err()
		}
		defer func() { <-slots }()
		return h(msg)
	}
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
	b.slots[name] = make(chan struct{}, workers)
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
func (b *Bus) StopHandlers() error { return b.router.Close() }

// Close stops the router and the transport. Nothing may Send once Close
// has begun: the transports' publishers do not guard against it.
func (b *Bus) Close() error {
	err := b.router.Close()
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
