package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"

	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/eventstore"
	"github.com/sois-ai/chat-agent-gateway/infra/stores"
	"github.com/sois-ai/chat-agent-gateway/projections"
	billingview "github.com/sois-ai/chat-agent-gateway/projections/billing"
)

// Billing is `gateway billing`: `report` prints the billing report from
// the read model, `verify` checks the read model against the event log.
// Both read the stores serve is configured with.
func Billing(load Loader) *ucli.Command {
	rangeFlags := func() []ucli.Flag {
		return []ucli.Flag{
			&ucli.StringFlag{Name: "from", Usage: "first UTC day, YYYY-MM-DD (default: the 1st of this month)"},
			&ucli.StringFlag{Name: "to", Usage: "last UTC day, YYYY-MM-DD, included (default: today)"},
			&ucli.StringFlag{Name: "workspace", Usage: "one workspace id (default: every workspace with charges in the range)"},
		}
	}
	return &ucli.Command{
		Name:  "billing",
		Usage: "report spending and verify the billing read model (configured by the same environment as serve)",
		Commands: []*ucli.Command{
			{
				Name:  "report",
				Usage: "print totals by key, day, model or user over a range of UTC days, with a total line",
				Flags: append(rangeFlags(),
					&ucli.StringFlag{Name: "group-by", Value: billingview.GroupKey, Usage: "key, day, model or user"},
					&ucli.StringFlag{Name: "mode", Value: billingview.ModeLive, Usage: "live spend, or test: what test API keys spent"}),
				Action: func(ctx context.Context, c *ucli.Command) error {
					q, err := billingRange(c)
					if err != nil {
						return err
					}
					q.GroupBy, q.Mode = c.String("group-by"), c.String("mode")
					if err := q.Validate(); err != nil {
						return billingFlagError(err)
					}
					src, err := openBillingSource(ctx, load)
					if err != nil {
						return err
					}
					defer src.close()
					return billingReportCLI(ctx, c.Root().Writer, src, c.String("workspace"), q)
				},
			},
			{
				Name: "verify",
				Usage: "recompute every total from the raw ChargeRecorded events and compare it with the read model's " +
					"report by key, day, model and user, charge by charge and per budget period; exits non-zero on any difference",
				Flags: rangeFlags(),
				Action: func(ctx context.Context, c *ucli.Command) error {
					q, err := billingRange(c)
					if err != nil {
						return err
					}
					src, err := openBillingSource(ctx, load)
					if err != nil {
						return err
					}
					defer src.close()
					return billingVerify(ctx, c.Root().Writer, src, c.String("workspace"), q.From, q.To)
				},
			},
		},
	}
}

// billingRange reads --from and --to (defaults: this month so far).
func billingRange(c *ucli.Command) (billingview.ReportQuery, error) {
	today := billingview.DateOf(time.Now())
	q := billingview.ReportQuery{From: billingview.NewDate(today.Start().Year(), today.Start().Month(), 1), To: today}
	for _, f := range []struct {
		name string
		dst  *billingview.Date
	}{{"from", &q.From}, {"to", &q.To}} {
		if v := strings.TrimSpace(c.String(f.name)); v != "" {
			d, err := billingview.ParseDate(v)
			if err != nil {
				return q, ucli.Exit(fmt.Sprintf("gateway: --%s: %v (a UTC day)", f.name, err), ExitUsage)
			}
			*f.dst = d
		}
	}
	if err := (billingview.ReportQuery{From: q.From, To: q.To, GroupBy: billingview.GroupKey}).Validate(); err != nil {
		return q, billingFlagError(err)
	}
	return q, nil
}

// billingFlagError says what is wrong with a flag, naming parameters as
// flags, as a command-line mistake.
func billingFlagError(err error) error {
	var qe *billingview.QueryError
	if errors.As(err, &qe) {
		flag := func(p string) string { return "--" + strings.ReplaceAll(p, "_", "-") }
		err = fmt.Errorf("%s: %s", flag(qe.Param), qe.Explain(flag))
	}
	return ucli.Exit("gateway: "+err.Error(), ExitUsage)
}

// billingSource is the event log and the billing read model of the
// configured backend.
type billingSource struct {
	log      eventstore.Store
	store    billingview.Store
	embedded bool
	rebuilt  int // events the in-process projection was built from
	close    func()
}

// openBillingSource connects like serve does: the events are in
// EventStoreDB (EVENTSTORE_URL), Postgres (DATABASE_URL) or the embedded
// store; the read models in Postgres (DATABASE_URL) or in the gateway's
// memory. A read model in memory cannot be read from outside the gateway,
// so the projection is built here, in this process, from the log (the
// embedded store admits one process at a time: stop the gateway first).
func openBillingSource(ctx context.Context, load Loader) (*billingSource, error) {
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	cfg.Existing = true
	st, err := stores.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	src := &billingSource{log: st.Log, close: st.Close}
	if st.Pool != nil {
		src.store = billingview.NewPostgres(st.Pool)
	}
	if !cfg.Embedded() {
		return src, nil
	}
	src.store, src.embedded = billingview.NewMemory(), true
	counting := &billingCountingProjection{Projection: src.store}
	runner := projections.NewRunner(src.log, projections.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, counting)
	if err := runner.CatchUp(ctx); err != nil {
		src.close()
		return nil, err
	}
	src.rebuilt = counting.events
	return src, nil
}

type billingCountingProjection struct {
	projections.Projection
	events int
}

func (c *billingCountingProjection) Apply(ctx context.Context, batch []es.Recorded) error {
	if err := c.Projection.Apply(ctx, batch); err != nil {
		return err
	}
	c.events += len(batch)
	return nil
}

func (s *billingSource) describe() string {
	if s.embedded {
		return fmt.Sprintf("embedded mode: the read models live in the gateway's memory, so the billing projection was built here, "+
			"in this process, from the event log (%d events)", s.rebuilt)
	}
	return "the billing read model the gateways keep in Postgres"
}

// billingWorkspaces is the one workspace asked for, or every workspace
// with charges in the range.
func billingWorkspaces(ctx context.Context, src *billingSource, only string, from, to billingview.Date) ([]string, error) {
	if only != "" {
		return []string{only}, nil
	}
	return src.store.Workspaces(ctx, from, to)
}

func billingReportCLI(ctx context.Context, w io.Writer, src *billingSource, only string, q billingview.ReportQuery) error {
	fmt.Fprintf(w, "Billing report of %s spend %s to %s (UTC days, both included) by %s; %s.\n",
		billingview.ModeOf(q.Mode), q.From, q.To, q.GroupBy, src.describe())
	wss, err := billingWorkspaces(ctx, src, only, q.From, q.To)
	if err != nil {
		return err
	}
	if len(wss) == 0 {
		fmt.Fprintln(w, "No charges in this range.")
		return nil
	}
	for _, ws := range wss {
		rows, total, err := billingAllRows(ctx, src.store, ws, q)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nWorkspace %s\n", ws)
		billingTable(w, strings.ToUpper(q.GroupBy), rows, total)
	}
	return nil
}

// billingAllRows pages through a report.
func billingAllRows(ctx context.Context, store billingview.Store, ws string, q billingview.ReportQuery) ([]billingview.Row, billingview.Row, error) {
	q.Limit, q.After = billingview.MaxLimit, ""
	var rows []billingview.Row
	var total billingview.Row
	for {
		page, err := store.Report(ctx, ws, q)
		if err != nil {
			return nil, total, err
		}
		rows, total = append(rows, page.Rows...), page.Total
		if !page.HasMore {
			return rows, total, nil
		}
		q.After = page.NextCursor
	}
}

// billingTable prints rows and a total line, the first column left
// aligned and the numbers right aligned.
func billingTable(w io.Writer, group string, rows []billingview.Row, total billingview.Row) {
	cells := [][]string{{group, "AMOUNT (USD)", "AMOUNT (µ$)", "CHARGES", "INPUT TOKENS", "OUTPUT TOKENS"}}
	line := func(name string, r billingview.Row) []string {
		return []string{name, billingview.Dollars(r.AmountMicroUSD), fmt.Sprint(r.AmountMicroUSD), fmt.Sprint(r.Charges),
			fmt.Sprint(r.InputTokens), fmt.Sprint(r.OutputTokens)}
	}
	for _, r := range rows {
		cells = append(cells, line(r.Group, r))
	}
	cells = append(cells, line("TOTAL", total))
	widths := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for n, row := range cells {
		if n == len(cells)-1 {
			fmt.Fprintln(w, strings.Repeat("-", billingSum(widths)+2*(len(widths)-1)))
		}
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func billingSum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// billingEventCharge is a ChargeRecorded as the log holds it, read without the
// projector.
type billingEventCharge struct {
	id         string
	pos        es.Position
	stream     string
	e          dbilling.Charged
	day        billingview.Date
	modelGroup string
}

// billingEventPeriod is a budget stream folded by the aggregate's own code.
type billingEventPeriod struct {
	keyID, periodKey string
	budget           dbilling.Budget
	reservations     int
}

// billingFromEvents reads the log up to the read model's checkpoint and
// computes, from the raw budget events alone, the charges of the range and
// every budget stream's totals. It also counts the budget events after
// the checkpoint, which the comparison leaves out.
func billingFromEvents(ctx context.Context, log eventstore.Store, cp es.Position, from, to billingview.Date) (
	charges []billingEventCharge, periods map[string]*billingEventPeriod, read, pending int, err error) {
	periods = map[string]*billingEventPeriod{}
	after := es.Start
	for {
		batch, err := log.ReadAll(ctx, after, 1000)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if len(batch) == 0 {
			return charges, periods, read, pending, nil
		}
		after = batch[len(batch)-1].Position
		for _, rec := range batch {
			read++
			key, period, ok := billingview.ParseStream(rec.Stream)
			if !ok || !dbilling.Events.Knows(rec.Type) {
				continue
			}
			if cp.Less(rec.Position) {
				pending++
				continue
			}
			f, err := dbilling.Events.Decode(rec)
			if err != nil {
				return nil, nil, 0, 0, err
			}
			p := periods[rec.Stream]
			if p == nil {
				p = &billingEventPeriod{keyID: key, periodKey: period}
				periods[rec.Stream] = p
			}
			p.budget.Apply(f)
			switch e := f.(type) {
			case *dbilling.Reserved:
				p.reservations++
			case *dbilling.Charged:
				d := billingview.DateOf(e.ChargedAt)
				if d.Within(from, to) {
					charges = append(charges, billingEventCharge{id: rec.ID, pos: rec.Position, stream: rec.Stream, e: *e, day: d,
						modelGroup: billingview.ModelGroup(e.CauseKind, e.Model)})
				}
			}
		}
	}
}

// billingGroupOfEvent is the group value of a raw charge (the same labels as the
// read model, taken from the event's own fields).
func billingGroupOfEvent(groupBy string, c billingEventCharge) string {
	switch groupBy {
	case billingview.GroupKey:
		return c.e.APIKeyID
	case billingview.GroupDay:
		return c.day.String()
	case billingview.GroupModel:
		return c.modelGroup
	case billingview.GroupUser:
		return c.e.UserID
	}
	return ""
}

// billingPeriodOverlaps reports whether a budget period touches the range.
func billingPeriodOverlaps(periodKey string, from, to billingview.Date) bool {
	if periodKey == "total" {
		return true
	}
	if d, err := billingview.ParseDate(periodKey); err == nil {
		return d.Within(from, to)
	}
	m, err := time.Parse("2006-01", periodKey)
	if err != nil {
		return true
	}
	first := billingview.DateOf(m)
	last := billingview.DateOf(m.AddDate(0, 1, -1))
	return !last.Before(from) && !first.After(to)
}

func billingDescribeRow(r billingview.Row) string {
	return fmt.Sprintf("%s USD (%d µ$, %d charges, %d input and %d output tokens)",
		billingview.Dollars(r.AmountMicroUSD), r.AmountMicroUSD, r.Charges, r.InputTokens, r.OutputTokens)
}

// billingVerify compares two independent computations: the read model
// (the projector's fold, as stored) and sums taken straight from the
// ChargeRecorded events of the log. Both are taken at the read model's
// checkpoint; if the projector moves meanwhile, it starts again.
func billingVerify(ctx context.Context, w io.Writer, src *billingSource, only string, from, to billingview.Date) error {
	fmt.Fprintf(w, "Billing verify %s to %s (UTC days, both included); %s.\n", from, to, src.describe())
	if src.embedded {
		fmt.Fprintln(w, "It is compared with totals summed directly from the raw ChargeRecorded events, without the projector.")
	}
	for attempt := 1; ; attempt++ {
		var out strings.Builder
		diffs, cp, err := billingCompare(ctx, &out, src, only, from, to)
		if err != nil {
			return err
		}
		after, err := src.store.Checkpoint(ctx)
		if err != nil {
			return err
		}
		if after != cp && attempt < 5 {
			continue // the projector moved while we read: compare again
		}
		_, _ = io.WriteString(w, out.String())
		if after != cp {
			fmt.Fprintf(w, "warning: the read model kept moving (checkpoint %s, now %s); differences may come from that.\n", cp, after)
		}
		if diffs > 0 {
			fmt.Fprintf(w, "FAILED: %d difference(s) between the billing read model and the ChargeRecorded events.\n", diffs)
			return fmt.Errorf("billing verify: %d difference(s) between the read model and the events", diffs)
		}
		fmt.Fprintln(w, "OK: the billing read model matches the events.")
		return nil
	}
}

func billingCompare(ctx context.Context, w io.Writer, src *billingSource, only string, from, to billingview.Date) (int, es.Position, error) {
	cp, err := src.store.Checkpoint(ctx)
	if err != nil {
		return 0, cp, err
	}
	evCharges, evPeriods, read, pending, err := billingFromEvents(ctx, src.log, cp, from, to)
	if err != nil {
		return 0, cp, err
	}
	fmt.Fprintf(w, "Read model checkpoint %s; %d events read from the log", cp, read)
	if pending > 0 {
		fmt.Fprintf(w, ", %d budget events after the checkpoint left out (the projector has not applied them yet)", pending)
	}
	fmt.Fprintln(w, ".")
	diffs := 0
	diff := func(format string, args ...any) {
		diffs++
		fmt.Fprintf(w, "DIFF "+format+"\n", args...)
	}

	byWS := map[string][]billingEventCharge{}
	for _, c := range evCharges {
		if only == "" || c.e.WorkspaceID == only {
			byWS[c.e.WorkspaceID] = append(byWS[c.e.WorkspaceID], c)
		}
	}
	wsSet := map[string]bool{}
	for ws := range byWS {
		wsSet[ws] = true
	}
	stored, err := billingWorkspaces(ctx, src, only, from, to)
	if err != nil {
		return 0, cp, err
	}
	for _, ws := range stored {
		wsSet[ws] = true
	}
	wss := make([]string, 0, len(wsSet))
	for ws := range wsSet {
		wss = append(wss, ws)
	}
	sort.Strings(wss)
	keysInScope := map[string]bool{}
	var grand int64
	for _, ws := range wss {
		events := byWS[ws]
		// Charge by charge.
		rows := map[string]billingview.Charge{}
		after := ""
		for {
			page, err := src.store.Charges(ctx, ws, from, to, after, billingview.MaxLimit)
			if err != nil {
				return 0, cp, err
			}
			for _, c := range page.Charges {
				rows[c.EventID] = c
			}
			if !page.HasMore {
				break
			}
			after = page.NextCursor
		}
		for _, ev := range events {
			keysInScope[ev.e.APIKeyID] = true
			grand += int64(ev.e.Amount)
			row, ok := rows[ev.id]
			delete(rows, ev.id)
			what := fmt.Sprintf("charge %s (workspace %s, key %s, conversation %s, %s)", ev.id, ws, ev.e.APIKeyID, ev.e.ConversationID, ev.e.CauseRef)
			if !ok {
				diff("%s: in the events (%d µ$ on %s), missing from the read model", what, ev.e.Amount, ev.day)
				continue
			}
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"amount_microusd", row.AmountMicroUSD, int64(ev.e.Amount)},
				{"input_tokens", row.InputTokens, int64(ev.e.Usage.InputTokens)},
				{"output_tokens", row.OutputTokens, int64(ev.e.Usage.OutputTokens)},
				{"api_key_id", row.APIKeyID, ev.e.APIKeyID},
				{"user_id", row.UserID, ev.e.UserID},
				{"conversation_id", row.ConversationID, ev.e.ConversationID},
				{"reservation_id", row.ReservationID, ev.e.ReservationID},
				{"period", row.PeriodKey, ev.e.Period},
				{"cause", row.CauseKind + " " + row.CauseRef, ev.e.CauseKind + " " + ev.e.CauseRef},
				{"model", row.Model, ev.e.Model},
				{"day", row.Day.String(), ev.day.String()},
				{"position", row.Position, ev.pos},
				{"mode", row.Mode, billingview.ModeOf(ev.e.Mode)},
			} {
				if f.got != f.want {
					diff("%s: %s is %v in the read model, %v in the event", what, f.name, f.got, f.want)
				}
			}
		}
		extra := make([]string, 0, len(rows))
		for id := range rows {
			extra = append(extra, id)
		}
		sort.Strings(extra)
		for _, id := range extra {
			r := rows[id]
			diff("charge %s (workspace %s, key %s): %d µ$ on %s in the read model, no such ChargeRecorded in the events",
				id, ws, r.APIKeyID, r.AmountMicroUSD, r.Day)
		}
		// Report by report, live spend and test spend apart.
		for _, rq := range billingReportsToCheck() {
			g, label := rq.GroupBy, rq.GroupBy+" ("+rq.Mode+" spend)"
			want := map[string]*billingview.Row{}
			var wantTotal billingview.Row
			for _, ev := range events {
				if billingview.ModeOf(ev.e.Mode) != rq.Mode {
					continue
				}
				v := billingGroupOfEvent(g, ev)
				r := want[v]
				if r == nil {
					r = &billingview.Row{Group: v}
					want[v] = r
				}
				for _, x := range []*billingview.Row{r, &wantTotal} {
					x.AmountMicroUSD += int64(ev.e.Amount)
					x.Charges++
					x.InputTokens += int64(ev.e.Usage.InputTokens)
					x.OutputTokens += int64(ev.e.Usage.OutputTokens)
				}
			}
			got, gotTotal, err := billingAllRows(ctx, src.store, ws, billingview.ReportQuery{From: from, To: to, GroupBy: g, Mode: rq.Mode})
			if err != nil {
				return 0, cp, err
			}
			for i, r := range got {
				if i > 0 && got[i-1].Group >= r.Group {
					diff("workspace %s by %s: the read model's groups are out of order (%q then %q)", ws, label, got[i-1].Group, r.Group)
				}
				wr, ok := want[r.Group]
				switch {
				case !ok:
					diff("workspace %s by %s, group %q: read model %s; the events have no such group", ws, label, r.Group, billingDescribeRow(r))
				case *wr != r:
					diff("workspace %s by %s, group %q: read model %s; events %s", ws, label, r.Group, billingDescribeRow(r), billingDescribeRow(*wr))
				}
				delete(want, r.Group)
			}
			missing := make([]string, 0, len(want))
			for v := range want {
				missing = append(missing, v)
			}
			sort.Strings(missing)
			for _, v := range missing {
				diff("workspace %s by %s, group %q: events %s; missing from the read model", ws, label, v, billingDescribeRow(*want[v]))
			}
			wantTotal.Group = ""
			if gotTotal != wantTotal {
				diff("workspace %s by %s, total: read model %s; events %s", ws, label, billingDescribeRow(gotTotal), billingDescribeRow(wantTotal))
			}
		}
		fmt.Fprintf(w, "Workspace %s: %d charges, %s USD (%d µ$), checked charge by charge and by %s.\n",
			ws, len(events), billingview.Dollars(billingSumCharges(events)), billingSumCharges(events), strings.Join(billingview.GroupBys, ", "))
	}
	// Budget periods: spend, what is set aside, counts.
	streams := make([]string, 0, len(evPeriods))
	for s, p := range evPeriods {
		if billingPeriodOverlaps(p.periodKey, from, to) && (only == "" || keysInScope[p.keyID]) {
			streams = append(streams, s)
		}
	}
	sort.Strings(streams)
	open := 0
	for _, s := range streams {
		p := evPeriods[s]
		got, err := src.store.Period(ctx, p.keyID, p.periodKey)
		if err != nil {
			return 0, cp, err
		}
		want := billingview.PeriodTotals{APIKeyID: p.keyID, PeriodKey: p.periodKey, SpentMicroUSD: int64(p.budget.Spent),
			OutstandingMicroUSD: int64(p.budget.Outstanding), Charges: p.budget.Charges, Reservations: p.reservations,
			OpenReservations: len(p.budget.Open)}
		got.Version = 0
		if got != want {
			diff("budget period %s of key %s: read model spent %d µ$, outstanding %d µ$, %d charges, %d reservations (%d open); "+
				"events spent %d µ$, outstanding %d µ$, %d charges, %d reservations (%d open)",
				p.periodKey, p.keyID, got.SpentMicroUSD, got.OutstandingMicroUSD, got.Charges, got.Reservations, got.OpenReservations,
				want.SpentMicroUSD, want.OutstandingMicroUSD, want.Charges, want.Reservations, want.OpenReservations)
		}
		open += len(p.budget.Open)
	}
	fmt.Fprintf(w, "%d workspace(s), %s USD (%d µ$) in all; %d budget period(s) checked, %d reservation(s) open in them.\n",
		len(wss), billingview.Dollars(grand), grand, len(streams), open)
	return diffs, cp, nil
}

// billingReportsToCheck are the reports verify recomputes: every grouping
// of live spend and of test spend.
func billingReportsToCheck() []billingview.ReportQuery {
	var out []billingview.ReportQuery
	for _, mode := range []string{billingview.ModeLive, billingview.ModeTest} {
		for _, g := range billingview.GroupBys {
			out = append(out, billingview.ReportQuery{GroupBy: g, Mode: mode})
		}
	}
	return out
}

func billingSumCharges(cs []billingEventCharge) int64 {
	var n int64
	for _, c := range cs {
		n += int64(c.e.Amount)
	}
	return n
}
