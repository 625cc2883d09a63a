package esdb

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/esdb/esdbtest"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore/eventstoretest"
)

func open(t testing.TB, url string, opts ...Option) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := Open(ctx, url, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return st
}

// openStandIn starts a test stand-in server (not EventStoreDB) and opens a
// store on it that is closed when t ends.
func openStandIn(t testing.TB, opts ...Option) (*Store, *esdbtest.Server) {
	t.Helper()
	srv := esdbtest.New(t)
	st := open(t, srv.URL(), opts...)
	t.Cleanup(func() { _ = st.Close() })
	return st, srv
}

// TestContractAgainstStandIn runs the contract against the adapter talking
// real gRPC, through the real client library, to the in-memory test
// stand-in (esdbtest, not EventStoreDB). Every store gets its own server;
// a reopen is a new client on the same server; tampering rewrites a stored
// event's data inside the stand-in, as someone with the database files
// could.
func TestContractAgainstStandIn(t *testing.T) {
	var (
		mu      sync.Mutex
		servers = map[eventstore.Store]*esdbtest.Server{}
	)
	newStore := func(t *testing.T) eventstore.Store {
		srv := esdbtest.New(t)
		st := open(t, srv.URL())
		mu.Lock()
		defer mu.Unlock()
		servers[st] = srv
		return st
	}
	reopen := func(t *testing.T, old eventstore.Store) eventstore.Store {
		if err := old.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		srv := servers[old]
		st := open(t, srv.URL())
		servers[st] = srv
		return st
	}
	tamper := func(t *testing.T, st eventstore.Store, stream string, version int64) eventstore.Store {
		mu.Lock()
		srv := servers[st]
		mu.Unlock()
		if err := srv.Tamper(stream, uint64(version-1), []byte(`{"tampered": true}`)); err != nil {
			t.Fatal(err)
		}
		return st
	}
	eventstoretest.Run(t, newStore, eventstoretest.WithReopen(reopen), eventstoretest.WithTamper(tamper))
}

// TestContractAgainstRealServer runs the same contract against the
// EventStoreDB (or KurrentDB) that EVENTSTORE_URL names. The server is not
// emptied between subtests: every store gets a namespace of its own, which
// hides everything else on the server. Nobody can change a stored event
// behind EventStoreDB's back, so the tamper test does not run.
func TestContractAgainstRealServer(t *testing.T) {
	url := os.Getenv("EVENTSTORE_URL")
	if url == "" {
		t.Skip("EVENTSTORE_URL is not set: start an insecure single-node EventStoreDB/KurrentDB " +
			"(docker compose up eventstore, once the service is in docker-compose.yml) and run with " +
			"EVENTSTORE_URL='esdb://localhost:2113?tls=false'")
	}
	var (
		mu         sync.Mutex
		namespaces = map[eventstore.Store]string{}
	)
	newStore := func(t *testing.T) eventstore.Store {
		ns := "contract-" + uuid.NewString()
		st := open(t, url, WithNamespace(ns))
		mu.Lock()
		defer mu.Unlock()
		namespaces[st] = ns
		return st
	}
	reopen := func(t *testing.T, old eventstore.Store) eventstore.Store {
		if err := old.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		ns := namespaces[old]
		st := open(t, url, WithNamespace(ns))
		namespaces[st] = ns
		return st
	}
	eventstoretest.Run(t, newStore, eventstoretest.WithReopen(reopen))
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawRevisions returns the revisions of stream's events as the server
// holds them, with their ids.
func rawRevisions(srv *esdbtest.Server, stream string) map[string]uint64 {
	out := map[string]uint64{}
	for _, e := range srv.Events() {
		if e.Stream == stream {
			out[e.ID.String()] = e.Revision
		}
	}
	return out
}

// TestRevisionMapping: our version n is the server's revision n-1, for
// es.NoStream, exact versions and es.AnyVersion alike.
func TestRevisionMapping(t *testing.T) {
	st, srv := openStandIn(t)
	ctx := ctxFor(t)
	first := eventstoretest.NewEvents("Happened", 2)
	if res, err := st.Append(ctx, "s", es.NoStream, first...); err != nil || res.Version != 2 {
		t.Fatalf("no-stream append = %+v, %v; want version 2", res, err)
	}
	second := eventstoretest.NewEvent("Happened", 3)
	if res, err := st.Append(ctx, "s", 2, second); err != nil || res.Version != 3 {
		t.Fatalf("exact append at 2 = %+v, %v; want version 3", res, err)
	}
	third := eventstoretest.NewEvent("Happened", 4)
	if res, err := st.Append(ctx, "s", es.AnyVersion, third); err != nil || res.Version != 4 {
		t.Fatalf("any-version append = %+v, %v; want version 4", res, err)
	}
	revs := rawRevisions(srv, "s")
	for i, ev := range append(first, second, third) {
		if rev, ok := revs[ev.ID]; !ok || rev != uint64(i) {
			t.Errorf("event with version %d is at server revision %d (found %v), want %d", i+1, rev, ok, i)
		}
	}
	recs, err := st.ReadStream(ctx, "s", 1)
	if err != nil || len(recs) != 3 || recs[0].ID != first[1].ID || recs[0].StreamVersion != 2 {
		t.Fatalf("read after version 1 = %d events, %v; want 3 starting with version 2", len(recs), err)
	}
}

// slipIn makes the stand-in let another store append one event to stream
// before the next append to it is applied, once.
func slipIn(t *testing.T, srv *esdbtest.Server, other *Store, stream string) *atomic.Bool {
	var done atomic.Bool
	srv.SetAppendHook(func(s string) {
		if s != stream || !done.CompareAndSwap(false, true) {
			return
		}
		if _, err := other.Append(context.Background(), stream, es.AnyVersion, eventstoretest.NewEvent("SlippedIn", 0)); err != nil {
			t.Errorf("slipped-in append: %v", err)
		}
	})
	t.Cleanup(func() { srv.SetAppendHook(nil) })
	return &done
}

// TestServerSideConflicts: when another writer appends between the
// adapter's read of the stream and its write, the server refuses the
// write (proving the adapter sent the exact revision, or NoStream, rather
// than Any), and the refusal is an *es.ConflictError with the version the
// server reported.
func TestServerSideConflicts(t *testing.T) {
	st, srv := openStandIn(t)
	other := open(t, srv.URL())
	t.Cleanup(func() { _ = other.Close() })
	ctx := ctxFor(t)

	cases := []struct {
		name     string
		setup    int // events already in the stream
		expected int64
	}{
		{"no stream", 0, es.NoStream},
		{"exact version", 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream := "conflict-" + uuid.NewString()
			if c.setup > 0 {
				if _, err := st.Append(ctx, stream, es.NoStream, eventstoretest.NewEvents("Happened", c.setup)...); err != nil {
					t.Fatal(err)
				}
			}
			slipped := slipIn(t, srv, other, stream)
			evs := eventstoretest.NewEvents("Happened", 2)
			_, err := st.Append(ctx, stream, c.expected, evs...)
			if !slipped.Load() {
				t.Fatal("the other append did not slip in")
			}
			var ce *es.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, es.ErrConcurrency) {
				t.Fatalf("err = %v, want an *es.ConflictError", err)
			}
			want := es.ConflictError{Stream: stream, Expected: c.expected, Actual: int64(c.setup) + 1}
			if *ce != want {
				t.Errorf("conflict = %+v, want %+v", *ce, want)
			}
			// The refused write released its ids: they go in at the
			// version the conflict reported.
			if res, err := st.Append(ctx, stream, ce.Actual, evs...); err != nil || res.Version != ce.Actual+2 {
				t.Fatalf("append after the conflict = %+v, %v", res, err)
			}
			recs, err := st.ReadStream(ctx, stream, 0)
			if err != nil {
				t.Fatal(err)
			}
			if at, err := es.VerifyChain(recs); err != nil {
				t.Fatalf("chain broken at %d: %v", at, err)
			}
		})
	}
}

// TestAnyVersionRetriesOnConflict: an any-version append that loses the
// race for its revision starts over from the new end of the stream, so
// the chain links to the event that slipped in.
func TestAnyVersionRetriesOnConflict(t *testing.T) {
	st, srv := openStandIn(t)
	other := open(t, srv.URL())
	t.Cleanup(func() { _ = other.Close() })
	ctx := ctxFor(t)
	if _, err := st.Append(ctx, "any", es.NoStream, eventstoretest.NewEvent("Happened", 1)); err != nil {
		t.Fatal(err)
	}
	slipped := slipIn(t, srv, other, "any")
	res, err := st.Append(ctx, "any", es.AnyVersion, eventstoretest.NewEvents("Happened", 2)...)
	if err != nil || !slipped.Load() {
		t.Fatalf("any-version append = %v (other slipped in: %v)", err, slipped.Load())
	}
	if res.Version != 4 {
		t.Errorf("version = %d, want 4 (after the slipped-in event)", res.Version)
	}
	recs, err := st.ReadStream(ctx, "any", 0)
	if err != nil || len(recs) != 4 || recs[1].Type != "SlippedIn" {
		t.Fatalf("stream = %d events, %v; want 4 with the slipped-in one second", len(recs), err)
	}
	if at, err := es.VerifyChain(recs); err != nil {
		t.Fatalf("chain broken at %d: %v", at, err)
	}
	if recs[3].Position != res.Position {
		t.Errorf("last event at %s, append reported %s", recs[3].Position, res.Position)
	}
}

// TestAnyVersionConcurrentClients: separate processes (clients) appending
// with es.AnyVersion to one stream all land, once each, in one chain.
func TestAnyVersionConcurrentClients(t *testing.T) {
	_, srv := openStandIn(t)
	ctx := ctxFor(t)
	const clients, each = 4, 10
	var wg sync.WaitGroup
	for range clients {
		st := open(t, srv.URL())
		t.Cleanup(func() { _ = st.Close() })
		wg.Go(func() {
			for i := range each {
				if _, err := st.Append(ctx, "shared", es.AnyVersion, eventstoretest.NewEvents("Raced", 1+i%2)...); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := open(t, srv.URL())
	t.Cleanup(func() { _ = st.Close() })
	recs, err := st.ReadStream(ctx, "shared", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := clients * (each/2*1 + each/2*2); len(recs) != want {
		t.Fatalf("stream has %d events, want %d", len(recs), want)
	}
	if at, err := es.VerifyChain(recs); err != nil {
		t.Fatalf("chain broken at %d: %v", at, err)
	}
}

// TestAbandonedClaimExpires: an id claimed by a writer that died before
// appending is refused as a duplicate while the claim is fresh and free
// again once it has expired.
func TestAbandonedClaimExpires(t *testing.T) {
	st, _ := openStandIn(t)
	ctx := ctxFor(t)
	ev := eventstoretest.NewEvent("Paid", 1)
	// What a writer leaves that died between claiming and appending.
	if _, err := st.appendInternal(ctx, claimPrefix+ev.ID, esdbclient.NoStream{}, claimedType,
		claimData{Stream: "payment-1", Revision: 0, Attempt: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	_, err := st.Append(ctx, "payment-1", es.NoStream, ev)
	if !errors.Is(err, eventstore.ErrDuplicateEvent) || !strings.Contains(err.Error(), "being appended") {
		t.Fatalf("append with a freshly claimed id: err = %v, want ErrDuplicateEvent (in flight)", err)
	}
	st.now = func() time.Time { return time.Now().Add(defaultClaimTTL + time.Second) }
	if res, err := st.Append(ctx, "payment-1", es.NoStream, ev); err != nil || res.Version != 1 {
		t.Fatalf("append after the claim expired = %+v, %v", res, err)
	}
	_, err = st.Append(ctx, "payment-2", es.NoStream, ev)
	if !errors.Is(err, eventstore.ErrDuplicateEvent) || !strings.Contains(err.Error(), "already stored in stream payment-1 at version 1") {
		t.Fatalf("append of a stored id: err = %v, want ErrDuplicateEvent naming where it is", err)
	}
}

// TestRacingSameID: of appends racing with one id to different streams,
// exactly one lands.
func TestRacingSameID(t *testing.T) {
	st, _ := openStandIn(t)
	ctx := ctxFor(t)
	ev := eventstoretest.NewEvent("Paid", 1)
	const racers = 8
	var (
		wg         sync.WaitGroup
		wins, dups atomic.Int32
	)
	for i := range racers {
		wg.Go(func() {
			_, err := st.Append(ctx, "racer-"+string(rune('a'+i)), es.NoStream, ev)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, eventstore.ErrDuplicateEvent):
				dups.Add(1)
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || dups.Load() != racers-1 {
		t.Fatalf("%d appends landed and %d were duplicates, want 1 and %d", wins.Load(), dups.Load(), racers-1)
	}
	all, err := st.ReadAll(ctx, es.Start, 100)
	if err != nil || len(all) != 1 {
		t.Fatalf("read all = %d events, %v; want 1", len(all), err)
	}
}

// TestHiddenEvents: system events and the adapter's bookkeeping (claims,
// checkpoints) never show in ReadAll, ReadCorrelated or Head.
func TestHiddenEvents(t *testing.T) {
	st, srv := openStandIn(t)
	ctx := ctxFor(t)
	a := eventstoretest.NewEvent("Happened", 1)
	res, err := st.Append(ctx, "a", es.NoStream, a)
	if err != nil {
		t.Fatal(err)
	}
	srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected", []byte(`{}`))
	srv.AppendSystemEvent("b", "$streamDeleted", []byte(`{}`))
	if err := st.SaveCheckpoint(ctx, "saga", res.Position); err != nil {
		t.Fatal(err)
	}
	if head, err := st.Head(ctx); err != nil || head != res.Position {
		t.Fatalf("head = %s, %v; want %s", head, err, res.Position)
	}
	all, err := st.ReadAll(ctx, es.Start, 10)
	if err != nil || len(all) != 1 || all[0].ID != a.ID {
		t.Fatalf("read all = %v, %v; want only %s", ids(all), err, a.ID)
	}
	if got, err := st.ReadCorrelated(ctx, a.Metadata.CorrelationID, es.Start, 10); err != nil || len(got) != 1 {
		t.Fatalf("read correlated = %d events, %v; want 1", len(got), err)
	}
	if n := len(srv.Events()); n < 6 {
		t.Fatalf("the server holds %d events; the test expects the claim, checkpoint and system events there", n)
	}
}

func ids(recs []es.Recorded) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// TestNamespaces: stores in different namespaces of one server see only
// their own events and ids.
func TestNamespaces(t *testing.T) {
	srv := esdbtest.New(t)
	ctx := ctxFor(t)
	blue, green := open(t, srv.URL(), WithNamespace("blue")), open(t, srv.URL(), WithNamespace("green"))
	t.Cleanup(func() { _ = blue.Close(); _ = green.Close() })
	ev := eventstoretest.NewEvent("Happened", 1)
	for _, st := range []*Store{blue, green} {
		// The same id in two namespaces: two stores, no duplicate.
		if _, err := st.Append(ctx, "s", es.NoStream, ev); err != nil {
			t.Fatalf("append: %v", err)
		}
		if err := st.SaveCheckpoint(ctx, "p", es.Position{Seq: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := blue.Append(ctx, "t", es.NoStream, eventstoretest.NewEvent("Happened", 2)); err != nil {
		t.Fatal(err)
	}
	for st, want := range map[*Store]int{blue: 2, green: 1} {
		all, err := st.ReadAll(ctx, es.Start, 10)
		if err != nil || len(all) != want {
			t.Errorf("namespace %s: read all = %d events, %v; want %d", st.ns, len(all), err, want)
		}
		for _, r := range all {
			if strings.Contains(r.Stream, "/") {
				t.Errorf("namespace %s: stream %q carries the namespace", st.ns, r.Stream)
			}
		}
	}
	streams := map[string]bool{}
	for _, e := range srv.Events() {
		streams[e.Stream] = true
	}
	for _, s := range []string{"blue/s", "green/s", "blue/t", "blue/_gateway-checkpoint-p"} {
		if !streams[s] {
			t.Errorf("the server has no stream %s", s)
		}
	}
	if err := WithNamespace("a/b")(&Store{}); err == nil {
		t.Errorf("a namespace with '/' was accepted")
	}
}

// TestReservedNames: names EventStoreDB or the adapter reserve are invalid
// appends, so that every appended event shows in ReadAll.
func TestReservedNames(t *testing.T) {
	st, _ := openStandIn(t)
	ctx := ctxFor(t)
	ev := eventstoretest.NewEvent("Happened", 1)
	sys := ev
	sys.Type = "$Happened"
	for _, c := range []struct {
		stream string
		ev     es.Event
	}{{"$system", ev}, {"_gateway-checkpoint-x", ev}, {"a/_gateway-eventid-x", ev}, {"s", sys}} {
		if _, err := st.Append(ctx, c.stream, es.NoStream, c.ev); !errors.Is(err, eventstore.ErrInvalidAppend) {
			t.Errorf("append to %q of type %q: err = %v, want ErrInvalidAppend", c.stream, c.ev.Type, err)
		}
	}
}

// TestLongStreamPages: streams and the log longer than one read page.
func TestLongStreamPages(t *testing.T) {
	st, _ := openStandIn(t)
	ctx := ctxFor(t)
	const total = pageSize + 88
	for v := 0; v < total; v += 100 {
		n := min(100, total-v)
		if _, err := st.Append(ctx, "long", int64(v), eventstoretest.NewEvents("Happened", n)...); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := st.ReadStream(ctx, "long", 0)
	if err != nil || len(recs) != total {
		t.Fatalf("read stream = %d events, %v; want %d", len(recs), err, total)
	}
	if at, err := es.VerifyChain(recs); err != nil {
		t.Fatalf("chain broken at %d: %v", at, err)
	}
	all, err := st.ReadAll(ctx, es.Start, total+10)
	if err != nil || len(all) != total {
		t.Fatalf("read all = %d events, %v; want %d", len(all), err, total)
	}
	for i, r := range all {
		if r.ID != recs[i].ID || r.Position != recs[i].Position {
			t.Fatalf("read all and read stream differ at %d", i)
		}
	}
}

// TestOpenErrors: a server that does not answer and a broken connection
// string are reported with the host, never with the password.
func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := Open(ctx, "esdb://admin:s3cret@127.0.0.1:1?tls=false&maxDiscoverAttempts=2")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("open on a closed port: err = %v, want one naming 127.0.0.1:1 without the password", err)
	}
	_, err = Open(ctx, "esdb://admin:s3cret@db.example:notaport?tls=false")
	if err == nil || !strings.Contains(err.Error(), "db.example") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("open with a bad port: err = %v, want one naming db.example without the password", err)
	}
	_, err = Open(ctx, "http://admin:s3cret@db.example:2113")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("open with a wrong scheme: err = %v, want one without the password", err)
	}
}

// TestDiscover: esdb+discover:// asks the stand-in's gossip for the leader.
func TestDiscover(t *testing.T) {
	srv := esdbtest.New(t)
	st := open(t, "esdb+discover://"+srv.Addr()+"?tls=false")
	defer st.Close()
	ctx := ctxFor(t)
	if _, err := st.Append(ctx, "s", es.NoStream, eventstoretest.NewEvent("Happened", 1)); err != nil {
		t.Fatal(err)
	}
}

// TestClosed: a closed store refuses calls instead of hanging.
func TestClosed(t *testing.T) {
	srv := esdbtest.New(t)
	st := open(t, srv.URL())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadAll(t.Context(), es.Start, 1); err == nil {
		t.Errorf("read all on a closed store succeeded")
	}
	if err := st.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestRecoversAfterServerRestart: after the server was gone long enough
// for the client library to give up on it (it then closes itself for
// good), the store replaces the client and works again once a server
// answers at the address.
func TestRecoversAfterServerRestart(t *testing.T) {
	srv := esdbtest.New(t)
	addr := srv.Addr()
	st := open(t, srv.URL()+"&maxDiscoverAttempts=1")
	t.Cleanup(func() { _ = st.Close() })
	ctx := ctxFor(t)
	if _, err := st.Append(ctx, "s", es.NoStream, eventstoretest.NewEvent("Happened", 1)); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for range 3 {
		if _, err := st.ReadAll(ctx, es.Start, 10); err == nil {
			t.Fatal("read all succeeded with the server gone")
		}
	}
	again, err := esdbtest.StartAt(addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	t.Cleanup(again.Close)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.Append(ctx, "t", es.NoStream, eventstoretest.NewEvent("Happened", 2))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStoredMetadata: what EventStoreDB holds for an event is our metadata
// with the chain hash, plus the keys its own projections read.
func TestStoredMetadata(t *testing.T) {
	st, srv := openStandIn(t)
	ev := eventstoretest.NewEvent("Happened", 1)
	if _, err := st.Append(ctxFor(t), "s", es.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	for _, e := range srv.Events() {
		if e.ID.String() != ev.ID {
			continue
		}
		md := string(e.Metadata)
		for _, want := range []string{`"hash":"`, `"correlation_id":"` + ev.Metadata.CorrelationID, `"$correlationId":"` + ev.Metadata.CorrelationID, `"$causationId":"` + ev.Metadata.CausationID} {
			if !strings.Contains(md, want) {
				t.Errorf("stored metadata %s lacks %s", md, want)
			}
		}
		if e.ContentType != "application/json" || e.Type != "Happened" {
			t.Errorf("stored as %s of type %s", e.ContentType, e.Type)
		}
		return
	}
	t.Fatal("the event is not on the server")
}
