package billing

import (
	"context"
	"maps"
	"sort"

	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the billing read model: a projection of the budget streams plus
// its queries. Reports and charge listings are scoped to one workspace.
type Store interface {
	projections.Projection
	// Period returns a key's totals in one budget period (zero totals
	// when nothing was reserved in it).
	Period(ctx context.Context, keyID, periodKey string) (PeriodTotals, error)
	// Report totals the workspace's charges of the days From..To (UTC,
	// both included) by q.GroupBy, one page of groups at a time in group
	// order; Total covers the whole range. A bad query is a *QueryError
	// (errors.Is ErrInvalidQuery; a bad cursor also ErrBadCursor).
	Report(ctx context.Context, workspaceID string, q ReportQuery) (ReportPage, error)
	// Charges lists the workspace's charges of the days from..to in log
	// order, limit at a time (DefaultLimit when <= 0, at most MaxLimit),
	// continuing after the cursor a previous page gave.
	Charges(ctx context.Context, workspaceID string, from, to Date, after string, limit int) (ChargePage, error)
	// Workspaces lists, in order, the workspaces with charges on the days
	// from..to.
	Workspaces(ctx context.Context, from, to Date) ([]string, error)
}

// periodView is one budget stream in memory.
type periodView struct {
	Totals  PeriodTotals
	Open    map[string]int64 // open reservation id -> amount set aside
	Charges []Charge
}

// clone copies what fold changes in place: the open reservations (as many
// as the work running at once). The charges are only ever appended: the
// batch's copy appends to the stored view's array in place, past the
// stored view's length, where its readers never look; a batch that fails
// leaves only such unread elements, which the next batch overwrites. (A
// copy of the array would make every batch cost the whole period's charges
// of the key, more the longer the key is used.)
func clone(v periodView) periodView {
	v.Open = maps.Clone(v.Open)
	return v
}

// fold applies one budget event the way the budget aggregate does
// (dbilling.Budget.Apply), and keeps the charge's row.
func fold(v *periodView, rec es.Recorded) (bool, error) {
	f, ok, err := decodeNext(v.Totals.Version, rec)
	if err != nil || !ok {
		return false, err
	}
	if v.Totals.Version == 0 {
		v.Totals.APIKeyID, v.Totals.PeriodKey, _ = ParseStream(rec.Stream)
	}
	if v.Open == nil {
		v.Open = map[string]int64{}
	}
	t := &v.Totals
	switch e := f.(type) {
	case *dbilling.Reserved:
		v.Open[e.ReservationID] = int64(e.Amount)
		t.OutstandingMicroUSD += int64(e.Amount)
		t.Reservations++
	case *dbilling.Charged:
		if amount, open := v.Open[e.ReservationID]; open {
			t.OutstandingMicroUSD -= amount
			delete(v.Open, e.ReservationID)
		}
		t.SpentMicroUSD += int64(e.Amount)
		t.Charges++
		v.Charges = append(v.Charges, chargeFrom(rec, e))
	case *dbilling.Released:
		if amount, open := v.Open[e.ReservationID]; open {
			t.OutstandingMicroUSD -= amount
			delete(v.Open, e.ReservationID)
		}
	}
	t.OpenReservations = len(v.Open)
	t.Version = rec.StreamVersion
	return true, nil
}

// Memory keeps the read model in memory; it is rebuilt from the log at
// start.
type Memory struct {
	views *projections.MemoryTable[periodView]
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{views: projections.NewMemoryTable(clone)} }

func (m *Memory) Name() string { return Name }

func (m *Memory) Checkpoint(context.Context) (es.Position, error) { return m.views.Checkpoint(), nil }

// Apply is all-or-nothing, like the Postgres transaction.
func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	return m.views.Apply(batch, isBudget, streamOf, fold)
}

func (m *Memory) Period(_ context.Context, keyID, periodKey string) (PeriodTotals, error) {
	v, ok := m.views.Get(streamPrefix + keyID + "-" + periodKey)
	if !ok {
		return PeriodTotals{APIKeyID: keyID, PeriodKey: periodKey}, nil
	}
	return v.Totals, nil
}

// charges returns the workspace's charges of the days from..to.
func (m *Memory) charges(workspaceID string, from, to Date) []Charge {
	var out []Charge
	for v := range m.views.All() {
		for _, c := range v.Charges {
			if c.WorkspaceID == workspaceID && c.Day.Within(from, to) {
				out = append(out, c)
			}
		}
	}
	return out
}

func (m *Memory) Report(_ context.Context, workspaceID string, q ReportQuery) (ReportPage, error) {
	if err := q.Validate(); err != nil {
		return ReportPage{}, err
	}
	after, paged, err := decodeReportCursor(q.GroupBy, q.After)
	if err != nil {
		return ReportPage{}, err
	}
	groups := map[string]*Row{}
	var page ReportPage
	for _, c := range m.charges(workspaceID, q.From, q.To) {
		if c.Mode != q.mode() {
			continue
		}
		page.Total.add(c)
		g := GroupOf(q.GroupBy, c)
		r, ok := groups[g]
		if !ok {
			r = &Row{Group: g}
			groups[g] = r
		}
		r.add(c)
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		if !paged || g > after {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	limit := q.limit()
	if len(names) > limit {
		names, page.HasMore = names[:limit], true
	}
	page.Rows = make([]Row, 0, len(names))
	for _, g := range names {
		page.Rows = append(page.Rows, *groups[g])
	}
	if page.HasMore {
		page.NextCursor = ReportCursor(q.GroupBy, names[len(names)-1])
	}
	return page, nil
}

func (m *Memory) Charges(_ context.Context, workspaceID string, from, to Date, after string, limit int) (ChargePage, error) {
	if err := validRange(from, to); err != nil {
		return ChargePage{}, err
	}
	pos, err := decodeChargeCursor(after)
	if err != nil {
		return ChargePage{}, err
	}
	var cs []Charge
	for _, c := range m.charges(workspaceID, from, to) {
		if pos.Less(c.Position) {
			cs = append(cs, c)
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Position.Less(cs[j].Position) })
	return chargePage(cs, clampLimit(limit)), nil
}

// chargePage cuts a page of limit charges from cs (limit+1 or more
// means there is more).
func chargePage(cs []Charge, limit int) ChargePage {
	var p ChargePage
	if len(cs) > limit {
		cs, p.HasMore = cs[:limit], true
		p.NextCursor = chargeCursor(cs[limit-1].Position)
	}
	p.Charges = cs
	if p.Charges == nil {
		p.Charges = []Charge{}
	}
	return p
}

func (m *Memory) Workspaces(_ context.Context, from, to Date) ([]string, error) {
	if err := validRange(from, to); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for v := range m.views.All() {
		for _, c := range v.Charges {
			if c.Day.Within(from, to) {
				seen[c.WorkspaceID] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for ws := range seen {
		out = append(out, ws)
	}
	sort.Strings(out)
	return out, nil
}
