package liveness_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/infra/liveness"
	"github.com/sois-ai/chat-agent-gateway/infra/migrations"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

func TestLocal(t *testing.T) {
	l := liveness.Local{Self: "me"}
	if ok, _ := l.Alive(t.Context(), "me"); !ok {
		t.Error("this process is not alive")
	}
	if ok, _ := l.Alive(t.Context(), "my-previous-life"); ok {
		t.Error("another instance of a process that works alone is alive")
	}
}

// TestPostgres: an instance that beats is alive; one that stops cleanly is
// gone at once; one that stops beating (killed) is gone after the timeout.
func TestPostgres(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrations.Up(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	beat, timeout := 50*time.Millisecond, 300*time.Millisecond
	observer := &liveness.Postgres{Pool: pool, Self: "observer", Beat: beat, Timeout: timeout}
	alive := func(id string) bool {
		time.Sleep(beat) // past the observer's cache
		ok, err := observer.Alive(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	ctx, stop := context.WithCancel(t.Context())
	a := &liveness.Postgres{Pool: pool, Self: "a", Beat: beat, Timeout: timeout}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * timeout)
	if !alive("a") {
		t.Fatal("a beating instance is not alive")
	}
	if alive("never-started") {
		t.Error("an instance that never started is alive")
	}
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for alive("a") {
		if time.Now().After(deadline) {
			t.Fatal("an instance that stopped cleanly is still alive after 5s")
		}
	}

	// Killed: its row stays, its beats stop.
	if _, err := pool.Exec(t.Context(), `INSERT INTO gateway_instances (id) VALUES ('killed')`); err != nil {
		t.Fatal(err)
	}
	if !alive("killed") {
		t.Fatal("an instance that beat just now is not alive")
	}
	time.Sleep(timeout + beat)
	if alive("killed") {
		t.Error("an instance silent for longer than the timeout is alive")
	}

	// Both departures are reported, once.
	gone, err := observer.Departed(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	if !slices.Equal(gone, []string{"a", "killed"}) {
		t.Errorf("departed %v, want [a killed]", gone)
	}
	if again, _ := observer.Departed(t.Context()); len(again) != 0 {
		t.Errorf("departed again: %v", again)
	}
}
