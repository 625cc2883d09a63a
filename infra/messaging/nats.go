package messaging

import (
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// NATSOptions tune the JetStream transport.
type NATSOptions struct {
	// AckWait is how long a command may run before JetStream hands it to
	// another instance; longer than the slowest model step.
	AckWait time.Duration
	// RetryDelay is the wait before a failed command is delivered again.
	RetryDelay time.Duration
}

// NATS is the JetStream transport: each command type is a durable stream,
// consumed by every gateway instance in one queue group, so each command
// goes to one instance, stays unacknowledged while it runs, and is
// delivered again after a failure or a crash.
func NATS(url string, opts NATSOptions, logger *slog.Logger) (Transport, error) {
	if opts.AckWait <= 0 {
		opts.AckWait = 3 * time.Minute
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 2 * time.Second
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	js := wmnats.JetStreamConfig{
		AutoProvision:    true,
		TrackMsgId:       true,
		DurablePrefix:    "gateway",
		SubscribeOptions: []nats.SubOpt{nats.DeliverAll(), nats.AckExplicit()},
	}
	conn := []nats.Option{nats.Name("chat-agent-gateway"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second)}
	marshaler := &wmnats.NATSMarshaler{}
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{URL: url, NatsOptions: conn, Marshaler: marshaler, JetStream: js}, wlog)
	if err != nil {
		return Transport{}, err
	}
	return Transport{
		Name:             "nats",
		Publisher:        pub,
		TopicPrefix:      "gateway_commands_", // JetStream stream names cannot hold dots
		AckAfterHandling: true,
		Subscriber: func(string) (message.Subscriber, error) {
			return wmnats.NewSubscriber(wmnats.SubscriberConfig{
				URL: url, NatsOptions: conn, Unmarshaler: marshaler, JetStream: js,
				QueueGroupPrefix: "gateway", SubscribersCount: 4,
				AckWaitTimeout: opts.AckWait, NakDelay: wmnats.NewStaticDelay(opts.RetryDelay),
				CloseTimeout: 30 * time.Second,
			}, wlog)
		},
		Close: pub.Close,
	}, nil
}
