package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	pgstore "github.com/sois-ai/chat-agent-gateway/infra/eventstore/postgres"
	"github.com/sois-ai/chat-agent-gateway/infra/pg/pgtest"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

// TestTwoInstancesFailover runs the gateway as two real OS processes on one
// Postgres database, with commands on one NATS JetStream server and then on
// the Postgres queue alone, sends 300 conversations
// spread over both, SIGKILLs the second instance (which holds the singleton
// roles: agent loop, webhooks, billing, reaper) half way through, and
// checks that nothing is lost or done twice:
//
//   - every conversation in the log (including any whose 202 was lost in
//     the kill) ends resolved, with exactly one ConversationResolved, no
//     ConversationFailed, 2 model steps and 1 completed tool call;
//   - the receiver got every webhook-id (duplicates, allowed by
//     at-least-once delivery, are counted and printed);
//   - the conversations and api_keys read models equal a fresh fold of the
//     log, and every row's version is its stream's head (a projector that
//     applied an event twice, or skipped one, would show here).
//
// It logs throughput and how long recovery took after the kill, which must
// be well under GATEWAY_STALL_AFTER: the dead instance is noticed by its
// silence (commands.Liveness), not by its work's.
//
// The gateways use the default GATEWAY_NATS_PREFIX ("gateway"): the
// streams gateway_commands_<Command> with the durable consumer "gateway".
// The test deletes those streams before and after it runs, and holds a
// Postgres advisory lock (on the test server's maintenance database) so
// that two runs of this test never share them.
func TestTwoInstancesFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the two-process failover test")
	}
	// Commands on NATS JetStream, then on the Postgres queue alone.
	for _, transport := range []string{"nats", "postgres"} {
		t.Run(transport, func(t *testing.T) { twoInstancesFailover(t, transport == "nats") })
	}
}

func twoInstancesFailover(t *testing.T, withNATS bool) {
	const natsURL = "nats://127.0.0.1:4222"
	if withNATS {
		c, err := net.DialTimeout("tcp", "127.0.0.1:4222", 2*time.Second)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("NATS is required in CI but unreachable at 127.0.0.1:4222: %v", err)
			}
			t.Skipf("NATS unreachable at 127.0.0.1:4222 (%v): the failover test on NATS needs JetStream", err)
		}
		c.Close()
	}
	dbURL := pgtest.NewDatabase(t) // skips (fails in CI) without Postgres
	miExclusive(t)
	if withNATS {
		miDeleteStreams(t, natsURL)
		t.Cleanup(func() { miDeleteStreams(t, natsURL) })
	}

	bin := miBuildGateway(t)
	rc := newReceiver(t, &testClock{}) // real time: the children run on the system clock
	env := map[string]string{
		"DATABASE_URL":                   dbURL,
		"GATEWAY_SECRET_KEY":             testSecretKey,
		"GATEWAY_ADMIN_TOKEN":            testAdminToken,
		"GATEWAY_WEBHOOK_ALLOW_PRIVATE":  "true",
		"GATEWAY_WEBHOOK_RETRY_SCHEDULE": "200ms,500ms,1s,2s,5s",
		"GATEWAY_WEBHOOK_TIMEOUT":        "2s", // a claimed attempt is stale after 2*2s+5s
		"GATEWAY_POLL_INTERVAL":          "20ms",
		// The shortest stall the config allows with a 1s model timeout
		// (STALL_AFTER > MODEL_TIMEOUT+30s): the reaper resumes work lost
		// with the killed instance after 32s (it sweeps every 5s).
		"GATEWAY_MODEL_TIMEOUT": "1s",
		"GATEWAY_STALL_AFTER":   "32s",
		"GATEWAY_GIVE_UP_AFTER": "10m",
		"GATEWAY_WRITE_WAIT":    "15s",
		"GATEWAY_LOG_LEVEL":     "info",
	}
	if withNATS {
		env["NATS_URL"] = natsURL
	}
	// Instance 2 starts first, so it takes the singleton roles, and the
	// kill also exercises their failover.
	g2 := miStart(t, bin, "gw2", env)
	g2.waitReady(t, 90*time.Second)
	g1 := miStart(t, bin, "gw1", env)
	g1.waitReady(t, 90*time.Second)
	t.Logf("roles: gw1 holds %v, gw2 holds %v", g1.rolesHeld(), g2.rolesHeld())

	// ---- setup through instance 1 (reusing the in-process harness's HTTP helpers) ----
	h := &harness{t: t, gateway: &gateway{backend: "postgres", URL: g1.url}}
	owner := h.createWorkspace("Acme", "owner@acme.test")
	key := h.createKey(owner, map[string]any{"label": "failover", "response_url": rc.URL})
	c := creds{Token: owner.Token, Key: key.Key}

	// ---- 300 conversations, alternating instances; SIGKILL gw2 half way ----
	const total, senders = 300, 16
	type sent struct {
		id       string
		via      string
		rerouted bool // first sent to gw2, which died with the request in flight
	}
	results := make([]sent, total)
	var (
		accepted   atomic.Int64
		killed     atomic.Bool
		killOnce   sync.Once
		killedAt   time.Time
		ambiguous  atomic.Int64 // requests to gw2 cut off by the kill (their 202 was lost)
		sendErrsMu sync.Mutex
		sendErrs   []string
	)
	// Instance 1 must take over the roles gw2 held: watched from the kill.
	var rolesAt time.Time
	rolesDone := make(chan struct{})
	watchRoles := func() {
		defer close(rolesDone)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			held := g1.rolesHeld()
			if miContains(held, "saga.agent_loop") && miContains(held, "reaper") && miContains(held, "saga.webhooks") {
				rolesAt = time.Now()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	kill := func() {
		killOnce.Do(func() {
			killed.Store(true) // new requests go to gw1 from now on
			killedAt = time.Now()
			g2.kill(t)
			go watchRoles()
		})
	}
	began := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				target := g1
				if i%2 == 1 && !killed.Load() {
					target = g2
				}
				for {
					id, err := miPost(target.url, c, "List my tasks")
					if err == nil {
						results[i] = sent{id: id, via: target.name, rerouted: results[i].rerouted}
						if accepted.Add(1) == total/2 {
							kill()
						}
						break
					}
					if target == g2 && killed.Load() {
						ambiguous.Add(1)
						results[i].rerouted = true
						target = g1
						continue
					}
					sendErrsMu.Lock()
					sendErrs = append(sendErrs, fmt.Sprintf("conversation %d via %s: %v", i, target.name, err))
					sendErrsMu.Unlock()
					break
				}
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sendDone := time.Now()
	if len(sendErrs) > 0 {
		t.Fatalf("%d sends failed, e.g. %s", len(sendErrs), sendErrs[0])
	}
	if !killed.Load() {
		t.Fatalf("gw2 was never killed")
	}
	var via1, via2, rerouted int
	ids := make([]string, 0, total)
	for _, r := range results {
		ids = append(ids, r.id)
		if r.via == "gw1" {
			via1++
		} else {
			via2++
		}
		if r.rerouted {
			rerouted++
		}
	}
	t.Logf("accepted %d conversations in %s (%.0f/s): %d via gw1, %d via gw2; %d requests to gw2 cut off by the kill were sent again to gw1",
		total, sendDone.Sub(began).Round(time.Millisecond), float64(total)/sendDone.Sub(began).Seconds(), via1, via2, rerouted)

	// ---- wait (bounded) until every conversation is resolved and delivered ----
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, miWithParam(dbURL, "pool_max_conns", "4"))
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer pool.Close()

	resolvedAt := map[string]time.Time{}  // first poll that showed it resolved
	deliveredAt := map[string]time.Time{} // first poll that showed its webhook delivered
	deadline := killedAt.Add(3 * time.Minute)
	for {
		all := miConversationIDs(t, ctx, pool)
		var pending []string
		for _, id := range all {
			if deliveredAt[id].IsZero() {
				pending = append(pending, id)
			}
		}
		if len(pending) == 0 && len(all) >= total {
			break
		}
		if time.Now().After(deadline) || g1.exited() {
			sort.Strings(pending)
			var b strings.Builder
			for _, id := range pending[:min(len(pending), 5)] {
				fmt.Fprintf(&b, "\n%s", miDescribe(ctx, pool, id))
			}
			t.Fatalf("%d of %d conversations not resolved and delivered %s after the kill (gw1 exited: %v); e.g.:%s",
				len(pending), len(all), time.Since(killedAt).Round(time.Second), g1.exited(), b.String())
		}
		states := miPollAll(g1.url, c, pending, 8)
		now := time.Now()
		for id, st := range states {
			if st.err != nil {
				continue // transient; polled again next round
			}
			switch st.Status {
			case "failed":
				t.Fatalf("conversation %s failed: %s\n%s", id, st.raw, miDescribe(ctx, pool, id))
			case "resolved":
				if resolvedAt[id].IsZero() {
					resolvedAt[id] = now
				}
				if st.Webhook != nil && st.Webhook.Status == "delivered" {
					deliveredAt[id] = now
				} else if st.Webhook != nil && st.Webhook.Status == "failed" {
					t.Fatalf("conversation %s: webhook delivery failed: %s", id, st.raw)
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	<-rolesDone
	// Recovery is measured on the whole run: the moment the last
	// conversation resolved (and the last webhook was delivered), counted
	// from the kill.
	var lastResolved, lastDelivered time.Time
	for id, at := range resolvedAt {
		lastResolved = miLater(lastResolved, at)
		lastDelivered = miLater(lastDelivered, deliveredAt[id])
	}
	elapsed := lastResolved.Sub(began)
	t.Logf("throughput: %d conversations resolved %s after the first send: %.1f conversations/s overall (webhooks all delivered after %s)",
		len(resolvedAt), elapsed.Round(time.Millisecond), float64(len(resolvedAt))/elapsed.Seconds(), lastDelivered.Sub(began).Round(time.Millisecond))
	if rolesAt.IsZero() {
		t.Errorf("gw1 did not take over the singleton roles within 60s of the kill (holds %v)", g1.rolesHeld())
	} else {
		t.Logf("failover: gw1 held the agent loop, webhooks and reaper roles %s after the kill", rolesAt.Sub(killedAt).Round(time.Millisecond))
	}
	t.Logf("recovery: the last conversation resolved %s after the kill, the last webhook was delivered %s after it",
		lastResolved.Sub(killedAt).Round(time.Millisecond), lastDelivered.Sub(killedAt).Round(time.Millisecond))
	// The dead instance's work is noticed by its silence (5s) and the
	// reaper's next look (every 5s), after the reaper's role moved (about
	// 8s): well before GATEWAY_STALL_AFTER (32s here).
	if took := lastResolved.Sub(killedAt); took > 25*time.Second {
		t.Errorf("the last conversation resolved %s after the kill; want it within 25s, well before GATEWAY_STALL_AFTER", took.Round(time.Millisecond))
	}

	// ---- settle: the log stops moving and gw1's read models have caught up ----
	miQuiesce(t, ctx, pool)
	g1.waitReady(t, 30*time.Second)

	// ---- the event log: every conversation resolved exactly once ----
	store := pgstore.New(pool)
	all := miConversationIDs(t, ctx, pool)
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
	}
	orphans := 0
	for _, id := range all {
		if !known[id] {
			orphans++
		}
	}
	if int64(orphans) > ambiguous.Load() {
		t.Errorf("%d conversations in the log were never answered with a 202, but only %d requests were cut off by the kill", orphans, ambiguous.Load())
	}
	for _, id := range ids {
		if !miContains(all, id) {
			t.Errorf("accepted conversation %s is not in the log", id)
		}
	}
	t.Logf("the log holds %d conversations: %d accepted with a 202, %d accepted by gw2 whose 202 was lost in the kill", len(all), total, orphans)

	fresh := map[string]conversations.View{}
	heads := map[string]int64{} // stream → last version
	var claims, takeovers, attempts, retriedHooks int
	// Long waits between two events of a conversation: queueing behind
	// the backlog (a loaded machine), or work lost with gw2 and resumed by
	// a JetStream redelivery or the reaper.
	const longWait = 25 * time.Second
	waitedAfter := map[string]int{} // by the last event before the wait
	var takeoverExample string
	var latencies []time.Duration // opened → resolved
	for _, id := range all {
		conv, err := store.ReadStream(ctx, "conversation-"+id, 0)
		if err != nil {
			t.Fatalf("read conversation-%s: %v", id, err)
		}
		hook, err := store.ReadStream(ctx, "webhook-"+id, 0)
		if err != nil {
			t.Fatalf("read webhook-%s: %v", id, err)
		}
		count := map[string]int{}
		for i, r := range conv {
			count[r.Type]++
			if i > 0 && r.Metadata.OccurredAt.Sub(conv[i-1].Metadata.OccurredAt) > longWait {
				waitedAfter[conv[i-1].Type]++
			}
		}
		if len(conv) > 1 {
			latencies = append(latencies, conv[len(conv)-1].Metadata.OccurredAt.Sub(conv[0].Metadata.OccurredAt))
		}
		for _, r := range hook {
			count[r.Type]++
		}
		if count["ConversationResolved"] != 1 || count["ConversationFailed"] != 0 || count["ModelStepCompleted"] != 2 ||
			count["ToolCallRequested"] != 1 || count["ToolCallCompleted"] != 1 || count["WebhookDelivered"] != 1 {
			t.Errorf("conversation %s: events %v; want exactly 1 ConversationResolved, 0 ConversationFailed, 2 ModelStepCompleted, "+
				"1 ToolCallRequested, 1 ToolCallCompleted, 1 WebhookDelivered\n%s", id, count, miDescribe(ctx, pool, id))
		}
		claims += count["ModelStepStarted"]
		if count["ModelStepStarted"] > 2 {
			takeovers++
			if takeoverExample == "" {
				takeoverExample = miDescribe(ctx, pool, id)
			}
		}
		attempts += count["WebhookAttemptStarted"]
		if count["WebhookAttemptStarted"] > 1 {
			retriedHooks++
		}
		var v conversations.View
		for _, r := range append(conv, hook...) {
			if _, err := conversations.Fold(&v, r); err != nil {
				t.Fatalf("fold %s v%d: %v", r.Stream, r.StreamVersion, err)
			}
		}
		fresh[id] = v
		if len(conv) > 0 {
			heads["conversation-"+id] = conv[len(conv)-1].StreamVersion
		}
		if len(hook) > 0 {
			heads["webhook-"+id] = hook[len(hook)-1].StreamVersion
		}
		if v.Status != "resolved" || v.Steps != 2 || v.ToolCalls != 1 {
			t.Errorf("conversation %s folds to status %s, %d steps, %d tool calls; want resolved, 2, 1", id, v.Status, v.Steps, v.ToolCalls)
		}
	}
	t.Logf("event log: %d model step claims for %d conversations (%d conversations had a step claimed again after a lost worker); "+
		"%d webhook attempts (%d conversations needed more than one)", claims, len(all), takeovers, attempts, retriedHooks)
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		t.Logf("conversation latency (opened → resolved): p50 %s, p90 %s, p99 %s, max %s", latencies[n/2].Round(time.Millisecond),
			latencies[n*9/10].Round(time.Millisecond), latencies[n*99/100].Round(time.Millisecond), latencies[n-1].Round(time.Millisecond))
	}
	if len(waitedAfter) > 0 {
		t.Logf("waits longer than %s between two events of a conversation (backlog, or work lost with gw2), by the event before the wait: %v",
			longWait, waitedAfter)
	}
	if takeoverExample != "" {
		t.Logf("a model step gw2 had claimed when it died, taken over once its lease (model timeout + 30s) ran out:\n%s", takeoverExample)
	}

	// ---- webhooks: every webhook-id reached the receiver, signed ----
	missing := 0
	for _, id := range all {
		if rc.delivered("msg_"+id) == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("the receiver never got a 2xx delivery of msg_%s", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d webhooks never reached the receiver", missing, len(all))
	}
	reqs := rc.requests()
	for _, q := range reqs {
		id := q.Header.Get("X-Conversation-UUID")
		if !miContains(all, id) {
			t.Errorf("the receiver got a delivery for unknown conversation %q", id)
			continue
		}
		verifyHook(t, q, id, key.SigningSecret)
	}
	t.Logf("webhooks: %d requests, %d distinct webhook-ids delivered, %d duplicate deliveries (at least once: a deduplicating receiver drops them)",
		len(reqs), rc.unique(), rc.duplicates())

	// ---- read models equal a fresh fold; versions equal stream heads ----
	rows, err := pool.Query(ctx, `SELECT id::text, status, version, webhook_status, view FROM conversations`)
	if err != nil {
		t.Fatalf("read conversations: %v", err)
	}
	type convRow struct {
		status, whStatus string
		version          int64
		view             conversations.View
		raw              []byte
	}
	stored := map[string]convRow{}
	for rows.Next() {
		var id, status string
		var whStatus *string
		var version int64
		var raw []byte
		if err := rows.Scan(&id, &status, &version, &whStatus, &raw); err != nil {
			t.Fatalf("scan conversations: %v", err)
		}
		var v conversations.View
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("conversation %s: view: %v", id, err)
		}
		r := convRow{status: status, version: version, view: v, raw: raw}
		if whStatus != nil {
			r.whStatus = *whStatus
		}
		stored[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read conversations: %v", err)
	}
	if len(stored) != len(fresh) {
		t.Errorf("the conversations table has %d rows, the log %d conversations", len(stored), len(fresh))
	}
	differ := 0
	for id, want := range fresh {
		got, ok := stored[id]
		if !ok {
			t.Errorf("conversation %s: no read-model row", id)
			continue
		}
		var diffs []string
		if got.status != want.Status || got.view.Status != want.Status {
			diffs = append(diffs, fmt.Sprintf("status column %s / view %s, fold %s", got.status, got.view.Status, want.Status))
		}
		if got.version != heads["conversation-"+id] || got.view.Version != heads["conversation-"+id] {
			diffs = append(diffs, fmt.Sprintf("version column %d / view %d, stream head %d", got.version, got.view.Version, heads["conversation-"+id]))
		}
		if got.view.Steps != want.Steps || got.view.ToolCalls != want.ToolCalls ||
			got.view.InputTokens != want.InputTokens || got.view.OutputTokens != want.OutputTokens {
			diffs = append(diffs, fmt.Sprintf("steps/tool calls/tokens %d/%d/%d/%d, fold %d/%d/%d/%d",
				got.view.Steps, got.view.ToolCalls, got.view.InputTokens, got.view.OutputTokens,
				want.Steps, want.ToolCalls, want.InputTokens, want.OutputTokens))
		}
		if len(got.view.Turns) != len(want.Turns) {
			diffs = append(diffs, fmt.Sprintf("%d turns, fold %d", len(got.view.Turns), len(want.Turns)))
		}
		if gw, ww := got.view.Webhook, want.Webhook; gw == nil || ww == nil {
			diffs = append(diffs, fmt.Sprintf("webhook %v, fold %v", gw, ww))
		} else {
			if gw.Status != ww.Status || got.whStatus != ww.Status || gw.Attempts != ww.Attempts || len(gw.History) != len(ww.History) {
				diffs = append(diffs, fmt.Sprintf("webhook status %s (column %s), attempts %d, history %d; fold %s, %d, %d",
					gw.Status, got.whStatus, gw.Attempts, len(gw.History), ww.Status, ww.Attempts, len(ww.History)))
			}
			if gw.Version != heads["webhook-"+id] {
				diffs = append(diffs, fmt.Sprintf("webhook version %d, stream head %d", gw.Version, heads["webhook-"+id]))
			}
		}
		// And the whole view, field by field as JSON.
		a, _ := json.Marshal(got.view)
		b, _ := json.Marshal(want)
		if !bytes.Equal(a, b) {
			diffs = append(diffs, fmt.Sprintf("view differs from the fresh fold:\n  table %s\n  fold  %s", a, b))
		}
		if len(diffs) > 0 {
			differ++
			if differ <= 5 {
				t.Errorf("conversation %s: read model is not the fresh fold of the log: %s", id, strings.Join(diffs, "; "))
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d conversation rows differ from a fresh rebuild", differ, len(fresh))
	}

	// api_keys: the row equals the fold of its stream.
	krows, err := pool.Query(ctx, `SELECT id::text FROM api_keys`)
	if err != nil {
		t.Fatalf("read api_keys: %v", err)
	}
	keyIDs, err := pgx.CollectRows(krows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read api_keys: %v", err)
	}
	if len(keyIDs) != 1 || keyIDs[0] != key.ID {
		t.Errorf("api_keys holds %v, want exactly the key %s", keyIDs, key.ID)
	}
	keys := apikeys.NewPostgres(pool)
	for _, id := range keyIDs {
		recs, err := store.ReadStream(ctx, "apikey-"+id, 0)
		if err != nil {
			t.Fatalf("read apikey-%s: %v", id, err)
		}
		var want apikeys.View
		for _, r := range recs {
			if _, err := apikeys.Fold(&want, r); err != nil {
				t.Fatalf("fold apikey-%s: %v", id, err)
			}
		}
		got, ok, err := keys.Get(ctx, id)
		if err != nil || !ok {
			t.Fatalf("key %s: %v (found %v)", id, err, ok)
		}
		if len(recs) == 0 || got.Version != recs[len(recs)-1].StreamVersion {
			t.Errorf("key %s: version %d, stream head %d", id, got.Version, len(recs))
		}
		if !miSameKey(got, want) {
			t.Errorf("key %s: read model %+v, fresh fold %+v", id, got, want)
		}
	}

	// Every other read-model row with a version names its stream's head
	// (tables of read models not in this schema yet are left out).
	for _, q := range []struct{ table, stream string }{
		{"workspaces", `'workspace-' || r.id::text`},
		{"billing_periods", `'budget-' || r.api_key_id || '-' || r.period_key`},
	} {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, q.table).Scan(&exists); err != nil || !exists {
			continue
		}
		var rowsN, bad int
		err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE s.version IS DISTINCT FROM r.version)
FROM `+q.table+` r LEFT JOIN streams s ON s.stream_id = `+q.stream).Scan(&rowsN, &bad)
		if err != nil {
			t.Fatalf("versions of %s: %v", q.table, err)
		}
		if bad != 0 {
			t.Errorf("%d of %d rows of %s have a version other than their stream's head", bad, rowsN, q.table)
		}
	}

	// How the lost work came back: the reaper's resumes on gw1 (after
	// STALL_AFTER) versus JetStream redeliveries (after the consumer's
	// ack wait).
	t.Logf("gw1 log: %d reaper resumes; JetStream consumers: %s", g1.countLog("resuming conversation"), miConsumers(natsURL))
}

// ---- processes ----

type miInstance struct {
	name, url, logPath string
	cmd                *exec.Cmd
	done               chan struct{}
	waitErr            error
	killed             atomic.Bool
}

// miBuildGateway compiles ./cmd/gateway once into a temporary directory.
func miBuildGateway(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if err != nil || root == "" || root == "." {
		t.Fatalf("find the module root (go env GOMOD = %q): %v", out, err)
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gateway")
	build.Dir = root
	began := time.Now()
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gateway: %v\n%s", err, b)
	}
	t.Logf("built the gateway in %s", time.Since(began).Round(time.Millisecond))
	return bin
}

// miStart starts one gateway process with env on a free port; its stdout
// and stderr go to a file whose tail is printed if the test fails.
func miStart(t *testing.T, bin, name string, env map[string]string) *miInstance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	logDir := dir
	if keep := os.Getenv("GATEWAY_TEST_LOG_DIR"); keep != "" { // keep the children's output after the test
		logDir = keep
	}
	g := &miInstance{name: name, url: "http://" + addr, logPath: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(g.logPath)
	if err != nil {
		t.Fatalf("create %s: %v", g.logPath, err)
	}
	// A clean environment: nothing from the caller's shell (an
	// OPENAI_API_KEY, another DATABASE_URL) may leak into the children.
	vars := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"GATEWAY_ADDR=" + addr, "GATEWAY_DATA_DIR=" + filepath.Join(dir, "data")}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	g.cmd = exec.Command(bin)
	g.cmd.Env = vars
	g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
	if err := g.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		logFile.Close()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("---- %s (%s) output, last 80 lines (exit: %v) ----\n%s", name, addr, g.waitErr, miTail(g.logPath, 80))
		}
	})
	return g
}

func (g *miInstance) exited() bool {
	select {
	case <-g.done:
		return !g.killed.Load()
	default:
		return false
	}
}

// kill sends SIGKILL: no shutdown, no acks, no unlocks.
func (g *miInstance) kill(t *testing.T) {
	g.killed.Store(true)
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("SIGKILL %s: %v", g.name, err)
	}
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not die within 10s of SIGKILL", g.name)
	}
}

// stop asks the process to shut down (SIGTERM), then kills it.
func (g *miInstance) stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(40 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// waitReady waits until /readyz answers 200.
func (g *miInstance) waitReady(t *testing.T, budget time.Duration) {
	t.Helper()
	deadline := time.Now().Add(budget)
	var last string
	for {
		select {
		case <-g.done:
			t.Fatalf("%s exited before it was ready (%v):\n%s", g.name, g.waitErr, miTail(g.logPath, 40))
		default:
		}
		status, body, err := miDo(http.MethodGet, g.url+"/readyz", nil, creds{})
		if err == nil && status == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", status, body, err)
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s; last /readyz: %s\n%s", g.name, budget, last, miTail(g.logPath, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rolesHeld reads the singleton roles the instance holds from /readyz.
func (g *miInstance) rolesHeld() []string {
	_, body, err := miDo(http.MethodGet, g.url+"/readyz", nil, creds{})
	if err != nil {
		return nil
	}
	var r struct {
		Detail struct {
			Roles struct {
				Held []string `json:"held"`
			} `json:"roles"`
		} `json:"detail"`
	}
	_ = json.Unmarshal(body, &r)
	return r.Detail.Roles.Held
}

// countLog counts the lines of the process's output holding s.
func (g *miInstance) countLog(s string) int {
	f, err := os.Open(g.logPath)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}

func miTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---- HTTP, safe to call from any goroutine ----

var miClient = &http.Client{Timeout: 30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}

func miDo(method, target string, body []byte, c creds) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", bearerOf(c.Token))
	}
	if c.Key != "" {
		req.Header.Set("X-Api-Key", c.Key)
	}
	resp, err := miClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// miPost sends one message and returns the conversation id from the 202.
func miPost(base string, c creds, message string) (string, error) {
	body, _ := json.Marshal(map[string]string{"message": message})
	status, raw, err := miDo(http.MethodPost, base+"/api/agent", body, c)
	if err != nil {
		return "", err
	}
	if status != http.StatusAccepted {
		return "", fmt.Errorf("status %d: %s", status, raw)
	}
	var r struct {
		ID string `json:"conversation_uuid"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.ID == "" {
		return "", fmt.Errorf("bad 202 body %s: %v", raw, err)
	}
	return r.ID, nil
}

type miState struct {
	Status  string `json:"status"`
	Webhook *struct {
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	} `json:"webhook"`
	raw []byte
	err error
}

// miPollAll polls every id once, workers at a time.
func miPollAll(base string, c creds, ids []string, workers int) map[string]miState {
	out := make(map[string]miState, len(ids))
	var mu sync.Mutex
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				var st miState
				status, raw, err := miDo(http.MethodGet, base+"/api/agent/"+id, nil, c)
				switch {
				case err != nil:
					st.err = err
				case status != http.StatusOK:
					st.err = fmt.Errorf("status %d: %s", status, raw)
				default:
					st.err = json.Unmarshal(raw, &st)
					st.raw = raw
				}
				mu.Lock()
				out[id] = st
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	return out
}

// ---- the database ----

// miConversationIDs lists every conversation stream in the log.
func miConversationIDs(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT substr(stream_id, length('conversation-') + 1) FROM streams
WHERE stream_id LIKE 'conversation-%' ORDER BY stream_id`)
	if err != nil {
		t.Fatalf("list conversation streams: %v", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list conversation streams: %v", err)
	}
	return ids
}

// miQuiesce waits (bounded) until no event was appended for 2s.
func miQuiesce(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last int64 = -1
	stable := time.Now()
	for time.Since(stable) < 2*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("the event log kept growing for 60s after every conversation was delivered")
		}
		var head int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(max(global_position), 0) FROM events`).Scan(&head); err != nil {
			t.Fatalf("head: %v", err)
		}
		if head != last {
			last, stable = head, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// miDescribe prints a conversation's streams for a failure message.
func miDescribe(ctx context.Context, pool *pgxpool.Pool, id string) string {
	var b strings.Builder
	store := pgstore.New(pool)
	for _, stream := range []string{"conversation-" + id, "webhook-" + id} {
		recs, err := store.ReadStream(ctx, stream, 0)
		fmt.Fprintf(&b, "  %s (err %v):\n", stream, err)
		for _, r := range recs {
			fmt.Fprintf(&b, "    v%d %s %s %.160s\n", r.StreamVersion, r.Metadata.CausationID, r.Type, r.Data)
		}
	}
	var row string
	if err := pool.QueryRow(ctx, `SELECT view::text FROM conversations WHERE id = $1`, id).Scan(&row); err != nil {
		row = err.Error()
	}
	fmt.Fprintf(&b, "  read model: %.600s", row)
	return b.String()
}

func miSameKey(a, b apikeys.View) bool {
	same := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	cents := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.ID == b.ID && a.WorkspaceID == b.WorkspaceID && a.UserID == b.UserID && a.KeyHash == b.KeyHash &&
		a.KeyPrefix == b.KeyPrefix && a.Label == b.Label && a.ResponseURL == b.ResponseURL &&
		cents(a.BudgetUSDCents, b.BudgetUSDCents) && a.BudgetPeriod == b.BudgetPeriod && a.Revoked == b.Revoked &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && same(a.RevokedAt, b.RevokedAt) && a.Version == b.Version
}

// miExclusive holds a Postgres advisory lock on the test server's
// maintenance database until the test ends: runs of this test (on any
// checkout sharing this server and this NATS) take turns, since they
// cannot help sharing the NATS streams.
func miExclusive(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.BaseURL())
	if err != nil {
		t.Fatalf("connect to %s for the test lock: %v", pgtest.BaseURL(), err)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("chat-agent-gateway:test:nats-default-streams"))
	lockKey := int64(h.Sum64())
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var got bool
		if err := conn.QueryRow(context.Background(), `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&got); err != nil {
			conn.Close(context.Background())
			t.Fatalf("test lock: %v", err)
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			conn.Close(context.Background())
			t.Fatalf("another run of TestTwoInstancesFailover held the NATS streams for 5 minutes")
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { conn.Close(context.Background()) }) // ends the session, and the lock
}

// miCommandStreams are the JetStream streams the gateway's commands use
// (TopicPrefix "gateway_commands_" + the command's name; see
// infra/messaging/nats.go).
var miCommandStreams = []string{"gateway_commands_RunModelStep", "gateway_commands_ExecuteToolCall",
	"gateway_commands_SettleConversation", "gateway_commands_AttemptWebhookDelivery"}

func miDeleteStreams(t *testing.T, natsURL string) {
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Logf("delete NATS streams: %v", err)
		return
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Logf("delete NATS streams: %v", err)
		return
	}
	// Every command stream of the default prefix, including those of
	// commands added since the list above was written.
	streams := slices.Clone(miCommandStreams)
	for name := range js.StreamNames() {
		if strings.HasPrefix(name, "gateway_commands_") && !slices.Contains(streams, name) {
			streams = append(streams, name)
		}
	}
	for _, s := range streams {
		if err := js.DeleteStream(s); err != nil && !errors.Is(err, nats.ErrStreamNotFound) {
			t.Logf("delete NATS stream %s: %v", s, err)
		}
	}
}

// miConsumers describes the command streams' consumers: the ack wait the
// server applies and how many messages it delivered more than once.
func miConsumers(natsURL string) string {
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, s := range miCommandStreams {
		si, err := js.StreamInfo(s)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		for ci := range js.ConsumersInfo(s) {
			// The consumer sequence counts every delivery, the stream
			// sequence every message: the difference is redeliveries.
			parts = append(parts, fmt.Sprintf("%s: %d messages, %d deliveries (consumer %q, ack_wait %s, max_ack_pending %d)",
				strings.TrimPrefix(s, "gateway_commands_"), si.State.Msgs, ci.Delivered.Consumer, ci.Name, ci.Config.AckWait,
				ci.Config.MaxAckPending))
		}
	}
	return strings.Join(parts, "; ")
}

func miContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func miLater(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func miWithParam(raw, k, v string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}
