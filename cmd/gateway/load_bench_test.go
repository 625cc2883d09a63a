package main

// The load benchmark: what a new user sees when many clients post messages
// to one key, on Postgres and on the embedded store, side by side with the
// speed of the database itself, measured in the same run:
//
//	go test -run '^$' -bench Load -benchtime 1x -timeout 60m ./cmd/gateway/
//
// It prints one table. Every figure is measured here, now, on this
// machine; the ratios compare the gateway with a bare one-row INSERT per
// request over the same HTTP client at the same concurrency. Settings:
// BENCH_CLIENTS (64), BENCH_SECONDS of load per run (8), BENCH_DRAIN, the
// longest wait for the backlog to resolve (300s), BENCH_HISTORY, the
// conversations a key has had before the history run (20000), and
// BENCH_RUNS, a comma-separated subset of insert, pg-accept, pg-agent,
// pg-history, embedded-agent, embedded-history.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/handlers/sagas"
	pgstore "github.com/sois-ai/chat-agent-gateway/infra/eventstore/postgres"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
)

// loadResult is one run's row of the table.
type loadResult struct {
	name           string
	accepted       int64
	refused        int64
	loadSeconds    float64
	p50, p99       time.Duration
	resolvedInLoad int64
	drain          time.Duration // until every accepted conversation ended (0: not measured)
	left           int64         // still unfinished when the drain wait ended
	failed         int64         // conversations that ended failed
	statements     int64         // SQL statements during load and drain
	appends        int64
	conflicts      int64
	events         int64
	idlePerSec     float64 // SQL statements per second once idle (-1: not measured)
	cpu            cpuTimes
}

func (r loadResult) acceptRate() float64 { return float64(r.accepted) / r.loadSeconds }
func (r loadResult) resolvedRate() float64 {
	return float64(r.resolvedInLoad) / r.loadSeconds
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// loadMessages are what the clients send, in turn: each resolves in two
// model steps and one tool call with the offline model.
var loadMessages = []string{
	`Create a task: Research competitor pricing for Q%d 2026`,
	`Create a contact for Ann Lee %d at Initech in London, ann%d@initech.example`,
	`Add a task to call the Initech buyer about order %d`,
	`Create a contact for Jo Park at Globex, jo.park%d@globex.example, +44 7700 900%d`,
}

func loadBody(n int) []byte {
	msg := loadMessages[n%len(loadMessages)]
	args := make([]any, strings.Count(msg, "%d"))
	for i := range args {
		args[i] = n
	}
	body, _ := json.Marshal(map[string]string{"message": fmt.Sprintf(msg, args...)})
	return body
}

func BenchmarkLoad(b *testing.B) {
	clients := envInt("BENCH_CLIENTS", 64)
	seconds := envInt("BENCH_SECONDS", 8)
	drainFor := time.Duration(envInt("BENCH_DRAIN", 300)) * time.Second
	history := envInt("BENCH_HISTORY", 20000)
	want := func(run string) bool {
		v := os.Getenv("BENCH_RUNS")
		return v == "" || slices.Contains(strings.Split(v, ","), run)
	}
	load := time.Duration(seconds) * time.Second
	tuneGC() // as `gateway serve` runs
	var results []loadResult
	add := func(r loadResult) {
		results = append(results, r)
		b.Logf("%s: %+v", r.name, r)
	}
	if want("insert") {
		add(benchInsert(b, clients, load))
	}
	for _, run := range []struct {
		name, backend string
		agent         bool
		history       int
	}{
		{"pg-accept", "postgres", false, 0},
		{"pg-agent", "postgres", true, 0},
		{"pg-history", "postgres", true, history},
		{"embedded-agent", "embedded", true, 0},
		{"embedded-history", "embedded", true, history},
	} {
		if !want(run.name) {
			continue
		}
		for _, r := range benchGateway(b, run.name, run.backend, run.agent, run.history, clients, load, drainFor) {
			add(r)
		}
	}
	printLoadTable(os.Stdout, results, clients)
}

func printLoadTable(w io.Writer, results []loadResult, clients int) {
	var base float64
	byName := map[string]loadResult{}
	for _, r := range results {
		byName[r.name] = r
		if r.name == "insert" {
			base = r.acceptRate()
		}
	}
	ratio := func(x float64) string {
		if base == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f", x/base)
	}
	fmt.Fprintf(w, "\nLoad benchmark, %d clients (same run, same machine)\n", clients)
	fmt.Fprintf(w, "%-17s %9s %8s %8s %8s %9s %8s %9s %10s %9s %8s %8s %8s %9s %14s\n",
		"run", "accept/s", "÷insert", "p50 ms", "p99 ms", "resolv/s", "÷insert", "drain s", "stmts/conv", "appends/c", "retry/a", "events/c",
		"failed", "idle st/s", "cpu µs/c go+pg")
	for _, r := range results {
		conv := float64(max(r.accepted, 1))
		resolved := float64(max(r.accepted-r.left, 1))
		drain := "-"
		if r.drain > 0 {
			drain = fmt.Sprintf("%.1f", r.drain.Seconds())
		}
		if r.left > 0 {
			drain = fmt.Sprintf(">%.0f(%d left)", r.drain.Seconds(), r.left)
		}
		idle := "-"
		if r.idlePerSec >= 0 {
			idle = fmt.Sprintf("%.1f", r.idlePerSec)
		}
		fmt.Fprintf(w, "%-17s %9.0f %8s %8.1f %8.1f %9.1f %8s %9s %10.1f %9.2f %8.3f %8.1f %8d %9s %14s\n",
			r.name, r.acceptRate(), ratio(r.acceptRate()), ms(r.p50), ms(r.p99), r.resolvedRate(), ratio(r.resolvedRate()),
			drain, float64(r.statements)/resolved, float64(r.appends)/conv, float64(r.conflicts)/conv,
			float64(r.events)/conv, r.failed, idle,
			cpuPerConversation(r, conv))
	}
	for _, backend := range []string{"pg", "embedded"} {
		h, ok := byName[backend+"-history"]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%s: accept rate of a key with history ÷ a fresh key's in the same store = %.2f", backend,
			h.acceptRate()/byName[backend+"-history-freshkey"].acceptRate())
		if fresh, ok := byName[backend+"-agent"]; ok {
			fmt.Fprintf(w, " (÷ a fresh key in a fresh store: %.2f)", h.acceptRate()/fresh.acceptRate())
		}
		fmt.Fprintln(w)
	}
}

// cpuPerConversation is the CPU one conversation cost this process and,
// for the runs on Postgres, the server ("-" on the embedded store, where
// the server's figure only shows other databases' connections ending).
func cpuPerConversation(r loadResult, conv float64) string {
	self := float64(r.cpu.self.Microseconds()) / conv
	if strings.HasPrefix(r.name, "embedded") {
		return fmt.Sprintf("%.0f+-", self)
	}
	return fmt.Sprintf("%.0f+%.0f", self, float64(r.cpu.postgres.Microseconds())/conv)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchInsert is the baseline: an HTTP handler that does one bare pgx
// single-row INSERT transaction per request.
func benchInsert(b *testing.B, clients int, load time.Duration) loadResult {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, withPoolSize(pgtest.NewDatabase(b), clients))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE accepted (id uuid PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := uuid.NewString()
		if _, err := pool.Exec(r.Context(), `INSERT INTO accepted (id, body) VALUES ($1, $2)`, id, body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"conversation_uuid": id, "status": "accepted"})
	}))
	defer srv.Close()
	cpu0 := readCPU()
	st := drive(srv.URL, nil, clients, load)
	return loadResult{name: "insert", accepted: st.accepted, refused: st.refused, loadSeconds: st.seconds,
		p50: st.p50, p99: st.p99, idlePerSec: -1, cpu: readCPU().sub(cpu0)}
}

func withPoolSize(url string, n int) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "pool_max_conns=" + strconv.Itoa(n)
}

type driveStats struct {
	accepted, refused int64
	seconds           float64
	p50, p99          time.Duration
	firstRefusal      string
}

// drive posts messages from clients goroutines for the given time.
func drive(url string, headers map[string]string, clients int, load time.Duration) driveStats {
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}
	var (
		accepted, refused atomic.Int64
		seq               atomic.Int64
		mu                sync.Mutex
		latencies         []time.Duration
		firstRefusal      string
		wg                sync.WaitGroup
	)
	began := time.Now()
	deadline := began.Add(load)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, url+"/api/agent", bytes.NewReader(loadBody(int(seq.Add(1)))))
				req.Header.Set("Content-Type", "application/json")
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					refused.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
					mine = append(mine, time.Since(t0))
					continue
				}
				refused.Add(1)
				mu.Lock()
				if firstRefusal == "" {
					firstRefusal = resp.Status + " " + string(body)
				}
				mu.Unlock()
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := driveStats{accepted: accepted.Load(), refused: refused.Load(), seconds: time.Since(began).Seconds(), firstRefusal: firstRefusal}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		st.p50, st.p99 = latencies[n/2], latencies[min(n-1, n*99/100)]
	}
	return st
}

// logCounter follows the event log on a reader of its own (so its reads
// are not counted as the gateway's) and counts events and conversations
// that ended.
type logCounter struct {
	events, ended, failed atomic.Int64
	stop                  chan struct{}
	done                  chan struct{}
}

type logReader interface {
	ReadAll(ctx context.Context, after es.Position, limit int) ([]es.Recorded, error)
	Head(ctx context.Context) (es.Position, error)
}

func followCount(r logReader, from es.Position) *logCounter {
	c := &logCounter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		pos := from
		for {
			batch, err := r.ReadAll(context.Background(), pos, 5000)
			if err == nil && len(batch) > 0 {
				for _, rec := range batch {
					c.events.Add(1)
					switch rec.Type {
					case "ConversationResolved":
						c.ended.Add(1)
					case "ConversationFailed":
						c.ended.Add(1)
						c.failed.Add(1)
					}
				}
				pos = batch[len(batch)-1].Position
				continue
			}
			select {
			case <-c.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return c
}

func (c *logCounter) Close() { close(c.stop); <-c.done }

func benchGateway(b *testing.B, name, backend string, withAgent bool, history, clients int, load, drainFor time.Duration) []loadResult {
	ctx := context.Background()
	env := map[string]string{
		"GATEWAY_BACKGROUND":  fmt.Sprint(withAgent),
		"GATEWAY_DATA_DIR":    b.TempDir(),
		"GATEWAY_ADMIN_TOKEN": "bench-admin",
		"GATEWAY_SECRET_KEY":  "0000000000000000000000000000000000000000000000000000000000000000",
		"GATEWAY_LOG_LEVEL":   "error",
	}
	if backend == "postgres" {
		env["DATABASE_URL"] = pgtest.NewDatabase(b)
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() (*App, *httptest.Server) {
		app, err := Build(ctx, cfg, logger, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := app.Start(ctx); err != nil {
			b.Fatal(err)
		}
		return app, httptest.NewServer(app.Handler)
	}
	app, srv := start()
	client := benchClient()
	token, key := benchCredentials(b, client, srv.URL)
	if history > 0 {
		keyID := keyIDOf(b, client, srv.URL, token, key)
		srv.Close()
		app.Close()
		writeHistory(b, cfg, keyID, history)
		began := time.Now()
		app, srv = start()
		b.Logf("%s: restarted on %d conversations of history in %s", name, history, time.Since(began).Round(time.Millisecond))
	}
	defer func() { srv.Close(); app.Close() }()

	// A reader of our own for counting ended conversations.
	var reader logReader = app.Store
	if backend == "postgres" {
		pool, err := pgxpool.New(ctx, withPoolSize(cfg.DatabaseURL, 2))
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		reader = pgstore.New(pool)
	}
	from, err := reader.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	counter := followCount(reader, from)
	defer counter.Close()

	measure := func(name, key string, drain bool) loadResult {
		stmts0, appends0, conflicts0 := app.SQL.Statements(), app.Cmds.Stats.Appends.Load(), app.Cmds.Stats.Conflicts.Load()
		cpu0, ended0, events0, failed0 := readCPU(), counter.ended.Load(), counter.events.Load(), counter.failed.Load()
		st := drive(srv.URL, map[string]string{"Authorization": "Bearer " + token, "X-Api-Key": key}, clients, load)
		if st.refused > 0 {
			b.Logf("%s: %d requests refused; the first: %s", name, st.refused, st.firstRefusal)
		}
		r := loadResult{name: name, accepted: st.accepted, refused: st.refused, loadSeconds: st.seconds, p50: st.p50, p99: st.p99,
			resolvedInLoad: counter.ended.Load() - ended0, idlePerSec: -1}
		if drain {
			drainStart := time.Now()
			for counter.ended.Load()-ended0 < st.accepted && time.Since(drainStart) < drainFor {
				time.Sleep(100 * time.Millisecond)
			}
			r.drain = time.Since(drainStart)
			r.left = max(0, st.accepted-(counter.ended.Load()-ended0))
		}
		r.cpu = readCPU().sub(cpu0)
		r.statements = app.SQL.Statements() - stmts0
		r.appends = app.Cmds.Stats.Appends.Load() - appends0
		r.conflicts = app.Cmds.Stats.Conflicts.Load() - conflicts0
		r.events = counter.events.Load() - events0
		r.failed = counter.failed.Load() - failed0
		return r
	}
	if history > 0 {
		// The same store, the same size: a key of its own first (then its
		// backlog resolves), then the key with the history.
		_, fresh := benchKey(b, client, srv.URL, token)
		first := measure(name+"-freshkey", fresh, withAgent)
		return []loadResult{first, measure(name, key, false)}
	}
	r := measure(name, key, withAgent)
	if backend == "postgres" {
		time.Sleep(3 * time.Second)
		s0 := app.SQL.Statements()
		time.Sleep(5 * time.Second)
		r.idlePerSec = float64(app.SQL.Statements()-s0) / 5
	}
	return []loadResult{r}
}

// keyIDOf finds the id of the key through the API.
func keyIDOf(b *testing.B, client *http.Client, base, token, key string) string {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/api-keys", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Keys []struct {
			ID        string `json:"id"`
			KeyPrefix string `json:"key_prefix"`
		} `json:"api_keys"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		b.Fatalf("list keys: %v: %s", err, raw)
	}
	for _, k := range out.Keys {
		if strings.HasPrefix(key, k.KeyPrefix) {
			return k.ID
		}
	}
	b.Fatalf("key not listed: %s", raw)
	return ""
}

// writeHistory appends n finished conversations on a key, with the budget
// facts the agent records for each (a reservation per model step and its
// charge), straight to the event store, as if the key had been used for a
// while this budget period.
func writeHistory(b *testing.B, cfg Config, keyID string, n int) {
	ctx := context.Background()
	app, err := Build(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	p, err := billing.PeriodAt(billing.Monthly, now)
	if err != nil {
		b.Fatal(err)
	}
	var k struct{ WorkspaceID, UserID string }
	recs, err := app.Store.ReadStream(ctx, "apikey-"+keyID, 0)
	if err != nil || len(recs) == 0 {
		b.Fatalf("read key %s: %v", keyID, err)
	}
	var created struct {
		WorkspaceID string `json:"workspace_id"`
		UserID      string `json:"user_id"`
	}
	_ = json.Unmarshal(recs[0].Data, &created)
	k.WorkspaceID, k.UserID = created.WorkspaceID, created.UserID
	event := func(f es.Fact, corr string) es.Event {
		ev, err := es.NewEvent(uuid.NewString(), f, es.Metadata{CorrelationID: corr, Actor: es.Actor{Kind: "agent"}, OccurredAt: now})
		if err != nil {
			b.Fatal(err)
		}
		return ev
	}
	budgetStream := billing.Stream(keyID, p)
	version := int64(0)
	if recs, err := app.Store.ReadStream(ctx, budgetStream, 0); err == nil && len(recs) > 0 {
		version = recs[len(recs)-1].StreamVersion
	}
	const chunk = 250
	for i := 0; i < n; i += chunk {
		var budget []es.Event
		var wg sync.WaitGroup
		errs := make(chan error, chunk)
		for j := i; j < min(n, i+chunk); j++ {
			id := uuid.NewString()
			resID := uuid.NewString()
			usage := agent.Usage{InputTokens: 2400, OutputTokens: 30}
			amount := billing.DefaultPrices().Cost("offline", usage)
			charge := &conversation.Charge{ReservationID: resID, Period: p.Key, AmountMicroUSD: int64(amount)}
			conv := []es.Event{
				event(&conversation.Opened{ConversationID: id, WorkspaceID: k.WorkspaceID, UserID: k.UserID, APIKeyID: keyID,
					Message: "Create a task: history " + strconv.Itoa(j), OpenedAt: now, ExpiresAt: now.Add(conversation.Lifetime)}, id),
				event(&conversation.ModelStepCompleted{Step: 1, Model: "offline", Content: "Done.", FinishReason: "stop",
					Usage: usage, CompletedAt: now, Charge: charge}, id),
				event(&conversation.Resolved{Reply: "Done.", ResolvedAt: now}, id),
			}
			budget = append(budget,
				event(&billing.Reserved{ReservationID: resID, ConversationID: id, CauseKind: billing.CauseModelStep, CauseRef: "step 1",
					Amount: amount * 4, ReservedAt: now}, id),
				event(&billing.Charged{ReservationID: resID, ConversationID: id, APIKeyID: keyID, WorkspaceID: k.WorkspaceID,
					UserID: k.UserID, Period: p.Key, CauseKind: billing.CauseModelStep, CauseRef: "step 1", Model: "offline",
					Usage: usage, Amount: amount, ChargedAt: now}, id))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := app.Store.Append(ctx, conversation.Stream(id), es.NoStream, conv...); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		res, err := app.Store.Append(ctx, budgetStream, version, budget...)
		if err != nil {
			b.Fatal(err)
		}
		version = res.Version
	}
	// A gateway that had run these conversations would have followed
	// them with its sagas as they happened: start them past the history.
	head, err := app.Store.Head(ctx)
	for deadline := time.Now().Add(time.Minute); err == nil && head.Less(app.Store.Known()) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		head, err = app.Store.Head(ctx)
	}
	if err != nil {
		b.Fatal(err)
	}
	for _, saga := range []string{sagas.AgentLoopName, sagas.WebhooksName, sagas.BillingName} {
		if err := app.Store.SaveCheckpoint(ctx, saga, head); err != nil {
			b.Fatal(err)
		}
	}
}
