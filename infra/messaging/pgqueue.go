package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	fastjson "github.com/segmentio/encoding/json"

	"github.com/sois-ai/chat-agent-gateway/infra/pg"
)

// The Postgres queue keeps watermill-sql's tables and publisher (one table
// per command type, one row per command) and takes commands with a
// subscriber of its own, built for two things watermill-sql's does not do:
//
//   - It holds no transaction. A command is taken and removed by one
//     statement (DELETE … RETURNING, skipping rows another instance is
//     taking), which is the moment it counts as acknowledged, as on the
//     other transports without AckAfterHandling: the event store, not the
//     queue, makes work durable, and the reaper derives a lost command
//     again from the events. A subscriber that kept a transaction open
//     while the command waited for a worker held back the snapshot horizon
//     every reader of the event log waits on, and with it every projection
//     and saga of every instance.
//   - It does not poll while idle. It sleeps until a wake-up says a command
//     was queued (in this process, or by another one through pg.Wakeups),
//     with a slow poll only as a safety net.

// queueBatch is how many commands one take removes at most: those not yet
// started when the process dies are lost until the reaper resumes their
// conversations, so it stays small.
const queueBatch = 16

// takeSQL removes and returns up to $1 commands after offset $2, oldest
// first.
const takeSQL = `
	DELETE FROM %[1]s WHERE "offset" IN (
		SELECT "offset" FROM %[1]s WHERE acked = false AND "offset" > $2
		ORDER BY "offset" LIMIT $1
		FOR UPDATE SKIP LOCKED)
	RETURNING "offset", uuid, payload, metadata`

// A queue table is a churn of inserts and deletes, and until vacuum
// reclaims them the deleted rows stay in its index: a take that starts at
// the lowest offset walks over every command taken since the last vacuum,
// and gets slower the busier the queue is. So a subscriber starts its
// takes a little below the highest offset it has taken (offsets are handed
// out when a command is inserted, and a command whose insert commits late
// has a lower one than commands already taken: takeWindow leaves room for
// that), and from the start of the table once in a while and whenever it
// finds nothing, so a command committed later than that is still taken.
const (
	takeWindow    = 1000
	fullTakeEvery = 5 * time.Second
)

type pgQueue struct {
	pool   *pgxpool.Pool
	schema wsql.PostgreSQLQueueSchema
	wake   *pg.Wakeups
	poll   time.Duration
	logger *slog.Logger
	pub    message.Publisher

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
	inited  map[string]bool
}

func wakeTopic(topic string) string { return "cmd:" + topic }

// Subscribe streams topic's commands, one at a time: the next is sent when
// the router has acknowledged the last, which it does when a worker takes
// it.
func (q *pgQueue) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := q.init(ctx, topic); err != nil {
		return nil, err
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, fmt.Errorf("subscribe to %s: the subscriber is closed", topic)
	}
	q.wg.Add(1)
	q.mu.Unlock()
	out := make(chan *message.Message)
	go func() {
		defer q.wg.Done()
		defer close(out)
		q.consume(ctx, topic, out)
	}()
	return out, nil
}

func (q *pgQueue) init(ctx context.Context, topic string) error {
	q.mu.Lock()
	done := q.inited[topic]
	q.mu.Unlock()
	if done {
		return nil
	}
	queries, err := q.schema.SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams{Topic: topic})
	if err != nil {
		return err
	}
	for _, qr := range queries {
		if _, err := q.pool.Exec(ctx, qr.Query, qr.Args...); err != nil {
			return fmt.Errorf("create the queue of %s: %w", topic, err)
		}
	}
	q.mu.Lock()
	q.inited[topic] = true
	q.mu.Unlock()
	return nil
}

func (q *pgQueue) consume(ctx context.Context, topic string, out chan<- *message.Message) {
	take := fmt.Sprintf(takeSQL, q.schema.MessagesTable(topic))
	failures := 0
	var high int64 // the highest offset taken
	fullAt := time.Now()
	for {
		wake := q.wake.Wait(wakeTopic(topic))
		from := max(high-takeWindow, 0)
		if time.Since(fullAt) >= fullTakeEvery {
			from, fullAt = 0, time.Now()
		}
		msgs, top, err := q.take(ctx, take, from)
		if err == nil && len(msgs) == 0 && from > 0 {
			// Nothing near the top: look from the start before sleeping.
			fullAt = time.Now()
			msgs, top, err = q.take(ctx, take, 0)
		}
		high = max(high, top)
		if err != nil {
			if ctx.Err() != nil || q.isClosing() {
				return
			}
			failures++
			q.logger.Warn("could not take commands from the queue", "topic", topic, "err", err)
			if !q.sleep(ctx, time.Duration(min(failures, 20))*100*time.Millisecond, nil) {
				return
			}
			continue
		}
		failures = 0
		for i, m := range msgs {
			if !q.deliver(ctx, topic, m, out) {
				q.requeue(topic, msgs[i+1:])
				return
			}
		}
		if len(msgs) == queueBatch {
			continue
		}
		if !q.sleep(ctx, q.poll, wake) {
			return
		}
	}
}

// take removes up to queueBatch commands after offset from and returns
// them with the highest offset among them.
func (q *pgQueue) take(ctx context.Context, sql string, from int64) ([]*message.Message, int64, error) {
	rows, err := q.pool.Query(ctx, sql, queueBatch, from)
	if err != nil {
		return nil, 0, err
	}
	type row struct {
		offset int64
		msg    *message.Message
	}
	var (
		got             []row
		offset          int64
		id              string
		payload, mdJSON []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&offset, &id, &payload, &mdJSON}, func() error {
		m := message.NewMessage(id, append([]byte(nil), payload...))
		if len(mdJSON) > 0 {
			if err := fastjson.Unmarshal(mdJSON, &m.Metadata); err != nil {
				return fmt.Errorf("command %s: metadata: %w", id, err)
			}
		}
		got = append(got, row{offset: offset, msg: m})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(got, func(a, b row) int { return int(a.offset - b.offset) })
	out := make([]*message.Message, len(got))
	var top int64
	for i, r := range got {
		out[i] = r.msg
		top = max(top, r.offset)
	}
	return out, top, nil
}

// deliver hands one command to the router and waits for its verdict. A
// command the router refuses (nack) is offered again. When the queue
// stops first, deliver has taken care of m either way (false): a command
// not yet handed over goes back into the queue; one the router holds is
// the router's (its message is no longer ours to touch, and if its
// handler does not finish, the reaper resumes the conversation).
func (q *pgQueue) deliver(ctx context.Context, topic string, m *message.Message, out chan<- *message.Message) bool {
	for {
		mctx, cancel := context.WithCancel(ctx)
		m.SetContext(mctx)
		select {
		case out <- m:
		case <-ctx.Done():
			cancel()
			q.requeue(topic, []*message.Message{m})
			return false
		case <-q.closing:
			cancel()
			q.requeue(topic, []*message.Message{m})
			return false
		}
		select {
		case <-m.Acked():
			cancel()
			return true
		case <-m.Nacked():
			cancel()
			m = m.Copy()
			if !q.sleep(ctx, 100*time.Millisecond, nil) {
				q.requeue(topic, []*message.Message{m})
				return false
			}
		case <-ctx.Done():
			cancel()
			return false
		case <-q.closing:
			cancel()
			return false
		}
	}
}

// requeue puts commands taken but not handed over back into the queue,
// at shutdown; if that fails they are lost like a crash would lose them,
// and the reaper resumes their conversations.
func (q *pgQueue) requeue(topic string, msgs []*message.Message) {
	if len(msgs) == 0 {
		return
	}
	// The publisher writes with each message's context, which the
	// shutdown has cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range msgs {
		m.SetContext(ctx)
	}
	if err := q.pub.Publish(topic, msgs...); err != nil {
		q.logger.Warn("could not put commands back into the queue", "topic", topic, "count", len(msgs), "err", err)
	}
}

func (q *pgQueue) isClosing() bool {
	select {
	case <-q.closing:
		return true
	default:
		return false
	}
}

// sleep waits for d, a wake-up or the end; false means the end.
func (q *pgQueue) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-q.closing:
		return false
	case <-wake:
	case <-t.C:
	}
	return true
}

func (q *pgQueue) Close() error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.closing)
	}
	q.mu.Unlock()
	q.wg.Wait()
	return nil
}

// wakingPublisher wakes the topic's subscribers after each publish.
type wakingPublisher struct {
	message.Publisher
	wake *pg.Wakeups
}

func (p wakingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	p.wake.Notify(wakeTopic(topic), "")
	return nil
}
