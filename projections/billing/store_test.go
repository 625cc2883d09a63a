package billing

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

// t0 has nanoseconds on purpose: both stores must cut them the same way.
var t0 = time.Date(2026, 3, 14, 10, 0, 0, 123456789, time.UTC)

var day0 = DateOf(t0)

// eventLog hands out global positions in order, like the event store, and
// keeps each stream's version.
type eventLog struct {
	seq      uint64
	versions map[string]int64
}

func (l *eventLog) rec(t *testing.T, stream string, f es.Fact) es.Recorded {
	t.Helper()
	if l.versions == nil {
		l.versions = map[string]int64{}
	}
	l.versions[stream]++
	return l.recAt(t, stream, l.versions[stream], f)
}

// recAt records f at an explicit stream version (for gaps and replays).
func (l *eventLog) recAt(t *testing.T, stream string, version int64, f es.Fact) es.Recorded {
	t.Helper()
	ev, err := es.NewEvent(uuid.NewString(), f, es.Metadata{Actor: es.Actor{Kind: "agent"}, OccurredAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	l.seq++
	return es.Recorded{ID: ev.ID, Stream: stream, StreamVersion: version, Position: es.Position{Seq: l.seq},
		Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata}
}

// budget is one key's period stream in a workspace, for building events.
type budget struct {
	l                *eventLog
	ws, key, user    string
	period           string
	conversationID   string
	reservationCount int
}

func newBudget(l *eventLog, ws, period string) *budget {
	return &budget{l: l, ws: ws, key: uuid.NewString(), user: uuid.NewString(), period: period, conversationID: uuid.NewString()}
}

func (b *budget) stream() string { return "budget-" + b.key + "-" + b.period }

func (b *budget) reserve(t *testing.T, amount int64) (string, es.Recorded) {
	t.Helper()
	b.reservationCount++
	id := fmt.Sprintf("res-%s-%d", b.key[:8], b.reservationCount)
	return id, b.l.rec(t, b.stream(), &dbilling.Reserved{ReservationID: id, ConversationID: b.conversationID,
		CauseKind: dbilling.CauseModelStep, CauseRef: "step 1", Amount: dbilling.MicroUSD(amount), ReservedAt: t0})
}

type chargeSpec struct {
	user, model, kind string
	in, out           int
	amount            int64
	at                time.Time
}

func (b *budget) charge(t *testing.T, id string, c chargeSpec) es.Recorded {
	t.Helper()
	if c.kind == "" {
		c.kind = dbilling.CauseModelStep
	}
	if c.user == "" {
		c.user = b.user
	}
	if c.at.IsZero() {
		c.at = t0
	}
	return b.l.rec(t, b.stream(), &dbilling.Charged{ReservationID: id, ConversationID: b.conversationID, APIKeyID: b.key,
		WorkspaceID: b.ws, UserID: c.user, Period: b.period, CauseKind: c.kind, CauseRef: "ref of " + id, Model: c.model,
		Usage: agent.Usage{InputTokens: c.in, OutputTokens: c.out}, Amount: dbilling.MicroUSD(c.amount), ChargedAt: c.at})
}

// spend reserves and charges in one go; it returns both events.
func (b *budget) spend(t *testing.T, c chargeSpec) []es.Recorded {
	t.Helper()
	id, r := b.reserve(t, c.amount+100)
	return []es.Recorded{r, b.charge(t, id, c)}
}

func (b *budget) release(t *testing.T, id string) es.Recorded {
	t.Helper()
	return b.l.rec(t, b.stream(), &dbilling.Released{ReservationID: id, Reason: "unused", ReleasedAt: t0})
}

func period(t *testing.T, s Store, key, p string) PeriodTotals {
	t.Helper()
	v, err := s.Period(context.Background(), key, p)
	if err != nil {
		t.Fatalf("period: %v", err)
	}
	return v
}

func report(t *testing.T, s Store, ws string, q ReportQuery) ReportPage {
	t.Helper()
	p, err := s.Report(context.Background(), ws, q)
	if err != nil {
		t.Fatalf("report %+v: %v", q, err)
	}
	return p
}

func charges(t *testing.T, s Store, ws string, from, to Date, after string, limit int) ChargePage {
	t.Helper()
	p, err := s.Charges(context.Background(), ws, from, to, after, limit)
	if err != nil {
		t.Fatalf("charges: %v", err)
	}
	return p
}

// allRows pages through a report with the given page size.
func allRows(t *testing.T, s Store, ws string, q ReportQuery) ([]Row, Row) {
	t.Helper()
	var rows []Row
	var total Row
	for i := 0; ; i++ {
		p := report(t, s, ws, q)
		if i == 0 {
			total = p.Total
		} else if p.Total != total {
			t.Fatalf("total changed between pages: %+v then %+v", total, p.Total)
		}
		rows = append(rows, p.Rows...)
		if !p.HasMore {
			if p.NextCursor != "" {
				t.Fatalf("last page has a cursor %q", p.NextCursor)
			}
			return rows, total
		}
		if p.NextCursor == "" || len(p.Rows) == 0 {
			t.Fatalf("page %d has more but no cursor or no rows: %+v", i, p)
		}
		q.After = p.NextCursor
		if i > 10000 {
			t.Fatalf("pagination does not end")
		}
	}
}

func groups(rows []Row) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.Group)
	}
	return out
}

func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	ws, otherWS := uuid.NewString(), uuid.NewString()
	ctx := context.Background()

	t.Run("name", func(t *testing.T) {
		if got := newStore(t).Name(); got != "billing" {
			t.Fatalf("Name() = %q", got)
		}
	})

	t.Run("empty store", func(t *testing.T) {
		s := newStore(t)
		if cp := projectiontest.Checkpoint(t, s); cp != es.Start {
			t.Fatalf("checkpoint = %v, want start", cp)
		}
		if err := s.Apply(ctx, nil); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
		key := uuid.NewString()
		if p := period(t, s, key, "2026-03"); p != (PeriodTotals{APIKeyID: key, PeriodKey: "2026-03"}) {
			t.Fatalf("period of nothing = %+v", p)
		}
		p := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupKey})
		if len(p.Rows) != 0 || p.Rows == nil || p.Total != (Row{}) || p.HasMore || p.NextCursor != "" {
			t.Fatalf("report of nothing = %#v", p)
		}
		if c := charges(t, s, ws, day0, day0, "", 0); len(c.Charges) != 0 || c.HasMore {
			t.Fatalf("charges of nothing = %+v", c)
		}
		if w, err := s.Workspaces(ctx, day0, day0); err != nil || len(w) != 0 {
			t.Fatalf("workspaces of nothing = %v, %v", w, err)
		}
	})

	t.Run("folds reservations, charges and releases", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		b := newBudget(&l, ws, "2026-03-14")
		r1, e1 := b.reserve(t, 10_000)
		r2, e2 := b.reserve(t, 5_000)
		projectiontest.Apply(t, s, e1, e2)
		want := PeriodTotals{APIKeyID: b.key, PeriodKey: "2026-03-14", OutstandingMicroUSD: 15_000, Reservations: 2, OpenReservations: 2, Version: 2}
		if got := period(t, s, b.key, "2026-03-14"); got != want {
			t.Fatalf("after two reservations: %+v\nwant %+v", got, want)
		}
		c1 := b.charge(t, r1, chargeSpec{model: "gpt-4o", in: 1200, out: 80, amount: 7_000})
		rel := b.release(t, r2)
		r3, e3 := b.reserve(t, 1_000)
		c3 := b.charge(t, r3, chargeSpec{kind: dbilling.CauseToolCall, amount: 1_000, at: t0.Add(time.Minute)})
		// Charging or releasing what is not open changes spend only, as
		// in the aggregate's fold.
		stray := b.release(t, "never-reserved")
		projectiontest.Apply(t, s, c1, rel, e3, c3, stray)
		want = PeriodTotals{APIKeyID: b.key, PeriodKey: "2026-03-14", SpentMicroUSD: 8_000, Charges: 2, Reservations: 3, Version: 7}
		if got := period(t, s, b.key, "2026-03-14"); got != want {
			t.Fatalf("after settling: %+v\nwant %+v", got, want)
		}
		// The domain's own fold agrees.
		var agg dbilling.Budget
		for _, rec := range []es.Recorded{e1, e2, c1, rel, e3, c3, stray} {
			f, err := dbilling.Events.Decode(rec)
			if err != nil {
				t.Fatal(err)
			}
			agg.Apply(f)
		}
		if int64(agg.Spent) != want.SpentMicroUSD || int64(agg.Outstanding) != want.OutstandingMicroUSD || agg.Charges != want.Charges || len(agg.Open) != 0 {
			t.Fatalf("the aggregate folds to %+v, the read model to %+v", agg, want)
		}
		got := charges(t, s, ws, day0, day0, "", 0)
		wantRows := []Charge{
			{EventID: c1.ID, Position: c1.Position, ReservationID: r1, WorkspaceID: ws, APIKeyID: b.key, UserID: b.user,
				ConversationID: b.conversationID, PeriodKey: "2026-03-14", CauseKind: dbilling.CauseModelStep, CauseRef: "ref of " + r1,
				Model: "gpt-4o", InputTokens: 1200, OutputTokens: 80, AmountMicroUSD: 7_000, ChargedAt: t0.Truncate(time.Microsecond), Day: day0, Mode: ModeLive},
			{EventID: c3.ID, Position: c3.Position, ReservationID: r3, WorkspaceID: ws, APIKeyID: b.key, UserID: b.user,
				ConversationID: b.conversationID, PeriodKey: "2026-03-14", CauseKind: dbilling.CauseToolCall, CauseRef: "ref of " + r3,
				AmountMicroUSD: 1_000, ChargedAt: t0.Add(time.Minute).Truncate(time.Microsecond), Day: day0, Mode: ModeLive},
		}
		if !reflect.DeepEqual(got.Charges, wantRows) || got.HasMore || got.NextCursor != "" {
			t.Fatalf("charges = %+v\nwant %+v", got, wantRows)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != stray.Position {
			t.Fatalf("checkpoint = %v, want %v", cp, stray.Position)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		b := newBudget(&l, ws, "2026-03")
		batch := append(b.spend(t, chargeSpec{model: "m", amount: 3_000, in: 10, out: 5}),
			b.spend(t, chargeSpec{model: "m", amount: 2_000, in: 10, out: 5})...)
		projectiontest.Apply(t, s, batch...)
		want := period(t, s, b.key, "2026-03")
		wantReport := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupModel})
		// The same batch again, then a batch overlapping the checkpoint.
		projectiontest.Apply(t, s, batch...)
		more := b.spend(t, chargeSpec{model: "m", amount: 500, in: 1, out: 1})
		projectiontest.Apply(t, s, append(batch[2:], more...)...)
		want.SpentMicroUSD += 500
		want.Charges++
		want.Reservations++
		want.Version += 2
		if got := period(t, s, b.key, "2026-03"); got != want {
			t.Fatalf("after replays: %+v\nwant %+v", got, want)
		}
		// An event the stream already holds, delivered again at a later
		// position (a replay from an older checkpoint) changes nothing.
		dup := l.recAt(t, b.stream(), 2, &dbilling.Charged{ReservationID: "x", WorkspaceID: ws, Amount: 99_999, ChargedAt: t0})
		projectiontest.Apply(t, s, dup)
		if got := period(t, s, b.key, "2026-03"); got != want {
			t.Fatalf("after a duplicate version: %+v\nwant %+v", got, want)
		}
		r := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupModel})
		if r.Total.AmountMicroUSD != wantReport.Total.AmountMicroUSD+500 || r.Total.Charges != 3 || len(r.Rows) != 1 || r.Rows[0].Charges != 3 {
			t.Fatalf("report after replays = %+v (before %+v)", r, wantReport)
		}
		if c := charges(t, s, ws, day0, day0, "", 0); len(c.Charges) != 3 {
			t.Fatalf("%d charge rows after replays, want 3", len(c.Charges))
		}
	})

	t.Run("a gap or a stream out of place is refused, all or nothing", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		a, b := newBudget(&l, ws, "2026-03"), newBudget(&l, ws, "2026-03")
		first := a.spend(t, chargeSpec{model: "m", amount: 1_000})
		projectiontest.Apply(t, s, first[0])
		cp := projectiontest.Checkpoint(t, s)
		// b's first event is missing; a's charge comes before the gap in
		// the same batch and must not land either.
		bRes, bReserve := b.reserve(t, 100)
		bCharge := b.charge(t, bRes, chargeSpec{model: "m", amount: 100})
		err := s.Apply(ctx, []es.Recorded{first[1], bCharge})
		if !errors.Is(err, projections.ErrGap) {
			t.Fatalf("gap: err = %v, want ErrGap", err)
		}
		if got := projectiontest.Checkpoint(t, s); got != cp {
			t.Fatalf("checkpoint moved to %v on a refused batch, want %v", got, cp)
		}
		if p := period(t, s, a.key, "2026-03"); p.Charges != 0 || p.Version != 1 {
			t.Fatalf("a refused batch changed the period: %+v", p)
		}
		if c := charges(t, s, ws, day0, day0, "", 0); len(c.Charges) != 0 {
			t.Fatalf("a refused batch left charge rows: %+v", c.Charges)
		}
		// A stream that starts with a charge has lost its reservation.
		orphan := newBudget(&l, ws, "total")
		if err := s.Apply(ctx, []es.Recorded{orphan.charge(t, "r", chargeSpec{amount: 5})}); err == nil {
			t.Fatalf("a budget stream starting with ChargeRecorded was accepted")
		}
		// In order, everything lands.
		projectiontest.Apply(t, s, first[1], bReserve, bCharge)
		if p := period(t, s, b.key, "2026-03"); p.SpentMicroUSD != 100 || p.Version != 2 {
			t.Fatalf("after the in-order retry: %+v", p)
		}
		if r := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupKey}); r.Total.AmountMicroUSD != 1_100 || len(r.Rows) != 2 {
			t.Fatalf("report after the retry = %+v", r)
		}
	})

	t.Run("other streams are ignored", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		b := newBudget(&l, ws, "2026-03")
		shaped := l.rec(t, "conversation-"+uuid.NewString(), &dbilling.Charged{ReservationID: "r", WorkspaceID: ws, Amount: 5, ChargedAt: t0})
		noPeriod := l.rec(t, "budget-"+b.key, &dbilling.Reserved{ReservationID: "r", Amount: 5})
		badPeriod := l.rec(t, "budget-"+b.key+"-weekly", &dbilling.Reserved{ReservationID: "r", Amount: 5})
		projectiontest.Apply(t, s, shaped, noPeriod, badPeriod)
		if cp := projectiontest.Checkpoint(t, s); cp != badPeriod.Position && cp != es.Start {
			t.Fatalf("checkpoint = %v", cp)
		}
		if r := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupKey}); r.Total != (Row{}) {
			t.Fatalf("foreign events were counted: %+v", r)
		}
		projectiontest.Apply(t, s, b.spend(t, chargeSpec{model: "m", amount: 42})...)
		if p := period(t, s, b.key, "2026-03"); p.SpentMicroUSD != 42 {
			t.Fatalf("after foreign events: %+v", p)
		}
	})

	t.Run("stream names", func(t *testing.T) {
		key := "6cafd8ba-dd51-4411-808e-671d1dd59561"
		for _, p := range []string{"2026-03-14", "2026-03", "total"} {
			if k, got, ok := ParseStream("budget-" + key + "-" + p); !ok || k != key || got != p {
				t.Errorf("ParseStream(%s) = %q %q %v", p, k, got, ok)
			}
		}
		for _, bad := range []string{"budget-", "budget--2026-03", "budget-" + key, "conversation-" + key + "-total", "budget-" + key + "-2026-3"} {
			if _, _, ok := ParseStream(bad); ok {
				t.Errorf("ParseStream(%q) accepted", bad)
			}
		}
	})

	t.Run("grouping", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		k1, k2 := newBudget(&l, ws, "2026-03"), newBudget(&l, ws, "2026-03")
		ada, bob := "user-ada", "user-bob"
		d1, d2 := t0, t0.Add(24*time.Hour)
		var batch []es.Recorded
		for _, x := range []struct {
			b *budget
			c chargeSpec
		}{
			{k1, chargeSpec{user: ada, model: "gpt-4o", in: 100, out: 10, amount: 1_000, at: d1}},
			{k1, chargeSpec{user: ada, kind: dbilling.CauseToolCall, amount: 50, at: d1}},
			{k1, chargeSpec{user: bob, model: "offline", in: 200, out: 20, amount: 300, at: d2}},
			{k2, chargeSpec{user: bob, model: "gpt-4o", in: 1_000, out: 100, amount: 9_000, at: d2}},
			{k2, chargeSpec{user: bob, kind: dbilling.CauseToolCall, amount: 50, at: d2}},
			{k2, chargeSpec{user: ada, in: 7, out: 1, amount: 7, at: d1}}, // a step with no model recorded
		} {
			batch = append(batch, x.b.spend(t, x.c)...)
		}
		projectiontest.Apply(t, s, batch...)
		total := Row{AmountMicroUSD: 10_407, Charges: 6, InputTokens: 1_307, OutputTokens: 131}
		keys := []Row{{Group: k1.key, AmountMicroUSD: 1_350, Charges: 3, InputTokens: 300, OutputTokens: 30},
			{Group: k2.key, AmountMicroUSD: 9_057, Charges: 3, InputTokens: 1_007, OutputTokens: 101}}
		sort.Slice(keys, func(i, j int) bool { return keys[i].Group < keys[j].Group })
		cases := map[string][]Row{
			GroupKey: keys,
			GroupDay: {{Group: "2026-03-14", AmountMicroUSD: 1_057, Charges: 3, InputTokens: 107, OutputTokens: 11},
				{Group: "2026-03-15", AmountMicroUSD: 9_350, Charges: 3, InputTokens: 1_200, OutputTokens: 120}},
			GroupModel: {{Group: ToolCallsGroup, AmountMicroUSD: 100, Charges: 2},
				{Group: UnknownModelGroup, AmountMicroUSD: 7, Charges: 1, InputTokens: 7, OutputTokens: 1},
				{Group: "gpt-4o", AmountMicroUSD: 10_000, Charges: 2, InputTokens: 1_100, OutputTokens: 110},
				{Group: "offline", AmountMicroUSD: 300, Charges: 1, InputTokens: 200, OutputTokens: 20}},
			GroupUser: {{Group: ada, AmountMicroUSD: 1_057, Charges: 3, InputTokens: 107, OutputTokens: 11},
				{Group: bob, AmountMicroUSD: 9_350, Charges: 3, InputTokens: 1_200, OutputTokens: 120}},
		}
		for _, g := range GroupBys {
			t.Run(g, func(t *testing.T) {
				p := report(t, s, ws, ReportQuery{From: day0, To: day0.AddDays(1), GroupBy: g})
				if !reflect.DeepEqual(p.Rows, cases[g]) || p.Total != total || p.HasMore {
					t.Fatalf("by %s:\n got %+v total %+v\nwant %+v total %+v", g, p.Rows, p.Total, cases[g], total)
				}
				// Any page size gives the same rows.
				for _, size := range []int{1, 2, 3} {
					rows, tot := allRows(t, s, ws, ReportQuery{From: day0, To: day0.AddDays(1), GroupBy: g, Limit: size})
					if !reflect.DeepEqual(rows, cases[g]) || tot != total {
						t.Fatalf("by %s in pages of %d: %+v total %+v", g, size, rows, tot)
					}
				}
			})
		}
	})

	t.Run("date boundaries are UTC days, both ends included", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		b := newBudget(&l, ws, "total")
		d := NewDate(2026, 12, 31)
		lastNano := d.AddDays(1).Start().Add(-time.Nanosecond)                       // 23:59:59.999999999 on the 31st
		midnight := d.AddDays(1).Start()                                             // 00:00 on Jan 1st
		eastern := time.Date(2027, 1, 1, 1, 30, 0, 0, time.FixedZone("", 5*3600))    // 20:30 UTC on the 31st
		western := time.Date(2026, 12, 31, 19, 0, 0, 0, time.FixedZone("", -6*3600)) // 01:00 UTC on Jan 1st
		var batch []es.Recorded
		for i, at := range []time.Time{lastNano, midnight, eastern, western, d.Start()} {
			batch = append(batch, b.spend(t, chargeSpec{model: "m", amount: int64(1) << i, at: at})...)
		}
		projectiontest.Apply(t, s, batch...)
		byDay := report(t, s, ws, ReportQuery{From: d.AddDays(-1), To: d.AddDays(2), GroupBy: GroupDay})
		want := []Row{{Group: "2026-12-31", AmountMicroUSD: 1 + 4 + 16, Charges: 3}, {Group: "2027-01-01", AmountMicroUSD: 2 + 8, Charges: 2}}
		if !reflect.DeepEqual(byDay.Rows, want) {
			t.Fatalf("by day = %+v\nwant %+v", byDay.Rows, want)
		}
		for _, c := range []struct {
			from, to Date
			want     int64
		}{
			{d, d, 21}, {d.AddDays(1), d.AddDays(1), 10}, {d, d.AddDays(1), 31}, {d.AddDays(-1), d.AddDays(-1), 0}, {d.AddDays(2), d.AddDays(9), 0},
		} {
			if p := report(t, s, ws, ReportQuery{From: c.from, To: c.to, GroupBy: GroupKey}); p.Total.AmountMicroUSD != c.want {
				t.Errorf("%s..%s total = %d, want %d", c.from, c.to, p.Total.AmountMicroUSD, c.want)
			}
		}
		cs := charges(t, s, ws, d, d, "", 0)
		if len(cs.Charges) != 3 || cs.Charges[0].ChargedAt != lastNano.Truncate(time.Microsecond) || cs.Charges[0].Day != d ||
			cs.Charges[1].ChargedAt.Location() != time.UTC {
			t.Fatalf("charges of %s = %+v", d, cs.Charges)
		}
	})

	t.Run("query validation", func(t *testing.T) {
		s := newStore(t)
		d := day0
		for _, c := range []struct {
			q     ReportQuery
			param string
		}{
			{ReportQuery{To: d, GroupBy: GroupKey}, "from"},
			{ReportQuery{From: d, GroupBy: GroupKey}, "to"},
			{ReportQuery{From: d.AddDays(1), To: d, GroupBy: GroupKey}, "from"},
			{ReportQuery{From: d, To: d.AddDays(366), GroupBy: GroupKey}, "to"},
			{ReportQuery{From: d, To: d, GroupBy: "week"}, "group_by"},
			{ReportQuery{From: d, To: d, GroupBy: ""}, "group_by"},
			{ReportQuery{From: d, To: d, GroupBy: GroupKey, After: "not a cursor!"}, "after"},
			{ReportQuery{From: d, To: d, GroupBy: GroupKey, After: ReportCursor(GroupDay, "2026-03-14")}, "after"},
			{ReportQuery{From: d, To: d, GroupBy: GroupKey, After: chargeCursor(es.Position{Seq: 1})}, "after"},
		} {
			_, err := s.Report(ctx, ws, c.q)
			var qe *QueryError
			if !errors.Is(err, ErrInvalidQuery) || !errors.As(err, &qe) || qe.Param != c.param {
				t.Errorf("%+v: err = %v, want a QueryError on %s", c.q, err, c.param)
			}
			if c.param == "after" && !errors.Is(err, ErrBadCursor) {
				t.Errorf("%+v: err = %v, want ErrBadCursor", c.q, err)
			}
		}
		// A leap year is the longest range.
		if _, err := s.Report(ctx, ws, ReportQuery{From: NewDate(2028, 1, 1), To: NewDate(2028, 12, 31), GroupBy: GroupDay}); err != nil {
			t.Errorf("366 days: %v", err)
		}
		for _, bad := range []string{"junk", ReportCursor(GroupKey, "k")} {
			if _, err := s.Charges(ctx, ws, d, d, bad, 0); !errors.Is(err, ErrBadCursor) {
				t.Errorf("charges after %q: err = %v, want ErrBadCursor", bad, err)
			}
		}
		if _, err := s.Charges(ctx, ws, d, d.AddDays(-1), "", 0); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("charges from > to: err = %v", err)
		}
	})

	t.Run("cursor pagination is stable while charges arrive", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		b := newBudget(&l, ws, "2026-03")
		model := func(name string, amount int64) []es.Recorded {
			return b.spend(t, chargeSpec{model: name, amount: amount, in: 1, out: 1})
		}
		var batch []es.Recorded
		for _, m := range []string{"m1", "m2", "m3", "m4", "m5"} {
			batch = append(batch, model(m, 10)...)
		}
		projectiontest.Apply(t, s, batch...)
		q := ReportQuery{From: day0, To: day0, GroupBy: GroupModel, Limit: 2}
		p1 := report(t, s, ws, q)
		if got := groups(p1.Rows); !reflect.DeepEqual(got, []string{"m1", "m2"}) || !p1.HasMore || p1.Total.AmountMicroUSD != 50 {
			t.Fatalf("page 1 = %v %+v", got, p1)
		}
		// Between pages: a group before the cursor, one after, and more
		// spend in a group still to come.
		projectiontest.Apply(t, s, append(append(model("m0", 1_000), model("m9", 1_000)...), model("m3", 5)...)...)
		q.After = p1.NextCursor
		p2 := report(t, s, ws, q)
		if got := groups(p2.Rows); !reflect.DeepEqual(got, []string{"m3", "m4"}) || p2.Rows[0].AmountMicroUSD != 15 || !p2.HasMore {
			t.Fatalf("page 2 = %+v", p2)
		}
		if p2.Total.AmountMicroUSD != 2_055 {
			t.Fatalf("page 2 total = %+v, want the whole range now", p2.Total)
		}
		q.After = p2.NextCursor
		p3 := report(t, s, ws, q)
		if got := groups(p3.Rows); !reflect.DeepEqual(got, []string{"m5", "m9"}) || p3.HasMore || p3.NextCursor != "" {
			t.Fatalf("page 3 = %+v", p3)
		}
		// The same cursor gives the same page again.
		q.After = p1.NextCursor
		if again := report(t, s, ws, q); !reflect.DeepEqual(again, p2) {
			t.Fatalf("cursor replay = %+v, want %+v", again, p2)
		}
		// Page size: the default, and the cap.
		for i := 0; i < DefaultLimit+5; i++ {
			projectiontest.Apply(t, s, model(fmt.Sprintf("n%03d", i), 1)...)
		}
		if p := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupModel}); len(p.Rows) != DefaultLimit || !p.HasMore {
			t.Fatalf("default page: %d rows, has_more %v", len(p.Rows), p.HasMore)
		}
		if p := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupModel, Limit: MaxLimit * 10}); len(p.Rows) != DefaultLimit+12 || p.HasMore {
			t.Fatalf("huge page: %d rows, has_more %v", len(p.Rows), p.HasMore)
		}
	})

	t.Run("group values order by bytes", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		b := newBudget(&l, ws, "2026-03")
		var batch []es.Recorded
		names := []string{"b", "B", "a", "_x", "a-b", "ab", "é", "Z"}
		for _, m := range names {
			batch = append(batch, b.spend(t, chargeSpec{model: m, amount: 1})...)
		}
		projectiontest.Apply(t, s, batch...)
		want := append([]string{}, names...)
		sort.Strings(want)
		rows, _ := allRows(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupModel, Limit: 3})
		if got := groups(rows); !reflect.DeepEqual(got, want) {
			t.Fatalf("order = %q, want %q", got, want)
		}
	})

	t.Run("workspace scoping", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		mine, theirs := newBudget(&l, ws, "2026-03"), newBudget(&l, otherWS, "2026-03")
		projectiontest.Apply(t, s, append(mine.spend(t, chargeSpec{model: "m", amount: 10}), theirs.spend(t, chargeSpec{model: "m", amount: 1_000})...)...)
		for _, g := range GroupBys {
			p := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: g})
			if p.Total.AmountMicroUSD != 10 || len(p.Rows) != 1 || p.Rows[0].AmountMicroUSD != 10 {
				t.Errorf("by %s, the report crossed workspaces: %+v", g, p)
			}
		}
		if c := charges(t, s, otherWS, day0, day0, "", 0); len(c.Charges) != 1 || c.Charges[0].AmountMicroUSD != 1_000 {
			t.Errorf("charges crossed workspaces: %+v", c.Charges)
		}
		for _, nobody := range []string{"", "not-a-uuid", uuid.NewString()} {
			if p := report(t, s, nobody, ReportQuery{From: day0, To: day0, GroupBy: GroupKey}); p.Total != (Row{}) || len(p.Rows) != 0 {
				t.Errorf("workspace %q sees %+v", nobody, p)
			}
		}
		wantWS := []string{ws, otherWS}
		sort.Strings(wantWS)
		if got, err := s.Workspaces(ctx, day0, day0); err != nil || !reflect.DeepEqual(got, wantWS) {
			t.Errorf("workspaces = %v, %v; want %v", got, err, wantWS)
		}
		if got, err := s.Workspaces(ctx, day0.AddDays(1), day0.AddDays(1)); err != nil || len(got) != 0 {
			t.Errorf("workspaces of an empty day = %v, %v", got, err)
		}
	})

	t.Run("charge listing pages in log order", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		a, b := newBudget(&l, ws, "2026-03"), newBudget(&l, ws, "2026-03")
		var batch []es.Recorded
		var want []int64
		for i := range 7 {
			x := a
			if i%2 == 1 {
				x = b
			}
			batch = append(batch, x.spend(t, chargeSpec{model: "m", amount: int64(100 + i)})...)
			want = append(want, int64(100+i))
		}
		batch = append(batch, a.spend(t, chargeSpec{model: "m", amount: 1, at: t0.Add(48 * time.Hour)})...)
		projectiontest.Apply(t, s, batch...)
		var got []int64
		after := ""
		var last es.Position
		for pages := 0; ; pages++ {
			p := charges(t, s, ws, day0, day0.AddDays(1), after, 3)
			for _, c := range p.Charges {
				if !last.Less(c.Position) {
					t.Fatalf("charges out of log order at %v", c.Position)
				}
				last = c.Position
				got = append(got, c.AmountMicroUSD)
			}
			if !p.HasMore {
				break
			}
			after = p.NextCursor
			if pages > 10 {
				t.Fatalf("listing does not end")
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
	})

	t.Run("large amounts add up in 64 bits", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		b := newBudget(&l, ws, "total")
		var batch []es.Recorded
		for range 3 {
			batch = append(batch, b.spend(t, chargeSpec{model: "m", amount: 3_000_000_000, in: 2_000_000_000, out: 2_000_000_000})...)
		}
		projectiontest.Apply(t, s, batch...)
		p := report(t, s, ws, ReportQuery{From: day0, To: day0, GroupBy: GroupUser})
		if p.Total.AmountMicroUSD != 9_000_000_000 || p.Total.InputTokens != 6_000_000_000 || p.Rows[0].OutputTokens != 6_000_000_000 {
			t.Fatalf("report = %+v", p)
		}
		if got := period(t, s, b.key, "total"); got.SpentMicroUSD != 9_000_000_000 {
			t.Fatalf("period = %+v", got)
		}
	})
}

func TestDollars(t *testing.T) {
	for _, c := range []struct {
		m           int64
		up, down, x string
	}{
		{0, "0.00", "0.00", "0.000000"},
		{1, "0.01", "0.00", "0.000001"},
		{9_999, "0.01", "0.00", "0.009999"},
		{10_000, "0.01", "0.01", "0.010000"},
		{12_340_000, "12.34", "12.34", "12.340000"},
		{12_340_001, "12.35", "12.34", "12.340001"},
		{-15_000, "-0.02", "-0.01", "-0.015000"},
		{-1, "-0.01", "0.00", "-0.000001"},
		{-9_223_372_036_854_775_808, "-9223372036854.78", "-9223372036854.77", "-9223372036854.775808"},
	} {
		if got := Dollars(c.m); got != c.up {
			t.Errorf("Dollars(%d) = %s, want %s", c.m, got, c.up)
		}
		if got := DollarsDown(c.m); got != c.down {
			t.Errorf("DollarsDown(%d) = %s, want %s", c.m, got, c.down)
		}
		if got := ExactDollars(c.m); got != c.x {
			t.Errorf("ExactDollars(%d) = %s, want %s", c.m, got, c.x)
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, ok := range []string{"2026-01-31", "2028-02-29", "1970-01-01", "9999-12-30"} {
		if d, err := ParseDate(ok); err != nil || d.String() != ok {
			t.Errorf("ParseDate(%s) = %v, %v", ok, d, err)
		}
	}
	for _, bad := range []string{"", "2026-1-31", "2026-02-30", "2027-02-29", "2026-13-01", "26-01-01", "2026-01-01T00:00:00Z", " 2026-01-01", "2026/01/01",
		"0000-01-01", "0001-01-01", "1969-12-31", "9999-12-31"} { // outside what every store can count

		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
	if n := NewDate(2028, 1, 1).DaysUntil(NewDate(2028, 12, 31)); n != 365 {
		t.Errorf("days in 2028 - 1 = %d", n)
	}
}
