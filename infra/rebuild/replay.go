package rebuild

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Reader is the part of the event store a replay reads.
type Reader interface {
	ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
}

// DefaultBatch is how many events a replay reads at a time.
const DefaultBatch = 1000

// Replay feeds the events of the log after from, up to and including
// until (to the end of the log as ReadAll sees it when until is es.Start),
// to each projection, in log order, and returns the position of the last
// event fed (from when there was none) and how many events it fed. It
// reads each batch once for all projections, reads the next batch while
// the projections apply the current one, and lets the projections apply a
// batch concurrently (each in its own transaction). A bound keeps a replay
// from chasing a log that grows as fast as it is read. progress, when not
// nil, is told the size of every batch applied.
//
// Projections skip what they already hold (their checkpoint), so feeding
// an event twice is harmless; each projection's checkpoint moves only with
// batches that held events it folds.
func Replay(ctx context.Context, log Reader, from, until es.Position, batch int, progress func(n int), ps ...projections.Projection) (es.Position, int64, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	g, ctx := errgroup.WithContext(ctx)
	batches := make(chan []es.Recorded, 2)
	g.Go(func() error {
		defer close(batches)
		after := from
		for {
			b, err := log.ReadAll(ctx, after, batch)
			if err != nil {
				return fmt.Errorf("read the log after %s: %w", after, err)
			}
			bounded := until != es.Start
			if bounded {
				for len(b) > 0 && until.Less(b[len(b)-1].Position) {
					b = b[:len(b)-1]
				}
			}
			if len(b) == 0 {
				return nil
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			after = b[len(b)-1].Position
			if bounded && !after.Less(until) {
				return nil
			}
		}
	})
	last, n := from, int64(0)
	g.Go(func() error {
		for b := range batches {
			ag, actx := errgroup.WithContext(ctx)
			for _, p := range ps {
				ag.Go(func() error {
					if err := p.Apply(actx, b); err != nil {
						return fmt.Errorf("projection %s: events %s to %s: %w", p.Name(), b[0].Position, b[len(b)-1].Position, err)
					}
					return nil
				})
			}
			if err := ag.Wait(); err != nil {
				return err
			}
			last, n = b[len(b)-1].Position, n+int64(len(b))
			if progress != nil {
				progress(len(b))
			}
		}
		return nil
	})
	err := g.Wait()
	return last, n, err
}

// ReadThrough reads the whole log in batches and does nothing with it:
// the baseline a replay's speed is measured against.
func ReadThrough(ctx context.Context, log Reader, batch int) (events int64, took time.Duration, err error) {
	if err := eventstore.ValidateLimit(batch); err != nil {
		return 0, 0, err
	}
	began := time.Now()
	after := es.Start
	for {
		b, err := log.ReadAll(ctx, after, batch)
		if err != nil {
			return events, time.Since(began), err
		}
		if len(b) == 0 {
			return events, time.Since(began), nil
		}
		events += int64(len(b))
		after = b[len(b)-1].Position
	}
}
