package messaging

import (
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/jackc/pgx/v5/pgxpool"
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
	// Poll bounds how long a command waits in the queue when idle.
	Poll time.Duration
}

// Postgres is the queue transport on watermill-sql v4: one table per
// command type, each message taken by exactly one instance.
func Postgres(pool *pgxpool.Pool, opts PostgresOptions, logger *slog.Logger) (Transport, error) {
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	db := wsql.BeginnerFromPgx(pool)
	schema := wsql.PostgreSQLQueueSchema{SubscribeBatchSize: 10}
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: schema, AutoInitializeSchema: true}, wlog)
	if err != nil {
		return Transport{}, err
	}
	return Transport{
		Name:      "postgres",
		Publisher: pub,
		Subscriber: func(string) (message.Subscriber, error) {
			return wsql.NewSubscriber(db, wsql.SubscriberConfig{
				SchemaAdapter:    schema,
				OffsetsAdapter:   wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true},
				PollInterval:     opts.Poll,
				InitializeSchema: true,
			}, wlog)
		},
		Close: pub.Close,
	}, nil
}
