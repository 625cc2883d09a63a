package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	billingview "github.com/sois-ai/chat-agent-gateway/projections/billing"
)

// The billing report: GET /api/billing/report totals a workspace's
// charges over a range of UTC days by key, day, model or user, for its
// owners and auditors (bearer token alone). JSON pages through the groups
// with a cursor; Accept: text/csv streams every group as CSV. Money is
// rendered from integer micro-dollars only: amount_microusd is exact, and
// amount_usd is rounded up to the cent, like every amount the gateway
// shows, so a display never understates spend.

// billingRowBody is one group of the report.
type billingRowBody struct {
	Group string `json:"group"`
	billingAmountBody
}

// billingAmountBody is the money and the usage of a group or the total.
type billingAmountBody struct {
	AmountUSD      string `json:"amount_usd"`
	AmountMicroUSD int64  `json:"amount_microusd"`
	Charges        int    `json:"charges"`
	InputTokens    int64  `json:"input_tokens"`
	OutputTokens   int64  `json:"output_tokens"`
}

type billingReportBody struct {
	From       string            `json:"from"`
	To         string            `json:"to"`
	GroupBy    string            `json:"group_by"`
	Mode       string            `json:"mode"` // "live" or "test": the spend the report covers
	Currency   string            `json:"currency"`
	Rows       []billingRowBody  `json:"rows"`
	Total      billingAmountBody `json:"total"`
	HasMore    bool              `json:"has_more"`
	NextCursor *string           `json:"next_cursor"`
}

func billingAmount(r billingview.Row) billingAmountBody {
	return billingAmountBody{AmountUSD: billingview.Dollars(r.AmountMicroUSD), AmountMicroUSD: r.AmountMicroUSD,
		Charges: r.Charges, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens}
}

// billingQuery reads the report's query string. Every failure names its
// parameter. Like the other listings, a repeated parameter takes its last
// value and parameters the report does not know are ignored.
func (s *Server) billingQuery(r *http.Request) (billingview.ReportQuery, *apiError) {
	var q billingview.ReportQuery
	vals := r.URL.Query()
	get := func(name string) (string, bool) {
		v, ok := vals[name]
		if !ok || len(v) == 0 {
			return "", false
		}
		return strings.TrimSpace(v[len(v)-1]), true
	}
	for _, d := range []struct {
		name string
		dst  *billingview.Date
	}{{"from", &q.From}, {"to", &q.To}} {
		v, ok := get(d.name)
		if !ok || v == "" {
			return q, validation("%s is required: a UTC day of the form YYYY-MM-DD (both ends of the range are included).", d.name)
		}
		date, err := billingview.ParseDate(v)
		if errors.Is(err, billingview.ErrDateOutOfRange) {
			return q, validation("%s must be a day from %s to %s, not %q.", d.name, billingview.MinDate, billingview.MaxDate, v)
		}
		if err != nil {
			return q, validation("%s must be a calendar day of the form YYYY-MM-DD (UTC), not %q.", d.name, v)
		}
		*d.dst = date
	}
	if q.From.After(q.To) {
		return q, validation("from (%s) is after to (%s); from must be the first day of the range and to the last.", q.From, q.To)
	}
	if n := q.From.DaysUntil(q.To) + 1; n > billingview.MaxRangeDays {
		return q, validation("The range from %s to %s spans %d days; a report covers at most %d days, so narrow from or to.",
			q.From, q.To, n, billingview.MaxRangeDays)
	}
	groupBy, ok := get("group_by")
	switch {
	case !ok || groupBy == "":
		return q, validation("group_by is required: one of %s.", strings.Join(billingview.GroupBys, ", "))
	case !billingview.ValidGroupBy(groupBy):
		return q, validation("group_by must be one of %s, not %q.", strings.Join(billingview.GroupBys, ", "), groupBy)
	}
	q.GroupBy = groupBy
	q.Mode = billingview.ModeLive
	if v, ok := get("mode"); ok && v != "" {
		if v != billingview.ModeLive && v != billingview.ModeTest {
			return q, validation(`mode must be "live" (the default) or "test" (what test API keys spent), not %q.`, v)
		}
		q.Mode = v
	}
	if v, ok := get("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > billingview.MaxLimit {
			return q, validation("limit must be a whole number from 1 to %d, not %q.", billingview.MaxLimit, v)
		}
		q.Limit = n
	}
	if _, ok := get("cursor"); ok && vals.Has("after") {
		return q, validation("Send cursor or after, not both.")
	}
	if v, ok := get("cursor"); ok {
		k, opened := s.openCursor(v)
		if !opened || k.List != billingListOf(q) {
			return q, validation("cursor must be the next_cursor of the previous page of this report, unchanged and with the same group_by (%s).", q.GroupBy)
		}
		q.After = k.ID
		return q, nil
	}
	if v, ok := get("after"); ok {
		// after is cursor's older name; it also takes the unsealed cursors
		// earlier versions gave.
		if k, opened := s.openCursor(v); opened && k.List == billingListOf(q) {
			q.After = k.ID
			return q, nil
		}
		if billingview.CheckCursor(q.GroupBy, v) != nil {
			return q, validation("after must be the next_cursor of the previous page of this report, unchanged and with the same group_by (%s); %q is not.",
				q.GroupBy, v)
		}
		q.After = v
	}
	return q, nil
}

// billingWantsCSV reports whether the client prefers text/csv to JSON.
func billingWantsCSV(r *http.Request) bool {
	csvQ, jsonQ := -1.0, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json":
			jsonQ = max(jsonQ, q)
		}
	}
	return csvQ > 0 && csvQ >= jsonQ
}

// billingReport returns the handler of GET /api/billing/report on store.
func (s *Server) billingReport(store billingview.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, e := s.authenticate(r)
		if e != nil {
			writeError(w, e)
			return
		}
		if !c.is(string(workspace.RoleOwner), string(workspace.RoleAuditor)) {
			writeError(w, errorf(http.StatusForbidden, CodeForbidden,
				"The billing report is for the owners and auditors of the workspace; you are %s.", c.Role))
			return
		}
		if store == nil {
			writeError(w, s.internal(r, errors.New("the billing read model is not configured")))
			return
		}
		q, e := s.billingQuery(r)
		if e != nil {
			writeError(w, e)
			return
		}
		if billingWantsCSV(r) {
			s.billingCSV(w, r, store, c.WorkspaceID, q)
			return
		}
		page, err := store.Report(r.Context(), c.WorkspaceID, q)
		if err != nil {
			writeError(w, s.billingError(r, err))
			return
		}
		body := billingReportBody{From: q.From.String(), To: q.To.String(), GroupBy: q.GroupBy, Mode: q.Mode, Currency: "USD",
			Rows: make([]billingRowBody, 0, len(page.Rows)), Total: billingAmount(page.Total), HasMore: page.HasMore}
		for _, row := range page.Rows {
			body.Rows = append(body.Rows, billingRowBody{Group: row.Group, billingAmountBody: billingAmount(row)})
		}
		if page.HasMore {
			body.NextCursor = s.sealCursor(pageKey{List: billingListOf(q), ID: page.NextCursor})
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// billingList binds a report's cursors to its grouping: a cursor holds
// the last group shown, which only means something in the same grouping.
func billingList(groupBy string) string { return "billing/" + groupBy }

// billingListOf is billingList for a query: a cursor of test spend does
// not continue a report of live spend.
func billingListOf(q billingview.ReportQuery) string {
	if q.Mode == billingview.ModeTest {
		return billingList(q.GroupBy) + "/test"
	}
	return billingList(q.GroupBy)
}

func (s *Server) billingError(r *http.Request, err error) *apiError {
	var qe *billingview.QueryError
	if errors.As(err, &qe) {
		return validation("%s is not valid: %s.", qe.Param, qe.Explain(func(p string) string { return p }))
	}
	return s.internal(r, err)
}

// billingCSVHeader is the CSV's first row.
var billingCSVHeader = []string{"group", "amount_usd", "amount_microusd", "charges", "input_tokens", "output_tokens"}

// billingCSV streams every group of the report (limit and after do not
// apply), a page of the read model at a time, flushing after each. A
// failure after the first byte aborts the response, so that a client never
// takes a cut file for a complete one.
func (s *Server) billingCSV(w http.ResponseWriter, r *http.Request, store billingview.Store, workspaceID string, q billingview.ReportQuery) {
	rc := http.NewResponseController(w)
	cw := csv.NewWriter(w)
	q.Limit, q.After = billingview.MaxLimit, ""
	started := false
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		page, err := store.Report(r.Context(), workspaceID, q)
		if err != nil {
			if !started {
				writeError(w, s.billingError(r, err))
				return
			}
			s.d.Logger.ErrorContext(r.Context(), "billing report stream failed", "err", err)
			panic(http.ErrAbortHandler)
		}
		if !started {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="billing-%s-%s-by-%s.csv"`, q.From, q.To, q.GroupBy))
			w.WriteHeader(http.StatusOK)
			started = true
			_ = cw.Write(billingCSVHeader)
		}
		for _, row := range page.Rows {
			_ = cw.Write([]string{billingCSVCell(row.Group), billingview.Dollars(row.AmountMicroUSD),
				strconv.FormatInt(row.AmountMicroUSD, 10), strconv.Itoa(row.Charges),
				strconv.FormatInt(row.InputTokens, 10), strconv.FormatInt(row.OutputTokens, 10)})
		}
		cw.Flush()
		if cw.Error() != nil {
			return // the client went away
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
		if !page.HasMore {
			return
		}
		q.After = page.NextCursor
	}
}

// billingCSVCell keeps a value that a spreadsheet would run as a formula
// (a model name comes from the provider) a plain string.
func billingCSVCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// KeyBudgetUsage is the budget part of a key's usage: the period in
// force, what it has spent and what is left. Embed it in the usage block
// of GET /api/api-keys/{id}.
type KeyBudgetUsage struct {
	Period        KeyBudgetPeriod `json:"period"`
	SpentUSD      string          `json:"spent_usd"`
	SpentMicroUSD int64           `json:"spent_microusd"`
	// Remaining is the budget less what was spent and what running work
	// holds in reservations, never below zero; null for an unlimited key.
	RemainingUSD      *string `json:"remaining_usd"`
	RemainingMicroUSD *int64  `json:"remaining_microusd"`
}

// KeyBudgetPeriod is a budget period: start inclusive, end exclusive,
// both null for a total budget. Its key ("2026-11-22", "2026-11" or
// "total", as in ChargeRecorded's period) is rendered as "id": a key's
// JSON never has a field named "key", so that nothing in it can be
// mistaken for the secret (TestKeyAPI/shown_once checks this).
type KeyBudgetPeriod struct {
	Kind  string     `json:"kind"`
	Key   string     `json:"id"`
	Start *Timestamp `json:"start"`
	End   *Timestamp `json:"end"`
}

// keyBudgetUsage reads a key's spending in the period in force at now.
// Spend is rounded up to the cent and what remains down, so neither is
// ever shown better than it is.
func keyBudgetUsage(ctx context.Context, store billingview.Store, v apikeys.View, now time.Time) (*KeyBudgetUsage, error) {
	if store == nil {
		return nil, errors.New("the billing read model is not configured")
	}
	p, err := dbilling.PeriodAt(v.BudgetPeriod, now)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", v.ID, err)
	}
	t, err := store.Period(ctx, v.ID, p.Key)
	if err != nil {
		return nil, err
	}
	u := &KeyBudgetUsage{Period: KeyBudgetPeriod{Kind: p.Kind, Key: p.Key, Start: tsp(&p.Start), End: tsp(&p.End)},
		SpentUSD: billingview.Dollars(t.SpentMicroUSD), SpentMicroUSD: t.SpentMicroUSD}
	if v.BudgetUSDCents != nil {
		left := max(0, int64(dbilling.FromCents(*v.BudgetUSDCents))-t.SpentMicroUSD-t.OutstandingMicroUSD)
		usd := billingview.DollarsDown(left)
		u.RemainingUSD, u.RemainingMicroUSD = &usd, &left
	}
	return u, nil
}
