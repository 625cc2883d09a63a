package relay_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
	"github.com/sois-ai/chat-agent-gateway/infra/relay"
)

// relayPair is two processes' ends of one relay: what one publishes, the
// other's readers get.
type relayPair struct {
	from commands.Relay
	to   interface {
		Subscribe(id string) (<-chan commands.Delta, func())
	}
}

// TestRelayContract runs the port's promises against each adapter: a
// reader gets its conversation's text and no other's, a reader that left
// gets nothing, and a window as long as the largest a step sends (every
// byte needing escape) arrives whole.
func TestRelayContract(t *testing.T) {
	pairs := map[string]func(t *testing.T) relayPair{
		"local": func(*testing.T) relayPair {
			l := relay.NewLocal()
			return relayPair{l, l}
		},
		"postgres, across processes": func(t *testing.T) relayPair {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			pool, err := pg.Connect(ctx, pgtest.NewDatabase(t), pg.Options{MaxConns: 3})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			a, b := pg.NewWakeups(pool, slog.Default()), pg.NewWakeups(pool, slog.Default())
			go a.Run(ctx)
			go b.Run(ctx)
			<-a.Listening()
			<-b.Listening()
			return relayPair{relay.NewShared(a), relay.NewShared(b)}
		},
	}
	for name, mk := range pairs {
		t.Run(name, func(t *testing.T) {
			p := mk(t)
			mine, stop := p.to.Subscribe("conv-1")
			defer stop()
			other, stopOther := p.to.Subscribe("conv-2")
			window := strings.Repeat("\x01\"<", 1000/3)
			for i, text := range []string{"Hello", "Hello there", window} {
				p.from.Publish(commands.Delta{ConversationID: "conv-1", Step: 2, Attempt: 1, Text: text})
				select {
				case d := <-mine:
					if d.Text != text || d.Step != 2 || d.Attempt != 1 {
						t.Fatalf("delta %d arrived as %+v", i, d)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("delta %d (%d bytes) did not arrive", i, len(text))
				}
			}
			select {
			case d := <-other:
				t.Fatalf("a reader of another conversation got %+v", d)
			case <-time.After(100 * time.Millisecond):
			}
			stopOther()
			p.from.Publish(commands.Delta{ConversationID: "conv-2", Text: "gone"})
			select {
			case d, ok := <-other:
				if ok {
					t.Fatalf("a reader that left got %+v", d)
				}
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}
