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

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Log is what a saga reads and where it keeps its place.
type Log interface {
	ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
	Changed() <-chan struct{}
	// Known is the furthest position known to be in the log: a saga behind
	// it keeps reading (see eventstore.Tail).
	Known() es.Position
	LoadCheckpoint(ctx context.Context, name string) (es.Position, error)
	SaveCheckpoint(ctx context.Context, name string, pos es.Position) error
}

// Sender puts commands on the bus.
type Sender interface {
	Send(ctx context.Context, cmd any) error
	// SendAll sends several commands with as few writes as it can.
	SendAll(ctx context.Context, cmds []any) error
}

// Emit collects the commands a saga decides on while it reads a batch;
// they are sent together when the batch ends.
type Emit func(cmd any)

// saveEvery spaces a busy saga's checkpoint writes. Delivery is at least
// once anyway: after a crash a saga repeats at most this much, which the
// command handlers shrug off.
const saveEvery = 250 * time.Millisecond

// maxBehindWait bounds the pause of a saga that knows of events it cannot
// read yet (an older transaction is still open on Postgres).
const maxBehindWait = 50 * time.Millisecond

// follow feeds every event after the saga's checkpoint to react, batch by
// batch. The checkpoint is read once and then kept in memory; it is
// written after a batch at most every saveEvery, and when the saga stops.
func follow(ctx context.Context, log Log, bus Sender, name string, poll time.Duration, logger *slog.Logger,
	react func(ctx context.Context, rec es.Recorded, emit Emit) error) {
	const batchSize = 200
	var (
		pos      es.Position
		loaded   bool
		saved    es.Position
		savedAt  time.Time
		failures int
		behind   time.Duration
	)
	save := func(ctx context.Context) error {
		if pos == saved {
			return nil
		}
		if err := log.SaveCheckpoint(ctx, name, pos); err != nil {
			return err
		}
		saved, savedAt = pos, time.Now()
		return nil
	}
	defer func() {
		if loaded {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = save(sctx)
		}
	}()
	for ctx.Err() == nil {
		wake := log.Changed()
		n, err := func() (int, error) {
			if !loaded {
				cp, err := log.LoadCheckpoint(ctx, name)
				if err != nil {
					return 0, err
				}
				pos, saved, loaded = cp, cp, true
			}
			batch, err := log.ReadAll(ctx, pos, batchSize)
			if err != nil || len(batch) == 0 {
				return 0, err
			}
			// The batch's commands go out together; the position moves
			// past an event only once what it decided is sent.
			var cmds []any
			var parent string // the trace of the event being reacted to
			emit := func(cmd any) {
				if parent != "" {
					cmd = commands.Traced{Command: cmd, TraceParent: parent}
				}
				cmds = append(cmds, cmd)
			}
			reached := pos
			var rerr error
			for _, rec := range batch {
				// What the saga does for the event (commands it emits, work
				// it starts) goes on in the event's trace.
				parent = rec.Metadata.TraceParent
				if rerr = react(commands.WithTraceParent(ctx, parent), rec, emit); rerr != nil {
					break
				}
				reached = rec.Position
			}
			if len(cmds) > 0 {
				if err := bus.SendAll(ctx, cmds); err != nil {
					return 0, err
				}
			}
			pos = reached
			if rerr != nil {
				return 0, rerr
			}
			if time.Since(savedAt) >= saveEvery {
				return len(batch), save(ctx)
			}
			return len(batch), nil
		}()
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
		if pos.Less(log.Known()) {
			behind = min(max(2*behind, time.Millisecond), maxBehindWait)
			select {
			case <-ctx.Done():
			case <-time.After(behind):
			}
			continue
		}
		behind = 0
		if pos != saved && time.Since(savedAt) >= saveEvery {
			// Idle: write the checkpoint now rather than after the next batch.
			if err := save(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("saga could not save its checkpoint", "saga", name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-tick(log, poll):
		}
	}
}

// tick is closed at the next poll: the log's pulse when it has one (see
// projections.SharedLog), so that every reader of the process polls
// together.
func tick(log Log, poll time.Duration) <-chan struct{} {
	if p, ok := log.(interface{ Pulse() <-chan struct{} }); ok {
		return p.Pulse()
	}
	ch := make(chan struct{})
	time.AfterFunc(poll, func() { close(ch) })
	return ch
}

// SharedLog is the Log a process's sagas follow: the log its readers share
// (one read of the store for all of them), and the store for their
// checkpoints.
type SharedLog struct {
	*projections.SharedLog
	Checkpoints interface {
		LoadCheckpoint(ctx context.Context, name string) (es.Position, error)
		SaveCheckpoint(ctx context.Context, name string, pos es.Position) error
	}
}

func (l SharedLog) LoadCheckpoint(ctx context.Context, name string) (es.Position, error) {
	return l.Checkpoints.LoadCheckpoint(ctx, name)
}

func (l SharedLog) SaveCheckpoint(ctx context.Context, name string, pos es.Position) error {
	return l.Checkpoints.SaveCheckpoint(ctx, name, pos)
}
