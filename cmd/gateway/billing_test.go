package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gatewaycli "github.com/sois-ai/chat-agent-gateway/handlers/cli"

	"github.com/urfave/cli/v3"

	"github.com/sois-ai/chat-agent-gateway/commands"
	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/infra/llm/offline"
	billingview "github.com/sois-ai/chat-agent-gateway/projections/billing"
)

// ---- helpers ----

// billingWait bounds every wait for settling and the read model.
const billingWait = 30 * time.Second

// billingEventually polls cond until it holds or the wait runs out.
func billingEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(billingWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", billingWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireBillingWired fails with what to do when the billing read model,
// its route or the key usage block is not wired into the gateway yet.
func requireBillingWired(t *testing.T, h *harness, owner member) {
	t.Helper()
	wired := false
	for _, s := range h.App.Runner.Statuses() {
		wired = wired || s.Name == billingview.Name
	}
	if !wired {
		t.Fatalf("the billing projection does not run: add App.Billing (billingview.NewMemory()/NewPostgres(pool)) to the " +
			"projections.NewRunner call in cmd/gateway/app.go (see the billing wiring notes)")
	}
	r := h.do(req{Method: "GET", Path: "/api/billing/report?from=2026-01-01&to=2026-01-01&group_by=key", Auth: bearerOf(owner.Token)})
	if r.Status == http.StatusNotFound {
		t.Fatalf("GET /api/billing/report is not mounted: add Billing to httpapi.Deps and "+
			"r.Get(\"/billing/report\", s.billingReport(d.Billing)) to handlers/http/server.go (%s)", r.Raw)
	}
}

// billingFacts is what the log says about money, read without the
// projector: every ChargeRecorded and every budget stream folded by the
// aggregate's own code.
type billingFacts struct {
	charges []dbilling.Charged
	budgets map[string]*dbilling.Budget
	// completions counts model steps and tool calls that recorded a
	// charge in their conversation.
	completions int
}

func (f billingFacts) spent() int64 {
	var n int64
	for _, c := range f.charges {
		n += int64(c.Amount)
	}
	return n
}

func (f billingFacts) open() int {
	n := 0
	for _, b := range f.budgets {
		n += len(b.Open)
	}
	return n
}

func readBillingFacts(h *harness) billingFacts {
	h.t.Helper()
	f := billingFacts{budgets: map[string]*dbilling.Budget{}}
	for _, rec := range h.allEvents() {
		if _, _, ok := billingview.ParseStream(rec.Stream); ok {
			fact, err := dbilling.Events.Decode(rec)
			if err != nil {
				h.t.Fatalf("decode %s: %v", rec.Type, err)
			}
			b := f.budgets[rec.Stream]
			if b == nil {
				b = &dbilling.Budget{}
				f.budgets[rec.Stream] = b
			}
			b.Apply(fact)
			if c, ok := fact.(*dbilling.Charged); ok {
				f.charges = append(f.charges, *c)
			}
			continue
		}
		if strings.HasPrefix(rec.Stream, "conversation-") && conversation.Events.Knows(rec.Type) {
			fact, err := conversation.Events.Decode(rec)
			if err != nil {
				h.t.Fatalf("decode %s: %v", rec.Type, err)
			}
			switch e := fact.(type) {
			case *conversation.ModelStepCompleted:
				if e.Charge != nil {
					f.completions++
				}
			case *conversation.ToolCallCompleted:
				if e.Charge != nil {
					f.completions++
				}
			}
		}
	}
	return f
}

// awaitSettled waits until the billing saga has charged every recorded
// cost and given back every reservation (all conversations have ended).
func awaitSettled(h *harness) billingFacts {
	h.t.Helper()
	var f billingFacts
	billingEventually(h.t, "every cost charged and no reservation open", func() bool {
		f = readBillingFacts(h)
		return len(f.charges) == f.completions && f.open() == 0
	})
	return f
}

// billingReportJSON is the JSON billing report.
type billingReportJSON struct {
	From       string           `json:"from"`
	To         string           `json:"to"`
	GroupBy    string           `json:"group_by"`
	Currency   string           `json:"currency"`
	Rows       []billingRowJSON `json:"rows"`
	Total      billingRowJSON   `json:"total"`
	HasMore    bool             `json:"has_more"`
	NextCursor *string          `json:"next_cursor"`
}

type billingRowJSON struct {
	Group          string `json:"group"`
	AmountUSD      string `json:"amount_usd"`
	AmountMicroUSD int64  `json:"amount_microusd"`
	Charges        int    `json:"charges"`
	InputTokens    int64  `json:"input_tokens"`
	OutputTokens   int64  `json:"output_tokens"`
}

func (h *harness) billingReport(token, query string) billingReportJSON {
	h.t.Helper()
	r := h.do(req{Method: "GET", Path: "/api/billing/report?" + query, Auth: bearerOf(token)})
	expectStatus(h.t, r, http.StatusOK)
	var b billingReportJSON
	if err := json.Unmarshal(r.Raw, &b); err != nil {
		h.t.Fatalf("report: %v\n%s", err, r.Raw)
	}
	return b
}

// billingCSV fetches the report as CSV.
func (h *harness) billingCSV(token, query string) [][]string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hr, _ := http.NewRequestWithContext(ctx, "GET", h.URL+"/api/billing/report?"+query, nil)
	hr.Header.Set("Authorization", bearerOf(token))
	hr.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		h.t.Fatalf("csv: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		h.t.Fatalf("csv: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		h.t.Fatalf("csv: %v\n%s", err, raw)
	}
	return records
}

// runBillingCLI runs `gateway billing <args>` configured by env, capturing
// what it prints. It writes to the command's own writers, so tests using
// it may run in parallel.
func runBillingCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := &cli.Command{Name: "gateway", Writer: &out, ErrWriter: &out,
		// A mistake returns its exit error here instead of ending the test binary.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Commands:       []*cli.Command{gatewaycli.Billing(storesFrom(func() (Config, error) { return LoadConfig(func(k string) string { return env[k] }) }))}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := root.Run(ctx, append([]string{"gateway", "billing"}, args...))
	return out.String(), err
}

// freeModelPrices makes model steps free and a tool call cost exactly one
// cent: a conversation that lists tasks then spends exactly 1¢, so a 1¢
// budget is reached exactly (reservations are worst cases, so with real
// prices a period's spend stops short of its budget).
func freeModelPrices(c *Config) {
	c.Prices.Models[offline.Name] = dbilling.Price{}
	c.Prices.ToolCall = 10_000
}

// ---- unit: budget periods ----

// TestBillingPeriodBoundaries: daily periods reset at 00:00 UTC, monthly
// ones on the 1st whatever the month's length, total never.
func TestBillingPeriodBoundaries(t *testing.T) {
	utc := func(y int, m time.Month, d, hh, mm, ss, ns int) time.Time {
		return time.Date(y, m, d, hh, mm, ss, ns, time.UTC)
	}
	for _, c := range []struct {
		kind       string
		at         time.Time
		key        string
		start, end time.Time
	}{
		{dbilling.Daily, utc(2026, 3, 14, 23, 59, 59, 999_999_999), "2026-03-14", utc(2026, 3, 14, 0, 0, 0, 0), utc(2026, 3, 15, 0, 0, 0, 0)},
		{dbilling.Daily, utc(2026, 3, 15, 0, 0, 0, 0), "2026-03-15", utc(2026, 3, 15, 0, 0, 0, 0), utc(2026, 3, 16, 0, 0, 0, 0)},
		{dbilling.Daily, utc(2026, 12, 31, 12, 0, 0, 0), "2026-12-31", utc(2026, 12, 31, 0, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0, 0)},
		// 23:30 in New York is already the next UTC day.
		{dbilling.Daily, time.Date(2026, 3, 14, 23, 30, 0, 0, time.FixedZone("EDT", -4*3600)), "2026-03-15",
			utc(2026, 3, 15, 0, 0, 0, 0), utc(2026, 3, 16, 0, 0, 0, 0)},
		{dbilling.Daily, utc(2028, 2, 28, 23, 59, 59, 0), "2028-02-28", utc(2028, 2, 28, 0, 0, 0, 0), utc(2028, 2, 29, 0, 0, 0, 0)},
		{dbilling.Daily, utc(2028, 2, 29, 1, 0, 0, 0), "2028-02-29", utc(2028, 2, 29, 0, 0, 0, 0), utc(2028, 3, 1, 0, 0, 0, 0)},
		// Month lengths: 31, 28, 29 (leap), 30, and the year's end.
		{dbilling.Monthly, utc(2026, 1, 31, 23, 59, 59, 999_999_999), "2026-01", utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 2, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2026, 2, 1, 0, 0, 0, 0), "2026-02", utc(2026, 2, 1, 0, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2026, 2, 28, 23, 59, 59, 0), "2026-02", utc(2026, 2, 1, 0, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2026, 3, 1, 0, 0, 0, 0), "2026-03", utc(2026, 3, 1, 0, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2028, 2, 28, 23, 0, 0, 0), "2028-02", utc(2028, 2, 1, 0, 0, 0, 0), utc(2028, 3, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2028, 2, 29, 23, 59, 59, 999_999_999), "2028-02", utc(2028, 2, 1, 0, 0, 0, 0), utc(2028, 3, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2028, 3, 1, 0, 0, 0, 0), "2028-03", utc(2028, 3, 1, 0, 0, 0, 0), utc(2028, 4, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2026, 4, 30, 23, 59, 59, 0), "2026-04", utc(2026, 4, 1, 0, 0, 0, 0), utc(2026, 5, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, utc(2026, 12, 31, 23, 59, 59, 0), "2026-12", utc(2026, 12, 1, 0, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0, 0)},
		{dbilling.Monthly, time.Date(2026, 1, 31, 20, 0, 0, 0, time.FixedZone("", -5*3600)), "2026-02",
			utc(2026, 2, 1, 0, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0, 0)},
		{dbilling.Total, utc(2026, 3, 14, 0, 0, 0, 0), "total", time.Time{}, time.Time{}},
	} {
		p, err := dbilling.PeriodAt(c.kind, c.at)
		if err != nil {
			t.Fatalf("PeriodAt(%s, %s): %v", c.kind, c.at, err)
		}
		if p.Kind != c.kind || p.Key != c.key || !p.Start.Equal(c.start) || !p.End.Equal(c.end) {
			t.Errorf("PeriodAt(%s, %s) = %s [%s, %s), want %s [%s, %s)", c.kind, c.at, p.Key, p.Start, p.End, c.key, c.start, c.end)
		}
		if !c.end.IsZero() && !strings.Contains(p.ResetsAt(), c.end.Format("2006-01-02 15:04")+" UTC") {
			t.Errorf("ResetsAt = %q", p.ResetsAt())
		}
		// The instant before the end is in the period, the end is not.
		if !c.end.IsZero() {
			if q, _ := dbilling.PeriodAt(c.kind, c.end.Add(-time.Nanosecond)); q.Key != c.key {
				t.Errorf("%s just before the end is in %s, want %s", c.kind, q.Key, c.key)
			}
			if q, _ := dbilling.PeriodAt(c.kind, c.end); q.Key == c.key {
				t.Errorf("%s at the end %s is still in %s", c.kind, c.end, q.Key)
			}
		}
	}
	if _, err := dbilling.PeriodAt("weekly", time.Now()); err == nil {
		t.Errorf("a weekly period was accepted")
	}
}

// ---- end to end ----

// TestBillingReport: after a few conversations the report's totals, in JSON
// and in CSV and by every grouping, are the sum of the ChargeRecorded
// events; owners and auditors read it, members do not; a key's usage shows
// its spend in the period.
func TestBillingReport(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Billing Co", "owner@billing.test")
		requireBillingWired(t, h, owner)
		auditor := h.addUser(owner, "auditor@billing.test", "auditor")
		memberM := h.addUser(owner, "member@billing.test", "member")
		alice := h.principal(owner)
		bob := h.principal(memberM)
		budgeted := h.createKey(owner, map[string]any{"budget_usd_cents": 500, "budget_period": "daily"})
		carol := creds{Token: owner.Token, Key: budgeted.Key}
		for _, c := range []creds{alice, alice, bob, carol} {
			if _, p := h.ask(c, "List my tasks"); p.Status != "resolved" {
				t.Fatalf("conversation ended %s", p.Status)
			}
		}
		facts := awaitSettled(h)
		// The offline model lists tasks in two model steps and one tool call.
		if len(facts.charges) != 12 {
			t.Fatalf("%d charges for 4 conversations, want 12 (2 model steps + 1 tool call each)", len(facts.charges))
		}
		want := facts.spent()
		today := billingview.DateOf(h.Clock.Now())
		rng := "from=" + today.AddDays(-1).String() + "&to=" + today.AddDays(1).String()
		billingEventually(t, "the report to show every charge", func() bool {
			return h.billingReport(owner.Token, rng+"&group_by=key").Total.Charges == len(facts.charges)
		})
		expected := map[string]map[string]int64{}
		for _, g := range billingview.GroupBys {
			expected[g] = map[string]int64{}
		}
		for _, c := range facts.charges {
			expected[billingview.GroupKey][c.APIKeyID] += int64(c.Amount)
			expected[billingview.GroupDay][billingview.DateOf(c.ChargedAt).String()] += int64(c.Amount)
			expected[billingview.GroupModel][billingview.ModelGroup(c.CauseKind, c.Model)] += int64(c.Amount)
			expected[billingview.GroupUser][c.UserID] += int64(c.Amount)
		}
		for _, g := range billingview.GroupBys {
			for _, who := range []member{owner, auditor} {
				r := h.billingReport(who.Token, rng+"&group_by="+g)
				if r.Currency != "USD" || r.GroupBy != g || r.HasMore || r.NextCursor != nil {
					t.Errorf("by %s: %+v", g, r)
				}
				if r.Total.AmountMicroUSD != want || r.Total.Charges != 12 || r.Total.AmountUSD != billingview.Dollars(want) {
					t.Errorf("by %s, total %+v, want %d µ$ in 12 charges", g, r.Total, want)
				}
				got := map[string]int64{}
				for _, row := range r.Rows {
					got[row.Group] = row.AmountMicroUSD
					if row.AmountUSD != billingview.Dollars(row.AmountMicroUSD) {
						t.Errorf("by %s, %q: amount_usd %s for %d µ$", g, row.Group, row.AmountUSD, row.AmountMicroUSD)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(expected[g]) {
					t.Errorf("by %s: %v, want %v (from the events)", g, got, expected[g])
				}
			}
			// CSV: a header and every group; the rows add up to the events.
			records := h.billingCSV(auditor.Token, rng+"&group_by="+g+"&limit=1")
			if strings.Join(records[0], ",") != "group,amount_usd,amount_microusd,charges,input_tokens,output_tokens" {
				t.Errorf("CSV header %v", records[0])
			}
			var sum int64
			charges := 0
			for _, rec := range records[1:] {
				m, _ := strconv.ParseInt(rec[2], 10, 64)
				n, _ := strconv.Atoi(rec[3])
				sum, charges = sum+m, charges+n
				if expected[g][rec[0]] != m {
					t.Errorf("CSV by %s, %q: %d µ$, want %d", g, rec[0], m, expected[g][rec[0]])
				}
			}
			if sum != want || charges != 12 || len(records)-1 != len(expected[g]) {
				t.Errorf("CSV by %s: %d rows adding up to %d µ$ in %d charges, want %d rows, %d µ$, 12 charges",
					g, len(records)-1, sum, charges, len(expected[g]), want)
			}
		}
		// By model: the offline model's steps and the tool calls.
		byModel := h.billingReport(owner.Token, rng+"&group_by=model")
		if len(byModel.Rows) != 2 || byModel.Rows[0].Group != billingview.ToolCallsGroup || byModel.Rows[0].Charges != 4 ||
			byModel.Rows[1].Group != offline.Name || byModel.Rows[1].Charges != 8 {
			t.Errorf("by model: %+v", byModel.Rows)
		}
		// Pages of one key at a time, in order, with the total each time.
		page := h.billingReport(owner.Token, rng+"&group_by=key&limit=1")
		if len(page.Rows) != 1 || !page.HasMore || page.NextCursor == nil || page.Total.AmountMicroUSD != want {
			t.Fatalf("first page %+v", page)
		}
		next := h.billingReport(owner.Token, rng+"&group_by=key&limit=1&after="+*page.NextCursor)
		if len(next.Rows) != 1 || next.Rows[0].Group <= page.Rows[0].Group || next.Total.AmountMicroUSD != want {
			t.Errorf("second page %+v after %+v", next, page)
		}
		// A member cannot read billing; validation names the parameter.
		r := h.do(req{Method: "GET", Path: "/api/billing/report?" + rng + "&group_by=key", Auth: bearerOf(memberM.Token)})
		expectError(t, r, http.StatusForbidden, "FORBIDDEN")
		r = h.do(req{Method: "GET", Path: "/api/billing/report?from=2026-02-30&to=2026-03-01&group_by=key", Auth: bearerOf(owner.Token)})
		if msg := expectError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR"); !strings.Contains(msg, "from") {
			t.Errorf("message %q does not name from", msg)
		}
		r = h.do(req{Method: "GET", Path: "/api/billing/report", Auth: "Bearer nope"})
		expectError(t, r, http.StatusUnauthorized, "UNAUTHENTICATED")

		// Key usage: the period, what was spent, what is left.
		spentBy := func(key string) int64 {
			var n int64
			for _, c := range facts.charges {
				if c.APIKeyID == key {
					n += int64(c.Amount)
				}
			}
			return n
		}
		billingEventually(t, "the key usage to show the spend", func() bool {
			u := h.keyUsage(owner, budgeted.ID)
			return u.SpentMicroUSD != nil && *u.SpentMicroUSD == spentBy(budgeted.ID)
		})
		u := h.keyUsage(owner, budgeted.ID)
		p, _ := dbilling.PeriodAt(dbilling.Daily, h.Clock.Now())
		left := 5_000_000 - spentBy(budgeted.ID)
		if u.Period.Kind != "daily" || u.Period.Key != p.Key || u.Period.Start == nil || *u.Period.Start != p.Start.Format("2006-01-02T15:04:05+00:00") ||
			u.Period.End == nil || *u.Period.End != p.End.Format("2006-01-02T15:04:05+00:00") ||
			u.SpentUSD != billingview.Dollars(spentBy(budgeted.ID)) || u.RemainingMicroUSD == nil || *u.RemainingMicroUSD != left ||
			u.RemainingUSD == nil || *u.RemainingUSD != billingview.DollarsDown(left) {
			t.Errorf("usage of the budgeted key: %+v, want period %s, %d µ$ left", u, p.Key, left)
		}
		aliceKey := h.keyIDOf(owner, alice.Key)
		u = h.keyUsage(owner, aliceKey)
		if u.Period.Kind != "monthly" || u.SpentMicroUSD == nil || *u.SpentMicroUSD != spentBy(aliceKey) ||
			u.RemainingUSD != nil || u.RemainingMicroUSD != nil || !u.hasRemaining {
			t.Errorf("usage of an unlimited key: %+v", u)
		}
	})
}

// keyUsageJSON is the budget part of a key's usage block.
type keyUsageJSON struct {
	Period struct {
		Kind  string  `json:"kind"`
		Key   string  `json:"id"`
		Start *string `json:"start"`
		End   *string `json:"end"`
	} `json:"period"`
	SpentUSD          string  `json:"spent_usd"`
	SpentMicroUSD     *int64  `json:"spent_microusd"`
	RemainingUSD      *string `json:"remaining_usd"`
	RemainingMicroUSD *int64  `json:"remaining_microusd"`
	hasRemaining      bool
}

func (h *harness) keyUsage(m member, keyID string) keyUsageJSON {
	h.t.Helper()
	r := h.do(req{Method: "GET", Path: "/api/api-keys/" + keyID, Auth: bearerOf(m.Token)})
	expectStatus(h.t, r, http.StatusOK)
	var b struct {
		Usage map[string]json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(r.Raw, &b); err != nil {
		h.t.Fatalf("key: %v", err)
	}
	if _, ok := b.Usage["spent_microusd"]; !ok {
		h.t.Fatalf("GET /api/api-keys/{id} has no budget usage: embed *KeyBudgetUsage in usageBody and call keyBudgetUsage "+
			"in getKey (handlers/http/keys.go, see the billing wiring notes): %s", r.Raw)
	}
	raw, _ := json.Marshal(b.Usage)
	var u keyUsageJSON
	if err := json.Unmarshal(raw, &u); err != nil {
		h.t.Fatalf("usage: %v", err)
	}
	_, u.hasRemaining = b.Usage["remaining_microusd"]
	return u
}

// keyIDOf finds the id of one of m's keys by its secret's prefix.
func (h *harness) keyIDOf(m member, key string) string {
	h.t.Helper()
	r := h.do(req{Method: "GET", Path: "/api/api-keys", Auth: bearerOf(m.Token)})
	var b struct {
		Keys []keyView `json:"api_keys"`
	}
	if err := json.Unmarshal(r.Raw, &b); err != nil {
		h.t.Fatalf("keys: %v", err)
	}
	for _, k := range b.Keys {
		if strings.HasPrefix(key, k.KeyPrefix) {
			return k.ID
		}
	}
	h.t.Fatalf("no key with the prefix of %.12s…", key)
	return ""
}

// TestBillingVerify: `gateway billing verify` recomputes the totals from
// the events and agrees with the read model after a small load; on
// Postgres, a charge altered by hand in the read model makes it fail and
// name the groups that differ. `gateway billing report` prints the table.
func TestBillingVerify(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		owner := h.createWorkspace("Verify Co", "owner@verify.test")
		requireBillingWired(t, h, owner)
		alice := h.principal(owner)
		for range 3 {
			h.ask(alice, "List my tasks")
		}
		facts := awaitSettled(h)
		want := facts.spent()
		today := billingview.DateOf(h.Clock.Now())
		rng := []string{"--from", today.AddDays(-1).String(), "--to", today.AddDays(1).String()}
		billingEventually(t, "the read model to hold every charge", func() bool {
			return h.billingReport(owner.Token, "from="+today.String()+"&to="+today.String()+"&group_by=key").Total.Charges == len(facts.charges)
		})
		env := h.env
		if backend == "embedded" {
			// One process at a time opens the embedded store.
			h.stop()
		}
		out, err := runBillingCLI(t, env, append([]string{"verify"}, rng...)...)
		if err != nil {
			t.Fatalf("verify: %v\n%s", err, out)
		}
		if !strings.Contains(out, "OK: the billing read model matches the events.") || strings.Contains(out, "DIFF") ||
			!strings.Contains(out, fmt.Sprintf("(%d µ$) in all", want)) {
			t.Errorf("verify output:\n%s", out)
		}
		if backend == "embedded" && !strings.Contains(out, "embedded mode") {
			t.Errorf("verify does not say it built the projection in process:\n%s", out)
		}

		out, err = runBillingCLI(t, env, append([]string{"report", "--group-by", "model"}, rng...)...)
		if err != nil {
			t.Fatalf("report: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		last := strings.Fields(lines[len(lines)-1])
		if last[0] != "TOTAL" || last[2] != strconv.FormatInt(want, 10) || last[3] != strconv.Itoa(len(facts.charges)) ||
			!strings.Contains(out, "(tool calls)") || !strings.Contains(out, "MODEL") {
			t.Errorf("report output:\n%s", out)
		}
		// The columns line up: every row of the table is as wide.
		var widths []int
		for _, l := range lines {
			if strings.HasPrefix(l, "MODEL") || strings.HasPrefix(l, "offline") || strings.HasPrefix(l, "(tool calls)") || strings.HasPrefix(l, "TOTAL") {
				widths = append(widths, len([]rune(l)))
			}
		}
		for _, w := range widths {
			if w != widths[0] {
				t.Errorf("the table is not aligned:\n%s", out)
				break
			}
		}
		if _, err := runBillingCLI(t, env, "report", "--group-by", "week"); err == nil || !strings.Contains(err.Error(), "group-by") {
			t.Errorf("an unknown grouping: %v", err)
		}
		if _, err := runBillingCLI(t, env, "verify", "--from", "2026-02-30"); err == nil || !strings.Contains(err.Error(), "--from") {
			t.Errorf("a bad date: %v", err)
		}
		if backend == "embedded" {
			return
		}

		// Tamper with one charge of the read model.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var eventID, keyID, day string
		if err := h.App.pool.QueryRow(ctx, `UPDATE billing_charges SET amount_microusd = amount_microusd + 1
WHERE event_id = (SELECT event_id FROM billing_charges ORDER BY log_tx, log_seq LIMIT 1)
RETURNING event_id, api_key_id, to_char(day, 'YYYY-MM-DD')`).Scan(&eventID, &keyID, &day); err != nil {
			t.Fatalf("tamper: %v", err)
		}
		out, err = runBillingCLI(t, env, append([]string{"verify"}, rng...)...)
		if err == nil {
			t.Fatalf("verify passed over a tampered read model:\n%s", out)
		}
		for _, s := range []string{"DIFF charge " + eventID, "amount_microusd", "by key (live spend), group \"" + keyID + "\"",
			"by day (live spend), group \"" + day + "\"", "by model (live spend), group", "by user (live spend), group", "by key (live spend), total", "FAILED"} {
			if !strings.Contains(out, s) {
				t.Errorf("verify output lacks %q:\n%s", s, out)
			}
		}
	})
}

// TestBillingBudgetInvariantUnderConcurrency: two gateway instances share
// one database, so two pools of command handlers reserve on one key's
// budget stream at once. Fifty conversations on a 2¢ budget: recorded
// spend never exceeds the budget, the overflow is refused (429 at accept
// or failed BUDGET_EXCEEDED), and once everything has ended no
// reservation stays open.
//
// "exact": model steps are free and a tool call costs its fixed fee, so
// what a reservation sets aside is exactly what is charged. The budget
// then pays for exactly 20 conversations, and a reservation decided on a
// stale view of the stream (two pools booking the same money) would show
// as spend over the budget. "worst case": real prices, where a step
// reserves several times what it costs.
func TestBillingBudgetInvariantUnderConcurrency(t *testing.T) {
	t.Run("exact", func(t *testing.T) {
		t.Parallel()
		s := budgetRace(t, withConfig(func(c *Config) { c.Prices.Models[offline.Name] = dbilling.Price{} }))
		if s.resolved != 20 || s.spent != s.limit {
			t.Errorf("%d conversations resolved spending %d µ$; a %d µ$ budget pays for exactly 20 at 1,000 µ$ each",
				s.resolved, s.spent, s.limit)
		}
	})
	t.Run("worst case", func(t *testing.T) {
		t.Parallel()
		// Whether any conversation resolves here is a race, not a promise:
		// a step reserves its worst case (about 1.1¢), so fresh
		// conversations taking their first step can leave no room for the
		// second step of those already half way (see the billing notes).
		budgetRace(t)
	})
}

type budgetRaceStats struct {
	resolved          int
	spent, limit      int64
	accepted, refused int
	failedOnBudget    int
	workA, workB      int64
}

// budgetRace runs fifty conversations at once on a 2¢ daily key, half
// through each of two instances sharing one database, and checks the
// invariant.
func budgetRace(t *testing.T, opts ...harnessOption) budgetRaceStats {
	var workA, workB atomic.Int64
	h := newHarness(t, "postgres", append(opts, withBeforeStart(func(a *App) { a.Cmds.Store = &agentAppends{a.Cmds.Store, &workA} }))...)
	// A second instance on the same database, configuration and clock.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	appB, err := Build(ctx, h.cfg, testLogger(), h.Clock)
	if err != nil {
		t.Fatalf("Build the second instance: %v", err)
	}
	appB.Cmds.Store = &agentAppends{appB.Cmds.Store, &workB}
	if err := appB.Start(ctx); err != nil {
		appB.Close()
		t.Fatalf("Start the second instance: %v", err)
	}
	srvB := httptest.NewServer(appB.Handler)
	hb := &harness{t: t, gateway: &gateway{backend: "postgres", env: h.env, cfg: h.cfg, Clock: h.Clock, App: appB, srv: srvB, URL: srvB.URL}}
	t.Cleanup(hb.stop)

	owner := h.createWorkspace("Race Co", "owner@race.test")
	const budgetCents = 2
	k := h.createKey(owner, map[string]any{"budget_usd_cents": budgetCents, "budget_period": "daily"})
	c := creds{Token: owner.Token, Key: k.Key}
	billingEventually(t, "the second instance to see the key", func() bool {
		return hb.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token)}).Status == http.StatusOK
	})

	const n = 50
	type result struct {
		status int
		id     string
		code   string
		body   string
		via    *harness
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		via := h
		if i%2 == 1 {
			via = hb
		}
		wg.Go(func() {
			<-start
			status, raw, err := rawPost(via.URL+"/api/agent", c, `{"message":"List my tasks"}`)
			res := result{status: status, via: via, err: err, body: string(raw)}
			var b struct {
				ConversationUUID string `json:"conversation_uuid"`
				Error            struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			_ = json.Unmarshal(raw, &b)
			res.id, res.code = b.ConversationUUID, b.Error.Code
			results[i] = res
		})
	}
	close(start)
	wg.Wait()
	var s budgetRaceStats
	for _, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("post: %v", r.err)
		case r.status == http.StatusAccepted && r.id != "":
			s.accepted++
		case r.status == http.StatusTooManyRequests && r.code == "BUDGET_EXCEEDED":
			s.refused++
		default:
			t.Fatalf("unexpected answer %d: %s", r.status, r.body)
		}
	}
	for _, r := range results {
		if r.id == "" {
			continue
		}
		p := r.via.awaitLong(c, r.id)
		switch {
		case p.Status == "resolved":
			s.resolved++
		case strings.Contains(string(p.Error), `"code":"BUDGET_EXCEEDED"`):
			s.failedOnBudget++
		default:
			t.Errorf("conversation %s ended %s: %s", r.id, p.Status, p.Error)
		}
	}
	s.workA, s.workB = workA.Load(), workB.Load()
	t.Logf("%d accepted (%d resolved, %d failed BUDGET_EXCEEDED), %d refused at accept; the agent appended %d times on instance A, %d on B",
		s.accepted, s.resolved, s.failedOnBudget, s.refused, s.workA, s.workB)
	if s.workA == 0 || s.workB == 0 {
		t.Errorf("one instance ran no agent work (A %d, B %d): the two command pools did not share the load", s.workA, s.workB)
	}
	if s.refused+s.failedOnBudget == 0 {
		t.Fatalf("fifty conversations on a %d¢ budget and none was stopped by it", budgetCents)
	}
	facts := awaitSettled(h)
	s.limit = int64(dbilling.FromCents(budgetCents))
	p, _ := dbilling.PeriodAt(dbilling.Daily, h.Clock.Now())
	for _, ch := range facts.charges {
		if ch.APIKeyID == k.ID && ch.Period == p.Key {
			s.spent += int64(ch.Amount)
		}
	}
	if s.spent > s.limit || facts.spent() > s.limit {
		t.Fatalf("recorded spend %d µ$ exceeds the budget of %d µ$", s.spent, s.limit)
	}
	if s.spent == 0 {
		t.Fatalf("nothing was charged")
	}
	for stream, b := range facts.budgets {
		if len(b.Open) != 0 || b.Outstanding != 0 {
			t.Errorf("%s: %d reservations still open (%d µ$) after every conversation ended", stream, len(b.Open), b.Outstanding)
		}
		if int64(b.Spent) > s.limit {
			t.Errorf("%s: spent %d µ$ of %d", stream, b.Spent, s.limit)
		}
	}
	// The read model, kept by both instances, agrees.
	wired := false
	for _, st := range h.App.Runner.Statuses() {
		wired = wired || st.Name == billingview.Name
	}
	if !wired {
		t.Fatalf("the invariant holds, but the billing projection is not wired into the runner (cmd/gateway/app.go), so its totals were not checked")
	}
	store := billingview.NewPostgres(h.App.pool)
	billingEventually(t, "the read model to settle", func() bool {
		tot, err := store.Period(context.Background(), k.ID, p.Key)
		return err == nil && tot.SpentMicroUSD == s.spent && tot.OutstandingMicroUSD == 0 && tot.OpenReservations == 0 &&
			tot.Charges == len(facts.charges)
	})
	// The key's usage counts what the budget stopped inside the loop.
	u := decodeKey(t, h.do(req{Method: "GET", Path: "/api/api-keys/" + k.ID, Auth: bearerOf(owner.Token)})).Usage
	if got := u["failed_for_budget"]; got != float64(s.failedOnBudget) {
		t.Errorf("usage.failed_for_budget = %v, want %d (conversations that ended BUDGET_EXCEEDED)", got, s.failedOnBudget)
	}
	return s
}

// awaitLong is await with billingWait: fifty conversations contending
// for one budget stream on two instances take longer than one.
func (h *harness) awaitLong(c creds, id string) poll {
	h.t.Helper()
	var p poll
	billingEventually(h.t, "conversation "+id+" to end", func() bool {
		r := h.get(c, id)
		if r.Status != http.StatusOK {
			h.t.Fatalf("poll %s: status %d: %s", id, r.Status, r.Raw)
		}
		if err := json.Unmarshal(r.Raw, &p); err != nil {
			h.t.Fatalf("poll %s: %v", id, err)
		}
		return terminal(p.Status)
	})
	return p
}

// agentAppends counts what the agent (the command handlers running the
// loop) appends through one instance.
type agentAppends struct {
	commands.EventStore
	n *atomic.Int64
}

func (a *agentAppends) Append(ctx context.Context, stream string, expected int64, events ...es.Event) (es.AppendResult, error) {
	if len(events) > 0 && events[0].Metadata.Actor.Kind == "agent" {
		a.n.Add(1)
	}
	return a.EventStore.Append(ctx, stream, expected, events...)
}

// rawPost posts without the harness (safe off the test goroutine).
func rawPost(url string, c creds, body string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", bearerOf(c.Token))
	hr.Header.Set("X-Api-Key", c.Key)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// TestBillingPeriodReset: a key that has spent its whole budget is refused
// at accept with 429 BUDGET_EXCEEDED, saying what it spent, its budget and
// when it resets, and nothing is recorded; a daily budget takes messages
// again after 00:00 UTC, a monthly one only from the 1st.
func TestBillingPeriodReset(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend, withConfig(freeModelPrices))
		owner := h.createWorkspace("Reset Co", "owner@reset.test")
		daily := h.createKey(owner, map[string]any{"budget_usd_cents": 1, "budget_period": "daily"})
		monthly := h.createKey(owner, map[string]any{"budget_usd_cents": 1, "budget_period": "monthly"})
		d := creds{Token: owner.Token, Key: daily.Key}
		m := creds{Token: owner.Token, Key: monthly.Key}
		for _, c := range []creds{d, m} {
			if _, p := h.ask(c, "List my tasks"); p.Status != "resolved" {
				t.Fatalf("first conversation ended %s", p.Status)
			}
		}
		facts := awaitSettled(h)
		if facts.spent() != 20_000 {
			t.Fatalf("spent %d µ$, want exactly 1¢ per key", facts.spent())
		}
		now := h.Clock.Now()
		pd, _ := dbilling.PeriodAt(dbilling.Daily, now)
		pm, _ := dbilling.PeriodAt(dbilling.Monthly, now)
		refusedAtAccept := func(t *testing.T, c creds, p dbilling.Period) {
			t.Helper()
			h := h.on(t)
			h.unchanged(t, func() {
				r := h.post(c, map[string]any{"message": "List my tasks"})
				msg := expectError(t, r, http.StatusTooManyRequests, "BUDGET_EXCEEDED")
				for _, s := range []string{"spent $0.01", "$0.01 " + p.Kind + " budget", "resets at " + p.End.Format("2006-01-02 15:04") + " UTC"} {
					if !strings.Contains(msg, s) {
						t.Errorf("429 message %q lacks %q", msg, s)
					}
				}
			})
		}
		refusedAtAccept(t, d, pd)
		refusedAtAccept(t, m, pm)

		// Just past midnight UTC: the daily budget is new.
		h.Clock.Advance(pd.End.Sub(h.Clock.Now()) + time.Second)
		if _, p := h.ask(d, "List my tasks"); p.Status != "resolved" {
			t.Fatalf("after midnight the daily key's conversation ended %s", p.Status)
		}
		if pd.End.Equal(pm.End) {
			t.Logf("today is the last day of the month: the monthly budget reset at midnight too")
		} else {
			refusedAtAccept(t, m, pm)
			// The 1st of next month.
			h.Clock.Advance(pm.End.Sub(h.Clock.Now()) + time.Second)
		}
		if _, p := h.ask(m, "List my tasks"); p.Status != "resolved" {
			t.Fatalf("on the 1st the monthly key's conversation ended %s", p.Status)
		}
		facts = awaitSettled(h)
		periods := map[string]int64{}
		for _, c := range facts.charges {
			periods[c.APIKeyID+" "+c.Period] += int64(c.Amount)
		}
		for kp, spent := range periods {
			if spent != 10_000 {
				t.Errorf("%s: spent %d µ$, want exactly the 1¢ budget", kp, spent)
			}
		}
		if len(periods) != 4 {
			t.Errorf("charges in %d key periods, want 4: %v", len(periods), periods)
		}
		// The usage block follows the period in force.
		requireBillingWired(t, h, owner)
		pd2, _ := dbilling.PeriodAt(dbilling.Daily, h.Clock.Now())
		billingEventually(t, "the daily key's usage in its new period", func() bool {
			u := h.keyUsage(owner, daily.ID)
			return u.Period.Key == pd2.Key && u.SpentMicroUSD != nil && *u.SpentMicroUSD == periods[daily.ID+" "+pd2.Key]
		})
		if u := h.keyUsage(owner, daily.ID); *u.Period.Start != pd2.Start.Format("2006-01-02T15:04:05+00:00") {
			t.Errorf("usage period %+v", u.Period)
		}
	})
}
