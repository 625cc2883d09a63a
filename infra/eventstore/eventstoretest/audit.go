package eventstoretest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// isHash reports whether s looks like a hex SHA-256.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// chainOf computes, outside the store, the hashes the events appended to
// stream in this order must have.
func chainOf(t *testing.T, stream string, evs []es.Event) []string {
	t.Helper()
	var out []string
	prev := ""
	for i, ev := range evs {
		h, err := es.ChainHash(prev, stream, int64(i+1), ev)
		if err != nil {
			t.Fatalf("chain hash of %s version %d: %v", stream, i+1, err)
		}
		out, prev = append(out, h), h
	}
	return out
}

func hashes(recs []es.Recorded) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Metadata.Hash
	}
	return out
}

func mustVerify(t *testing.T, what string, recs []es.Recorded) {
	t.Helper()
	if at, err := es.VerifyChain(recs); at != 0 || err != nil {
		t.Fatalf("%s: chain broken at version %d: %v", what, at, err)
	}
}

// testHashChainOnEveryEvent: every event comes back with the hash of its
// link in its stream's chain, computed from what the caller appended (not
// from what the caller put in Metadata.Hash), the same on every read path.
func (s *suite) testHashChainOnEveryEvent(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	conv := NewEvents("MessageSent", 5)
	conv[1].Metadata.Hash = "forged-by-the-caller"
	conv[3].Metadata.Hash = strings.Repeat("0", 64)
	contact := NewEvents("ContactCreated", 1)
	mustAppend(t, ctx, st, "conversation-1", es.NoStream, conv[:3]...)
	mustAppend(t, ctx, st, "contact-1", es.AnyVersion, contact...)
	mustAppend(t, ctx, st, "conversation-1", 3, conv[3])
	mustAppend(t, ctx, st, "conversation-1", es.AnyVersion, conv[4])

	seen := map[string]bool{}
	for stream, evs := range map[string][]es.Event{"conversation-1": conv, "contact-1": contact} {
		recs := mustReadStream(t, ctx, st, stream, 0)
		if len(recs) != len(evs) {
			t.Fatalf("%s has %d events, want %d", stream, len(recs), len(evs))
		}
		want := chainOf(t, stream, evs)
		for i, r := range recs {
			if !isHash(r.Metadata.Hash) {
				t.Fatalf("%s version %d: hash %q is not a hex SHA-256", stream, r.StreamVersion, r.Metadata.Hash)
			}
			if r.Metadata.Hash != want[i] {
				t.Errorf("%s version %d: stored hash %s, the appended event hashes to %s", stream, r.StreamVersion, r.Metadata.Hash, want[i])
			}
			if seen[r.Metadata.Hash] {
				t.Errorf("%s version %d: hash %s is not unique", stream, r.StreamVersion, r.Metadata.Hash)
			}
			seen[r.Metadata.Hash] = true
		}
		mustVerify(t, "read stream "+stream, recs)
		if tail := mustReadStream(t, ctx, st, stream, 2); !slices.Equal(hashes(tail), hashes(recs[min(2, len(recs)):])) {
			t.Errorf("%s: reading after version 2 returns other hashes than a full read", stream)
		}
	}

	all := readAllEventually(t, ctx, st, 6)
	mustVerify(t, "read all", all)
	for _, r := range all {
		if !seen[r.Metadata.Hash] {
			t.Errorf("read all returns event %s with hash %s, read stream did not", r.ID, r.Metadata.Hash)
		}
		corr, err := st.ReadCorrelated(ctx, r.Metadata.CorrelationID, es.Start, 10)
		if err != nil || len(corr) != 1 || corr[0].Metadata.Hash != r.Metadata.Hash {
			t.Errorf("read correlated %s = %d events, %v; want event %s with the same hash", r.Metadata.CorrelationID, len(corr), err, r.ID)
		}
	}
}

// awkwardData is JSON that a store may legitimately give back in other
// bytes: Postgres jsonb reorders keys, drops whitespace and duplicate keys,
// turns escapes into characters and rewrites numbers. The hash must not
// notice.
var awkwardData = []string{
	`{"z": 1e2, "a": [1.0, -0, 0.10, 1E+2, 12345678901234567890123456789, 2.5e-3, -7], "m": {"b": {}, "a": []}}`,
	`{ "s" : "\u00e9\u0041 \/ <&> \"q\" \\ \t \u2028 🙂 \ud83d\ude42", "null" : null, "t" : true }`,
	`{"dup": 1, "dup": 2, "long": "` + strings.Repeat("x", 3000) + `", "k\u00e9y": "v"}`,
	`[3, {"b": 2, "a": 1}, "not an object at the top"]`,
	`"just a string"`,
	`0.000`,
}

func awkwardEvent(i int) es.Event {
	ev := NewEvent("Awkward", i)
	ev.Data = json.RawMessage(awkwardData[i%len(awkwardData)])
	return ev
}

// testHashChainSurvivesStorage: hashes still verify after what storage
// does to the bytes, on every read path, after paging, after a reopen and
// across appends made after it.
func (s *suite) testHashChainSurvivesStorage(t *testing.T) {
	ctx := testContext(t)
	st := s.newStore(t)
	t.Cleanup(func() { _ = st.Close() }) // whichever store is current at the end

	var awkward, plain []es.Event
	for i := range len(awkwardData) {
		ev := awkwardEvent(i)
		mustAppend(t, ctx, st, "awkward", int64(i), ev)
		awkward = append(awkward, ev)
		pl := NewEvents("Plain", 1+i%2)
		mustAppend(t, ctx, st, "plain", es.AnyVersion, pl...)
		plain = append(plain, pl...)
	}
	total := len(awkward) + len(plain)

	check := func(when string) {
		t.Helper()
		for stream, evs := range map[string][]es.Event{"awkward": awkward, "plain": plain} {
			recs := mustReadStream(t, ctx, st, stream, 0)
			mustVerify(t, when+": read stream "+stream, recs)
			if !slices.Equal(hashes(recs), chainOf(t, stream, evs)) {
				t.Fatalf("%s: %s: stored hashes differ from those of the appended events", when, stream)
			}
		}
		all := readAllEventually(t, ctx, st, total)
		mustVerify(t, when+": read all", all)
		for _, limit := range []int{1, 2, 5} {
			paged := readAll(t, ctx, st, es.Start, limit)
			mustVerify(t, fmt.Sprintf("%s: read all in pages of %d", when, limit), paged)
			if !slices.Equal(hashes(paged), hashes(all)) {
				t.Fatalf("%s: pages of %d carry other hashes than one read", when, limit)
			}
		}
	}
	check("after appending")
	if s.cfg.reopen == nil {
		return
	}
	st = s.cfg.reopen(t, st)
	check("after a reopen")
	// Appends after the reopen link to the hashes from before it.
	ev := awkwardEvent(len(awkward))
	mustAppend(t, ctx, st, "awkward", int64(len(awkward)), ev)
	awkward = append(awkward, ev)
	pl := NewEvent("Plain", 99)
	mustAppend(t, ctx, st, "plain", es.AnyVersion, pl)
	plain = append(plain, pl)
	total += 2
	check("after appending again")
}

// testHashChainUnderConcurrentAppends: writers racing on one stream, with
// es.AnyVersion and with exact versions retried on conflict, still leave
// one chain in version order.
func (s *suite) testHashChainUnderConcurrentAppends(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	const writers, appendsEach = 8, 12
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appendsEach {
				evs := NewEvents("Raced", 1+(w+i)%3)
				if _, err := st.Append(ctx, "shared-any", es.AnyVersion, evs...); err != nil {
					t.Errorf("writer %d: any-version append: %v", w, err)
					return
				}
				for {
					recs, err := st.ReadStream(ctx, "shared-exact", 0)
					if err != nil {
						t.Errorf("writer %d: read: %v", w, err)
						return
					}
					_, err = st.Append(ctx, "shared-exact", int64(len(recs)), NewEvent("Claimed", i))
					if err == nil {
						break
					}
					if !errors.Is(err, es.ErrConcurrency) {
						t.Errorf("writer %d: exact append: %v", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for _, stream := range []string{"shared-any", "shared-exact"} {
		recs := mustReadStream(t, ctx, st, stream, 0)
		mustVerify(t, stream, recs)
		total += len(recs)
	}
	all := readAllEventually(t, ctx, st, total)
	checkLogOrder(t, all)
	mustVerify(t, "read all", all)
}

// testTamperedEventBreaksTheChain: an event changed behind the store's back
// is found, and VerifyChain names its stream and version.
func (s *suite) testTamperedEventBreaksTheChain(t *testing.T) {
	ctx := testContext(t)
	st := s.newStore(t)
	t.Cleanup(func() { _ = st.Close() })
	ledger := NewEvents("Charged", 5)
	mustAppend(t, ctx, st, "ledger", es.NoStream, ledger[:2]...)
	mustAppend(t, ctx, st, "other", es.NoStream, NewEvents("Charged", 2)...)
	mustAppend(t, ctx, st, "ledger", 2, ledger[2:]...)
	before := mustReadStream(t, ctx, st, "ledger", 0)
	mustVerify(t, "before tampering", before)

	st = s.cfg.tamper(t, st, "ledger", 3)

	after := mustReadStream(t, ctx, st, "ledger", 0)
	if len(after) != len(before) || jsonEqual(after[2].Data, before[2].Data) {
		t.Fatalf("the tamper helper did not change the data of ledger version 3")
	}
	wantBroken := func(what string, recs []es.Recorded) {
		t.Helper()
		at, err := es.VerifyChain(recs)
		var ce *es.ChainError
		if at != 3 || !errors.As(err, &ce) || ce.Stream != "ledger" || ce.Version != 3 || !errors.Is(err, es.ErrChainBroken) {
			t.Fatalf("%s: VerifyChain = %d, %v; want a break at version 3 of ledger", what, at, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "stream ledger") || !strings.Contains(msg, "version 3") {
			t.Errorf("%s: error %q does not name the stream and version", what, msg)
		}
	}
	wantBroken("read stream", after)
	wantBroken("read all", readAllEventually(t, ctx, st, 7))
	mustVerify(t, "the stream nobody touched", mustReadStream(t, ctx, st, "other", 0))
	// The events before the changed one still verify on their own.
	mustVerify(t, "ledger up to version 2", after[:2])
}

// testReadCorrelated: a conversation's events across all the streams it
// touched, in log order, and nothing of any other correlation.
func (s *suite) testReadCorrelated(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	corrA, corrB := "conv-"+uuid.NewString(), "conv-"+uuid.NewString()
	corrAX := corrA + "-x" // corrA is a prefix of it
	with := func(corr string, evs ...es.Event) []es.Event {
		for i := range evs {
			evs[i].Metadata.CorrelationID = corr
		}
		return evs
	}
	if page, err := st.ReadCorrelated(ctx, corrA, es.Start, 10); err != nil || len(page) != 0 {
		t.Fatalf("read correlated on an empty store = %d events, %v; want none and no error", len(page), err)
	}
	versions := map[string]int64{}
	add := func(stream string, evs ...es.Event) {
		mustAppend(t, ctx, st, stream, versions[stream], evs...)
		versions[stream] += int64(len(evs))
	}
	add("conversation-a", with(corrA, NewEvents("MessageAccepted", 2)...)...)
	add("contact-1", with(corrA, NewEvent("ContactCreated", 1))...)
	add("task-1", with(corrB, NewEvent("TaskCreated", 1))...)
	add("conversation-a", with(corrA, NewEvent("ToolCalled", 3))...)
	add("email-1", with(corrAX, NewEvent("EmailSent", 1))...)
	add("webhook-a", with(corrA, NewEvents("WebhookDelivered", 2)...)...)
	add("document-1", with("", NewEvent("DocumentAdded", 1))...)
	add("task-2", with(corrB, NewEvent("TaskCreated", 2))...)
	add("conversation-a", with(corrA, NewEvent("ConversationCompleted", 4))...)
	add("contact-1", with(corrB, NewEvent("ContactUpdated", 2))...)

	all := readAllEventually(t, ctx, st, 12)
	of := func(corr string) []es.Recorded {
		var out []es.Recorded
		for _, r := range all {
			if r.Metadata.CorrelationID == corr {
				out = append(out, r)
			}
		}
		return out
	}
	read := func(corr string, after es.Position, limit int) []es.Recorded {
		t.Helper()
		page, err := st.ReadCorrelated(ctx, corr, after, limit)
		if err != nil {
			t.Fatalf("read correlated %s after %s: %v", corr, after, err)
		}
		if len(page) > limit {
			t.Fatalf("read correlated with limit %d returned %d events", limit, len(page))
		}
		return page
	}
	wantA := of(corrA)
	if len(wantA) != 7 {
		t.Fatalf("the log holds %d events of %s, want 7", len(wantA), corrA)
	}
	for corr, want := range map[string][]es.Recorded{corrA: wantA, corrB: of(corrB), corrAX: of(corrAX)} {
		got := read(corr, es.Start, 100)
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("read correlated %s = %v, want %v (log order)", corr, ids(got), ids(want))
		}
		checkLogOrder(t, got)
		for i, r := range got {
			if r.Metadata.CorrelationID != corr {
				t.Errorf("read correlated %s returned event %s of %q", corr, r.ID, r.Metadata.CorrelationID)
			}
			if i < len(want) && (r.Position != want[i].Position || r.Stream != want[i].Stream ||
				r.StreamVersion != want[i].StreamVersion || r.Metadata.Hash != want[i].Metadata.Hash || !jsonEqual(r.Data, want[i].Data)) {
				t.Errorf("read correlated %s: event %s differs from what read all returns", corr, r.ID)
			}
		}
	}

	// Paging by the last position seen yields the same events.
	var paged []es.Recorded
	for after := es.Start; ; {
		page := read(corrA, after, 2)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Position
	}
	if !slices.Equal(ids(paged), ids(wantA)) {
		t.Errorf("paging %s by 2 = %v, want %v", corrA, ids(paged), ids(wantA))
	}
	// after may be any position of the log, not only one of this
	// correlation's events.
	for cut := range all {
		var want []string
		for _, r := range wantA {
			if all[cut].Position.Less(r.Position) {
				want = append(want, r.ID)
			}
		}
		if got := ids(read(corrA, all[cut].Position, 100)); !slices.Equal(got, want) {
			t.Errorf("read correlated after log index %d = %v, want %v", cut, got, want)
		}
		if got := ids(read(corrA, all[cut].Position, 1)); len(want) > 0 && (len(got) != 1 || got[0] != want[0]) {
			t.Errorf("read correlated after log index %d with limit 1 = %v, want [%s]", cut, got, want[0])
		}
	}
	if got := read(corrA, es.Position{Tx: math.MaxUint64, Seq: math.MaxUint64}, 10); len(got) != 0 {
		t.Errorf("read correlated after the largest position returned %d events", len(got))
	}
	if got := read("conv-"+uuid.NewString(), es.Start, 10); len(got) != 0 {
		t.Errorf("read correlated of an unknown id returned %d events", len(got))
	}
	if _, err := st.ReadCorrelated(ctx, "", es.Start, 10); err == nil {
		t.Errorf("read correlated with an empty id succeeded, want an error")
	}
	if _, err := st.ReadCorrelated(ctx, corrA, es.Start, 0); err == nil {
		t.Errorf("read correlated with limit 0 succeeded, want an error")
	}
}

// testReadCorrelatedWaitsForSlowCommits: ReadCorrelated obeys the rule of
// ReadAll. While an append that took an earlier place in the log is still
// open, a later committed event of the same correlation is not returned,
// or a reader that checkpoints it would never see the earlier one.
func (s *suite) testReadCorrelatedWaitsForSlowCommits(t *testing.T) {
	ctx, st := testContext(t), s.open(t)
	corr := "conv-" + uuid.NewString()
	slowEvs := NewEvents("SlowlyCommitted", 2)
	for i := range slowEvs {
		slowEvs[i].Metadata.CorrelationID = corr
	}
	release := make(chan struct{})
	var bg sync.WaitGroup
	defer bg.Wait()
	done := s.startSlowAppend(t, ctx, &bg, st, "conversation-slow", slowEvs, release, nil)
	fast := NewEvent("QuicklyCommitted", 3)
	fast.Metadata.CorrelationID = corr
	mustAppend(t, ctx, st, "task-fast", es.NoStream, fast)

	if page, err := st.ReadCorrelated(ctx, corr, es.Start, 10); err != nil || len(page) != 0 {
		close(release)
		<-done
		t.Fatalf("read correlated returned %d events (%v) while an earlier append was open, want none", len(page), err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("slow append: %v", err)
	}
	want := []string{slowEvs[0].ID, slowEvs[1].ID, fast.ID}
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := st.ReadCorrelated(ctx, corr, es.Start, 10)
		if err != nil {
			t.Fatalf("read correlated: %v", err)
		}
		if len(page) == len(want) {
			if got := ids(page); !slices.Equal(got, want) {
				t.Fatalf("read correlated = %v, want the slow events, then the fast one: %v", got, want)
			}
			return
		}
		if len(page) > len(want) || time.Now().After(deadline) {
			t.Fatalf("read correlated returns %d of %d events", len(page), len(want))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
