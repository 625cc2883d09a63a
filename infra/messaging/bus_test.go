package messaging

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// ping is the command the contract suite sends.
type ping struct {
	ID   string `json:"id"`
	Fail int    `json:"fail"` // fail this many times before succeeding
}

// transportFactory makes a transport; a shared backend (one database, one
// NATS server) lets two buses compete for the same commands.
type transportFactory struct {
	name   string
	shared bool
	make   func(t *testing.T) Transport
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func factories(t *testing.T) []transportFactory {
	fs := []transportFactory{{name: "gochannel", make: func(t *testing.T) Transport { return GoChannel(quiet) }}}
	dbURL := pgtest.NewDatabase(t)
	fs = append(fs, transportFactory{name: "postgres", shared: true, make: func(t *testing.T) Transport {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := pg.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		tr, err := Postgres(pool, PostgresOptions{Poll: 20 * time.Millisecond}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}})
	natsURL := os.Getenv("TEST_NATS_URL")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err == nil || os.Getenv("TEST_NATS_URL") != "" {
		if c != nil {
			c.Close()
		}
		fs = append(fs, transportFactory{name: "nats", shared: true, make: func(t *testing.T) Transport {
			tr, err := NATS(natsURL, NATSOptions{AckWait: 10 * time.Second, RetryDelay: 100 * time.Millisecond}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			// The server keeps streams between runs: give each test its own
			// topics and delete their streams afterwards.
			tr.TopicPrefix = "test_" + uuid.NewString()[:8] + "_"
			prefix := tr.TopicPrefix
			t.Cleanup(func() { deleteNATSStreams(t, natsURL, prefix) })
			return tr
		}})
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("NATS is required in CI but unreachable at 127.0.0.1:4222")
	} else {
		t.Log("NATS unreachable at 127.0.0.1:4222: the nats transport is not tested (set TEST_NATS_URL)")
	}
	return fs
}

// startBus runs a bus with a ping handler until the test ends.
func startBus(t *testing.T, tr Transport, workers int, handle func(ctx context.Context, p *ping) error) *Bus {
	t.Helper()
	b, err := New(tr, Options{Workers: workers, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := Handle(b, "Ping"+uuid.NewString()[:8], handle); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); _ = b.Close(); <-done })
	select {
	case <-b.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("bus did not start")
	}
	return b
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransports is the messaging port's contract suite, run against every
// transport: every command sent is handled, concurrency stays within the
// workers, a failing handler is tried again, and two instances on one
// backend share the work without handling a command twice.
func TestTransports(t *testing.T) {
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Run("every command is handled", func(t *testing.T) {
				var mu sync.Mutex
				seen := map[string]int{}
				var running, peak atomic.Int32
				// One topic per subtest: handler names are unique, and the
				// topic is derived from the command type, so use a fresh bus
				// on a fresh transport.
				tr := f.make(t)
				b := startBus(t, tr, 3, func(ctx context.Context, p *ping) error {
					n := running.Add(1)
					for {
						old := peak.Load()
						if n <= old || peak.CompareAndSwap(old, n) {
							break
						}
					}
					time.Sleep(5 * time.Millisecond)
					running.Add(-1)
					mu.Lock()
					seen[p.ID]++
					mu.Unlock()
					return nil
				})
				const n = 60
				for i := 0; i < n; i++ {
					if err := b.Send(context.Background(), &ping{ID: uuid.NewString()}); err != nil {
						t.Fatal(err)
					}
				}
				waitFor(t, "every command", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == n })
				if p := peak.Load(); p > 3 {
					t.Errorf("%d commands ran at once with 3 workers", p)
				}
			})
			t.Run("a failing handler is tried again", func(t *testing.T) {
				var calls atomic.Int32
				var done atomic.Bool
				b := startBus(t, f.make(t), 2, func(ctx context.Context, p *ping) error {
					if calls.Add(1) <= int32(p.Fail) {
						return errors.New("transient")
					}
					done.Store(true)
					return nil
				})
				if err := b.Send(context.Background(), &ping{ID: uuid.NewString(), Fail: 2}); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the third try", done.Load)
				if c := calls.Load(); c != 3 {
					t.Errorf("handler ran %d times, want 3 (two failures, then success)", c)
				}
			})
		})
	}
}

func deleteNATSStreams(t *testing.T, url, prefix string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return
	}
	for name := range js.StreamNames() {
		if strings.HasPrefix(name, prefix) {
			_ = js.DeleteStream(name)
		}
	}
}

// An API-only instance registers its handlers but never runs the bus; it
// must still stop at once, not after the router's close timeout.
func TestBusThatNeverRanClosesAtOnce(t *testing.T) {
	b, err := New(GoChannel(quiet), Options{Workers: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := Handle(b, "PingIdle", func(context.Context, *ping) error { return nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		if err := b.StopHandlers(); err != nil {
			done <- err
			return
		}
		done <- b.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a bus that never ran took more than 5s to close")
	}
}
