package pg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Wakeups tell the gateway processes sharing a database that something
// they wait for has happened (events appended, commands queued), so that
// nothing has to poll the database to find out: an idle gateway sends
// almost no statements, and a busy one learns of another instance's work
// at once. It is Postgres LISTEN/NOTIFY, carrying only a topic and a short
// hint (an event position), never the data itself: whoever wakes reads
// the tables as usual, and a lost notification costs only the delay until
// the reader's fallback poll.
//
// Local waiters are woken at once, in process. Notifications to the other
// processes are sent from one goroutine, at most one statement per
// notifyEvery, carrying the latest hint of each topic, so a burst of
// appends costs a few statements, not one per append.
type Wakeups struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	channel  string
	instance string

	mu       sync.Mutex
	signals  map[string]chan struct{}
	remote   map[string][]func(hint string)
	prefixed map[string][]func(topic, hint string)
	pending  map[string]string
	sending  bool
	listened chan struct{}
}

// notifyEvery spaces the NOTIFY statements of a busy process.
const notifyEvery = 5 * time.Millisecond

// wakeChannel is the one LISTEN channel of a database's gateways.
const wakeChannel = "gateway_wakeups"

// NewWakeups returns wake-ups over pool; Run must be running for other
// processes' notifications to arrive.
func NewWakeups(pool *pgxpool.Pool, logger *slog.Logger) *Wakeups {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Wakeups{pool: pool, logger: logger, channel: wakeChannel, instance: hex.EncodeToString(b[:]),
		signals: map[string]chan struct{}{}, remote: map[string][]func(string){}, pending: map[string]string{},
		prefixed: map[string][]func(string, string){},
		listened: make(chan struct{})}
}

// Wait returns a channel closed at the next wake-up of topic, local or
// from another process.
func (w *Wakeups) Wait(topic string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.signals[topic]
	if ch == nil {
		ch = make(chan struct{})
		w.signals[topic] = ch
	}
	return ch
}

// OnRemote calls fn with the hint of every notification of topic from
// another process, before its waiters wake.
func (w *Wakeups) OnRemote(topic string, fn func(hint string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.remote[topic] = append(w.remote[topic], fn)
}

// OnRemotePrefix calls fn with the topic and hint of every notification
// from another process whose topic starts with prefix (topics made per
// thing, such as one per conversation).
func (w *Wakeups) OnRemotePrefix(prefix string, fn func(topic, hint string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prefixed[prefix] = append(w.prefixed[prefix], fn)
}

func (w *Wakeups) wakeLocked(topic string) {
	if ch := w.signals[topic]; ch != nil {
		close(ch)
		delete(w.signals, topic)
	}
}

// Notify wakes topic's waiters here at once and tells the other processes
// soon after, with hint (the latest hint of a topic wins).
func (w *Wakeups) Notify(topic, hint string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wakeLocked(topic)
	w.pending[topic] = hint
	if !w.sending {
		w.sending = true
		go w.send()
	}
}

// send sends what is pending, one statement a round, until nothing is.
func (w *Wakeups) send() {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.sending = false
			w.mu.Unlock()
			return
		}
		payloads := make([]string, 0, len(w.pending))
		for topic, hint := range w.pending {
			payloads = append(payloads, w.instance+"|"+topic+"|"+hint)
		}
		clear(w.pending)
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := w.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, w.channel, payloads)
		cancel()
		if err != nil && w.logger != nil {
			w.logger.Debug("could not notify other gateway processes", "err", err)
		}
		time.Sleep(notifyEvery)
	}
}

// Listening is closed once the first LISTEN is in place.
func (w *Wakeups) Listening() <-chan struct{} { return w.listened }

// Run listens until ctx ends, on a connection of its own, reconnecting
// after failures. After every (re)connection it wakes every topic: a
// notification may have been missed while it was away.
func (w *Wakeups) Run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		err := w.listen(ctx, &first)
		if ctx.Err() != nil {
			return
		}
		if w.logger != nil {
			w.logger.Warn("lost the wake-up connection; reconnecting", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (w *Wakeups) listen(ctx context.Context, first *bool) error {
	conn, err := pgx.ConnectConfig(ctx, w.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{w.channel}.Sanitize()); err != nil {
		return err
	}
	w.mu.Lock()
	for topic := range w.signals {
		w.wakeLocked(topic)
	}
	if *first {
		close(w.listened)
		*first = false
	}
	w.mu.Unlock()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, rest, ok := strings.Cut(n.Payload, "|")
		if !ok || from == w.instance {
			continue
		}
		topic, hint, _ := strings.Cut(rest, "|")
		w.mu.Lock()
		fns := append([]func(string){}, w.remote[topic]...)
		var pfns []func(string, string)
		for prefix, fs := range w.prefixed {
			if strings.HasPrefix(topic, prefix) {
				pfns = append(pfns, fs...)
			}
		}
		w.mu.Unlock()
		for _, fn := range fns {
			fn(hint)
		}
		for _, fn := range pfns {
			fn(topic, hint)
		}
		w.mu.Lock()
		w.wakeLocked(topic)
		w.mu.Unlock()
	}
}
