package messaging

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// A queue stopped while the router holds one command of a batch gives the
// rest of the batch back, and not the command the router holds: that one
// is the router's, and offering it again would run it twice.
func TestPostgresQueueStopsMidBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pg.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	open := func() (Transport, message.Subscriber) {
		tr, err := Postgres(pool, PostgresOptions{Poll: 20 * time.Millisecond}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := tr.Subscriber("ping")
		if err != nil {
			t.Fatal(err)
		}
		return tr, sub
	}
	const topic, n = "commands.Ping", 20
	first, sub := open()
	for i := range n {
		if err := first.Publisher.Publish(topic, message.NewMessage(fmt.Sprint(i), []byte(fmt.Sprintf(`{"n":%d}`, i)))); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	held := <-msgs // the router holds it, and never answers
	_ = held.Context()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}

	_, again := open()
	defer again.Close()
	rest, err := again.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for len(seen) < n-1 {
		select {
		case m := <-rest:
			seen[m.UUID]++
			m.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("after the restart %d of the %d commands not handed over came back", len(seen), n-1)
		}
	}
	select {
	case m := <-rest:
		seen[m.UUID]++
		m.Ack()
	case <-time.After(300 * time.Millisecond):
	}
	if seen[held.UUID] != 0 {
		t.Errorf("the command the router held was offered again")
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("command %s offered %d times", id, k)
		}
	}
}
