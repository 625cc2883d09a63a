package messaging

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// NATSOptions tune the JetStream transport.
type NATSOptions struct {
	// Prefix names this gateway's streams, durable consumers and queue
	// groups, so gateways of other databases on one NATS server never take
	// each other's commands (default "gateway").
	Prefix string
	// Workers is how many commands of one type this instance takes at
	// once; JetStream holds the rest for other instances.
	Workers int
	// AckWait is how long a command may run before this instance stops
	// waiting for its handler to acknowledge it; longer than the slowest
	// model step. JetStream itself hands an unacknowledged command to
	// another instance after ServerAckWait without a sign of progress,
	// which a running handler sends every ServerAckWait/3: a dead
	// instance's commands come back in ServerAckWait, not AckWait.
	AckWait       time.Duration
	ServerAckWait time.Duration
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
	if opts.ServerAckWait <= 0 || opts.ServerAckWait > opts.AckWait {
		opts.ServerAckWait = min(30*time.Second, opts.AckWait)
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 2 * time.Second
	}
	if opts.Prefix == "" {
		opts.Prefix = "gateway"
	}
	if opts.Workers <= 0 {
		opts.Workers = 32
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	js := wmnats.JetStreamConfig{
		AutoProvision: true,
		TrackMsgId:    true,
		DurablePrefix: opts.Prefix,
		// The server, not only the client, must wait AckWait before handing
		// a running command to another instance; and no instance may hold
		// more unacknowledged commands than it can work on, or they would
		// age in its buffers and be redelivered elsewhere while queued.
		SubscribeOptions: []nats.SubOpt{nats.DeliverAll(), nats.AckExplicit(), nats.AckWait(opts.ServerAckWait),
			nats.MaxAckPending(opts.Workers)},
	}
	conn := []nats.Option{nats.Name("chat-agent-gateway"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second)}
	if err := alignAckWait(url, conn, opts.Prefix+"_commands_", opts.ServerAckWait, logger); err != nil {
		logger.Warn("could not bring the command consumers' ack wait up to date; subscribing may fail", "err", err)
	}
	marshaler := &wmnats.NATSMarshaler{}
	beating := progressUnmarshaler{Unmarshaler: marshaler, every: opts.ServerAckWait / 3, upTo: opts.AckWait}
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{URL: url, NatsOptions: conn, Marshaler: marshaler, JetStream: js}, wlog)
	if err != nil {
		return Transport{}, err
	}
	return Transport{
		Name:             "nats",
		Publisher:        pub,
		TopicPrefix:      opts.Prefix + "_commands_", // JetStream stream names cannot hold dots
		AckAfterHandling: true,
		Subscriber: func(string) (message.Subscriber, error) {
			return wmnats.NewSubscriber(wmnats.SubscriberConfig{
				URL: url, NatsOptions: conn, Unmarshaler: beating, JetStream: js,
				QueueGroupPrefix: opts.Prefix, SubscribersCount: opts.Workers,
				AckWaitTimeout: opts.AckWait, NakDelay: wmnats.NewStaticDelay(opts.RetryDelay),
				CloseTimeout: 30 * time.Second,
			}, wlog)
		},
		Close: pub.Close,
	}, nil
}

// progressUnmarshaler tells JetStream that a command is still being
// worked on (InProgress) every so often until its handler acknowledges
// or rejects it, so a short server-side ack wait never hands a running
// command to another instance, while a dead instance's commands come back
// quickly. The beats stop after upTo, when this instance gives up on the
// command too.
type progressUnmarshaler struct {
	wmnats.Unmarshaler
	every, upTo time.Duration
}

func (u progressUnmarshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	msg, err := u.Unmarshaler.Unmarshal(m)
	if err != nil || m.Reply == "" || u.every <= 0 {
		return msg, err
	}
	go func() {
		t := time.NewTicker(u.every)
		defer t.Stop()
		end := time.After(u.upTo)
		for {
			select {
			case <-msg.Acked():
				return
			case <-msg.Nacked():
				return
			case <-end:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return msg, nil
}

// alignAckWait updates the ack wait of the command streams' durable
// consumers that an earlier version created with another one: JetStream
// refuses to bind a subscription whose ack wait differs from its
// consumer's, and deleting the consumer would deliver the whole stream
// again.
func alignAckWait(url string, conn []nats.Option, streamPrefix string, want time.Duration, logger *slog.Logger) error {
	nc, err := nats.Connect(url, append(slices.Clone(conn), nats.Timeout(5*time.Second))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		return err
	}
	for name := range js.StreamNames() {
		if !strings.HasPrefix(name, streamPrefix) {
			continue
		}
		for ci := range js.Consumers(name) {
			if ci == nil || ci.Config.AckWait == want {
				continue
			}
			cfg := ci.Config
			cfg.AckWait = want
			if _, err := js.UpdateConsumer(name, &cfg); err != nil {
				return fmt.Errorf("consumer %s of %s: %w", ci.Name, name, err)
			}
			logger.Info("updated a command consumer's ack wait", "stream", name, "consumer", ci.Name, "ack_wait", want)
		}
	}
	return nil
}
