package messaging

import (
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/pg"
)

// GoChannel is the embedded transport: in process, nothing to set up.
func GoChannel(logger *slog.Logger) Transport {
	ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024}, watermill.NewSlogLogger(logger))
	return Transport{
		Name:       "gochannel",
		Publisher:  ps,
		Subscriber: func(string) (message.Subscriber, error) { return ps, nil },
		Close:      ps.Close,
	}
}

// PostgresOptions tune the Postgres queue.
type PostgresOptions struct {
	// Poll is how often an idle subscriber looks for commands that no
	// wake-up announced (a safety net: queued commands wake subscribers).
	Poll time.Duration
	// Wake carries "a command was queued" between processes; nil makes
	// one that only wakes this process's subscribers.
	Wake *pg.Wakeups
}

// Postgres is the queue transport: watermill-sql v4's queue tables and
// publisher, one table per command type, each command taken by exactly one
// instance (see pgqueue.go for the subscriber).
func Postgres(pool *pgxpool.Pool, opts PostgresOptions, logger *slog.Logger) (Transport, error) {
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.Wake == nil {
		opts.Wake = pg.NewWakeups(pool, logger)
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	db := wsql.BeginnerFromPgx(pool)
	schema := wsql.PostgreSQLQueueSchema{}
	sqlPub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: schema, AutoInitializeSchema: true}, wlog)
	if err != nil {
		return Transport{}, err
	}
	pub := wakingPublisher{Publisher: sqlPub, wake: opts.Wake}
	return Transport{
		Name:      "postgres",
		Publisher: pub,
		Subscriber: func(string) (message.Subscriber, error) {
			return &pgQueue{pool: pool, schema: schema, wake: opts.Wake, poll: opts.Poll, logger: logger, pub: pub,
				closing: make(chan struct{}), inited: map[string]bool{}}, nil
		},
		Close: sqlPub.Close,
	}, nil
}
