// Package sagas holds the process managers: they follow the event log and
// turn facts into the next commands (a conversation opened → run a model
// step; a tool call requested → execute it). Their only state is a
// checkpoint; everything else is derived from events, so after a crash
// they carry on from where they were.
package sagas

import (
	"context"
	"log/slog"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Log is what a saga reads and where it keeps its place.
type Log interface {
	ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
	Changed() <-chan struct{}
	LoadCheckpoint(ctx context.Context, name string) (es.Position, error)
	SaveCheckpoint(ctx context.Context, name string, pos es.Position) error
}

// Sender puts a command on the bus.
type Sender interface {
	Send(ctx context.Context, cmd any) error
}

// follow feeds every event after the saga's checkpoint to react, batch by
// batch, saving the checkpoint after each batch. Delivery is at least
// once: a crash between react and the save repeats a batch, which the
// command handlers shrug off.
func follow(ctx context.Context, log Log, name string, poll time.Duration, logger *slog.Logger,
	react func(ctx context.Context, rec es.Recorded) error) {
	const batchSize = 200
	failures := 0
	for ctx.Err() == nil {
		wake := log.Changed()
		n, err := followStep(ctx, log, name, batchSize, react)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			delay := time.Duration(min(failures, 50)) * 100 * time.Millisecond
			logger.Error("saga failed; retrying", "saga", name, "err", err, "retry_in", delay)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			continue
		}
		failures = 0
		if n == batchSize {
			continue
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(poll):
		}
	}
}

func followStep(ctx context.Context, log Log, name string, limit int, react func(context.Context, es.Recorded) error) (int, error) {
	from, err := log.LoadCheckpoint(ctx, name)
	if err != nil {
		return 0, err
	}
	batch, err := log.ReadAll(ctx, from, limit)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	for i, rec := range batch {
		if err := react(ctx, rec); err != nil {
			if i > 0 {
				_ = log.SaveCheckpoint(ctx, name, batch[i-1].Position)
			}
			return 0, err
		}
	}
	return len(batch), log.SaveCheckpoint(ctx, name, batch[len(batch)-1].Position)
}
