package rebuild_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/bolt"
	pgstore "github.com/sois-ai/chat-agent-gateway/infra/eventstore/postgres"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
	"github.com/sois-ai/chat-agent-gateway/infra/rebuild"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
)

func connect(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pg.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return url, pool
}

// Every table the migrations create for a read model belongs to one
// entry of the registry, so a rebuild moves all of it. A new read model's
// tables fail this test until the read model is listed in ReadModels.
func TestEveryReadModelTableIsListed(t *testing.T) {
	_, pool := connect(t)
	rows, err := pool.Query(context.Background(), `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	listed := map[string]string{}
	for _, m := range rebuild.ReadModels() {
		for _, table := range m.Tables {
			if other, dup := listed[table]; dup {
				t.Errorf("table %s is listed for %s and %s", table, other, m.Name)
			}
			listed[table] = m.Name
		}
	}
	infrastructure := []string{"events", "streams", "subscription_checkpoints", "projection_checkpoints", "goose_db_version",
		"gateway_instances"} // live instances' heartbeats: no read model
	for _, table := range tables {
		if _, ok := listed[table]; !ok && !slices.Contains(infrastructure, table) && !strings.HasPrefix(table, "watermill_") {
			t.Errorf("table %s is not listed for any read model in rebuild.ReadModels: a rebuild would leave it as it is", table)
		}
		delete(listed, table)
	}
	for table, m := range listed {
		t.Errorf("read model %s lists table %s, which the migrations do not create", m, table)
	}
}

func TestSelect(t *testing.T) {
	all, err := rebuild.Select(nil)
	if err != nil || len(all) != len(rebuild.ReadModels()) {
		t.Fatalf("Select(nil) = %d, %v", len(all), err)
	}
	got, err := rebuild.Select([]string{"org", "conversations", "org"})
	if err != nil || len(got) != 2 || got[0].Name != "conversations" || got[1].Name != "org" {
		t.Fatalf("Select = %+v, %v", got, err)
	}
	if _, err := rebuild.Select([]string{"conversations", "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Select of an unknown name: %v", err)
	}
}

// writer appends conversations in many small appends that interleave:
// each round opens one conversation, runs a step of the one before and
// resolves the one before that.
type writer struct {
	store  eventstore.Store
	ws     string
	user   string
	ids    []string
	events atomic.Int64
	// last is where the last append landed.
	mu   sync.Mutex
	last es.Position
}

func (w *writer) add(ctx context.Context, stream string, facts ...es.Fact) error {
	id := strings.TrimPrefix(stream, "conversation-")
	var evs []es.Event
	for _, f := range facts {
		ev, err := es.NewEvent(uuid.NewString(), f, es.Metadata{CorrelationID: id, Actor: es.Actor{Kind: "agent"}, OccurredAt: time.Now().UTC().Truncate(time.Microsecond)})
		if err != nil {
			return err
		}
		evs = append(evs, ev)
	}
	res, err := w.store.Append(ctx, stream, es.AnyVersion, evs...)
	if err != nil {
		return err
	}
	w.events.Add(int64(len(evs)))
	w.mu.Lock()
	if w.last.Less(res.Position) {
		w.last = res.Position
	}
	w.mu.Unlock()
	return nil
}

func (w *writer) round(ctx context.Context) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	id := uuid.NewString()
	if err := w.add(ctx, conversation.Stream(id), &conversation.Opened{ConversationID: id, WorkspaceID: w.ws, UserID: w.user,
		APIKeyID: w.user, Message: "hello", OpenedAt: now, ExpiresAt: now.Add(conversation.Lifetime)}); err != nil {
		return err
	}
	w.ids = append(w.ids, id)
	if n := len(w.ids); n >= 2 {
		if err := w.add(ctx, conversation.Stream(w.ids[n-2]), &conversation.ProcessingStarted{StartedAt: now},
			&conversation.ModelStepStarted{Step: 1, StartedAt: now},
			&conversation.ModelStepCompleted{Step: 1, Model: "m", Usage: agent.Usage{InputTokens: 10, OutputTokens: 2}, CompletedAt: now}); err != nil {
			return err
		}
	}
	if n := len(w.ids); n >= 3 {
		if err := w.add(ctx, conversation.Stream(w.ids[n-3]), &conversation.Resolved{Reply: "done " + w.ids[n-3], ResolvedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

func snapshot(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range rebuild.ReadModels() {
		for _, table := range m.Tables {
			var doc string
			if err := pool.QueryRow(context.Background(),
				`SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text)::text, '[]') FROM `+table+` t`).Scan(&doc); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			out[table] = doc
		}
	}
	return out
}

// A rebuild while events keep arriving and the live projectors keep
// applying them loses none: after the switch the live projectors go on
// from the new tables without a gap, and the result equals a rebuild of
// the quiet log.
func TestRebuildUnderLoad(t *testing.T) {
	url, live := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store := pgstore.New(live)
	w := &writer{store: store, ws: uuid.NewString(), user: uuid.NewString()}
	// A workspace for the identity read model.
	wsFacts, err := workspace.Create(w.ws, "Acme", w.user, "o@acme.test", "hash", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.add(ctx, workspace.Stream(w.ws), wsFacts...); err != nil {
		t.Fatal(err)
	}
	for range 60 {
		if err := w.round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var ps []projections.Projection
	for _, m := range rebuild.ReadModels() {
		ps = append(ps, m.New(live))
	}
	runner := projections.NewRunner(store, projections.Options{Poll: 10 * time.Millisecond, Batch: 20, Logger: slog.New(slog.DiscardHandler)}, ps...)
	if err := runner.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stopRunner := context.WithCancel(ctx)
	var runnerDone sync.WaitGroup
	runnerDone.Add(1)
	go func() { defer runnerDone.Done(); runner.Run(runCtx) }()
	defer func() { stopRunner(); runnerDone.Wait() }()

	stop := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				writerErr <- nil
				return
			default:
			}
			if err := w.round(ctx); err != nil {
				writerErr <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	rbPool, err := pg.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer rbPool.Close()
	var progress bytes.Buffer
	// Small batches make the replay slow enough for the live projectors
	// to get ahead of it, so the switch has something to catch up.
	res, err := rebuild.Postgres(ctx, rbPool, nil, rebuild.Options{Batch: 5, Progress: rebuild.NewProgress(&progress, "rebuild", time.Hour)})
	time.Sleep(200 * time.Millisecond)
	close(stop)
	if werr := <-writerErr; werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if err != nil {
		t.Fatalf("rebuild under load: %v", err)
	}
	t.Logf("rebuild: %d events replayed, %d caught up before the switch, %d in it (%s); %d events written in all\n%s",
		res.Events, res.CaughtUp, res.InSwitch, res.Switch, w.events.Load(), progress.String())
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	// Not WaitForHead: the store's head hides appends behind any long
	// transaction of the server (other tests'), the last append does not.
	if err := runner.WaitFor(wait, w.last); err != nil {
		t.Fatalf("the live projectors did not catch up after the switch: %v (%+v)", err, runner.Statuses())
	}
	for _, s := range runner.Statuses() {
		if s.Error != "" {
			t.Errorf("projection %s: %s", s.Name, s.Error)
		}
	}
	stopRunner()
	runnerDone.Wait()
	got := snapshot(t, live)
	var n int
	if err := live.QueryRow(ctx, `SELECT count(*) FROM conversations`).Scan(&n); err != nil || n != len(w.ids) {
		t.Errorf("conversations rows: %d, %v; want %d", n, err, len(w.ids))
	}

	quiet, err := rebuild.Postgres(ctx, rbPool, nil, rebuild.Options{DropOld: true})
	if err != nil {
		t.Fatalf("rebuild of the quiet log: %v", err)
	}
	if quiet.CaughtUp != 0 || quiet.InSwitch != 0 || quiet.Backup != "" {
		t.Errorf("quiet rebuild: %+v", quiet)
	}
	want := snapshot(t, live)
	for table := range want {
		if got[table] != want[table] {
			t.Errorf("table %s after the rebuild under load differs from a rebuild of the quiet log:\n got  %.400s\n want %.400s", table, got[table], want[table])
		}
	}
	// The old tables of the first rebuild are kept, the scratch schemas gone.
	st, err := rebuild.Status(ctx, rbPool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Leftovers) != 1 || st.Leftovers[0] != res.Backup {
		t.Errorf("leftover schemas %v, want only %s", st.Leftovers, res.Backup)
	}
	for _, p := range st.Projections {
		if !p.Known || (p.Name == conversations.Name && (!p.Started || p.Lag != 0)) {
			t.Errorf("status of %s: %+v", p.Name, p)
		}
	}
	if st.Events != w.events.Load() {
		t.Errorf("status counts %d events, %d were written", st.Events, w.events.Load())
	}
}

func TestRebuildRefusesSecondRun(t *testing.T) {
	url, pool := connect(t)
	ctx := context.Background()
	other, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// Hold the rebuild lock as a running rebuild would.
	conn, err := other.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(0x67775f7265627569)); err != nil {
		t.Fatal(err)
	}
	if _, err := rebuild.Postgres(ctx, pool, nil, rebuild.Options{}); err == nil || !strings.Contains(err.Error(), "another rebuild") {
		t.Fatalf("second rebuild: %v", err)
	}
	var schemas int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild\_%'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("a refused rebuild left %d schemas (%v)", schemas, err)
	}
}

// Replay feeds in-memory projections what the runner would, from one read
// per batch.
func TestReplayMatchesCatchUp(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	w := &writer{store: st, ws: uuid.NewString(), user: uuid.NewString()}
	wsFacts, _ := workspace.Create(w.ws, "Acme", w.user, "o@acme.test", "hash", time.Now().UTC())
	if err := w.add(ctx, workspace.Stream(w.ws), wsFacts...); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if err := w.round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	viaRunner, viaReplay := conversations.NewMemory(), conversations.NewMemory()
	idsRunner, idsReplay := identity.NewMemory(), identity.NewMemory()
	if err := projections.NewRunner(st, projections.Options{Logger: slog.New(slog.DiscardHandler)}, viaRunner, idsRunner).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var fed int
	last, n, err := rebuild.Replay(ctx, st, es.Start, es.Start, 7, func(k int) { fed += k }, viaReplay, idsReplay)
	if err != nil || n != w.events.Load() || int64(fed) != n {
		t.Fatalf("Replay: %d events (progress %d), %v; %d written", n, fed, err, w.events.Load())
	}
	if head, _ := st.Head(ctx); last != head {
		t.Errorf("Replay stopped at %s, the head is %s", last, head)
	}
	for _, id := range w.ids {
		a, _, _ := viaRunner.Get(ctx, id)
		b, ok, _ := viaReplay.Get(ctx, id)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !ok || string(ja) != string(jb) {
			t.Errorf("conversation %s: runner %s, replay %s", id, ja, jb)
		}
	}
	if _, ok, _ := idsReplay.Workspace(ctx, w.ws); !ok {
		t.Errorf("the identity projection did not get the workspace")
	}
	// A bounded replay stops at its bound, inside a batch too.
	all, err := st.ReadAll(ctx, es.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	mid := all[9].Position
	if got, m, err := rebuild.Replay(ctx, st, es.Start, mid, 4, nil, conversations.NewMemory()); err != nil || m != 10 || got != mid {
		t.Errorf("Replay up to the 10th event: %s, %d, %v", got, m, err)
	}
	raw, _, err := rebuild.ReadThrough(ctx, st, 10)
	if err != nil || raw != n {
		t.Errorf("ReadThrough: %d, %v", raw, err)
	}
	// Nothing after the head: nothing fed.
	if again, m, err := rebuild.Replay(ctx, st, last, es.Start, 7, nil, viaReplay); err != nil || m != 0 || again != last {
		t.Errorf("Replay from the head: %s, %d, %v", again, m, err)
	}
}

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := rebuild.NewProgress(&b, "rebuild", time.Nanosecond)
	p.Start(10)
	p.Add(4)
	time.Sleep(time.Millisecond)
	p.Add(6)
	p.Finish(10, 2*time.Second)
	out := b.String()
	for _, want := range []string{"rebuild: replaying 10 events", "10/10 events (100%)", "rebuild: 10 events in 2s (5 events/s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
}
