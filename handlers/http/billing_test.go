package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	billingview "github.com/sois-ai/chat-agent-gateway/projections/billing"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
)

// fakeIdentity knows members by the hash of their token.
type fakeIdentity struct {
	identity.Store
	byHash map[string]identity.Member
}

func (f fakeIdentity) MemberByTokenHash(_ context.Context, hash string) (identity.Member, bool, error) {
	m, ok := f.byHash[hash]
	return m, ok, nil
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// billingFixture is a workspace with an owner, an auditor and a member,
// charges in an in-memory billing read model, and the report handler.
type billingFixture struct {
	ws      string
	tokens  map[string]string // role -> token
	store   *billingview.Memory
	srv     *Server
	handler http.Handler
	seq     uint64
	version map[string]int64
}

func newBillingFixture(t *testing.T) *billingFixture {
	t.Helper()
	f := &billingFixture{ws: uuid.NewString(), tokens: map[string]string{}, store: billingview.NewMemory(), version: map[string]int64{}}
	id := fakeIdentity{byHash: map[string]identity.Member{}}
	for _, role := range []string{"owner", "auditor", "member"} {
		tok := "tok_" + role + "_" + uuid.NewString()
		f.tokens[role] = tok
		id.byHash[commands.HashSecret(tok)] = identity.Member{UserID: uuid.NewString(), WorkspaceID: f.ws, Role: role}
	}
	other := "tok_other_owner"
	f.tokens["other"] = other
	id.byHash[commands.HashSecret(other)] = identity.Member{UserID: uuid.NewString(), WorkspaceID: uuid.NewString(), Role: "owner"}
	s := &Server{d: Deps{Identity: id, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: fixedClock{time.Now()}}}
	f.srv, f.handler = s, s.billingReport(f.store)
	return f
}

func (f *billingFixture) rec(t *testing.T, stream string, fact es.Fact) es.Recorded {
	t.Helper()
	ev, err := es.NewEvent(uuid.NewString(), fact, es.Metadata{Actor: es.Actor{Kind: "agent"}})
	if err != nil {
		t.Fatal(err)
	}
	f.seq++
	f.version[stream]++
	return es.Recorded{ID: ev.ID, Stream: stream, StreamVersion: f.version[stream], Position: es.Position{Seq: f.seq},
		Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata}
}

// charge records a reserved-then-charged model step (or tool call when
// model is "") in workspace ws.
func (f *billingFixture) charge(t *testing.T, ws, key, user, model string, amount int64, at time.Time) {
	t.Helper()
	p, _ := dbilling.PeriodAt(dbilling.Monthly, at)
	stream := dbilling.Stream(key, p)
	rid := uuid.NewString()
	kind := dbilling.CauseModelStep
	if model == "" {
		kind = dbilling.CauseToolCall
	}
	batch := []es.Recorded{
		f.rec(t, stream, &dbilling.Reserved{ReservationID: rid, Amount: dbilling.MicroUSD(amount), ReservedAt: at}),
		f.rec(t, stream, &dbilling.Charged{ReservationID: rid, APIKeyID: key, WorkspaceID: ws, UserID: user, Period: p.Key,
			CauseKind: kind, Model: model, Usage: agent.Usage{InputTokens: 10, OutputTokens: 2}, Amount: dbilling.MicroUSD(amount), ChargedAt: at}),
	}
	if err := f.store.Apply(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func (f *billingFixture) get(t *testing.T, role, query, accept string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/api/billing/report?"+query, nil)
	if role != "" {
		r.Header.Set("Authorization", "Bearer "+f.tokens[role])
	}
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) (int, string, string) {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return w.Code, b.Error.Code, b.Error.Message
}

type reportJSON struct {
	From       string            `json:"from"`
	To         string            `json:"to"`
	GroupBy    string            `json:"group_by"`
	Currency   string            `json:"currency"`
	Rows       []json.RawMessage `json:"rows"`
	Total      map[string]any    `json:"total"`
	HasMore    bool              `json:"has_more"`
	NextCursor *string           `json:"next_cursor"`
}

var day = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func TestBillingReportAccess(t *testing.T) {
	f := newBillingFixture(t)
	q := "from=2026-03-01&to=2026-03-31&group_by=key"
	if code, c, _ := errorOf(t, f.get(t, "", q, "")); code != 401 || c != CodeUnauthenticated {
		t.Errorf("no token: %d %s", code, c)
	}
	if code, c, msg := errorOf(t, f.get(t, "member", q, "")); code != 403 || c != CodeForbidden || !strings.Contains(msg, "member") {
		t.Errorf("member: %d %s %q", code, c, msg)
	}
	// A member is refused before the query is even looked at.
	if code, _, _ := errorOf(t, f.get(t, "member", "from=junk", "")); code != 403 {
		t.Errorf("member with a bad query: %d", code)
	}
	for _, role := range []string{"owner", "auditor"} {
		if w := f.get(t, role, q, ""); w.Code != 200 {
			t.Errorf("%s: %d %s", role, w.Code, w.Body)
		}
	}
}

func TestBillingReportValidation(t *testing.T) {
	f := newBillingFixture(t)
	keyCursor := billingview.ReportCursor(billingview.GroupKey, "k")
	for _, c := range []struct {
		query, param string
	}{
		{"to=2026-03-31&group_by=key", "from"},
		{"from=&to=2026-03-31&group_by=key", "from"},
		{"from=2026-3-1&to=2026-03-31&group_by=key", "from"},
		{"from=2026-02-30&to=2026-03-31&group_by=key", "from"},
		{"from=yesterday&to=2026-03-31&group_by=key", "from"},
		{"from=0000-01-01&to=0000-01-02&group_by=day", "from"}, // was a 500 on Postgres, 200 embedded
		{"from=2026-03-01&to=9999-12-31&group_by=day", "to"},
		{"from=2026-03-01&group_by=key", "to"},
		{"from=2026-03-01&to=2026-03-01T00:00:00Z&group_by=key", "to"},
		{"from=2026-04-01&to=2026-03-31&group_by=key", "from"},
		{"from=2026-01-01&to=2027-01-02&group_by=key", "366"},
		{"from=2026-03-01&to=2026-03-31", "group_by"},
		{"from=2026-03-01&to=2026-03-31&group_by=week", "group_by"},
		{"from=2026-03-01&to=2026-03-31&group_by=KEY", "group_by"},
		{"from=2026-03-01&to=2026-03-31&group_by=key&limit=0", "limit"},
		{"from=2026-03-01&to=2026-03-31&group_by=key&limit=1001", "limit"},
		{"from=2026-03-01&to=2026-03-31&group_by=key&limit=ten", "limit"},
		{"from=2026-03-01&to=2026-03-31&group_by=key&after=garbage", "after"},
		{"from=2026-03-01&to=2026-03-31&group_by=day&after=" + keyCursor, "after"},
		{"from=2026-03-01&to=2026-03-31&group_by=key&cursor=garbage", "cursor"},
		{"from=2026-03-01&to=2026-03-31&group_by=key&cursor=" + keyCursor, "cursor"},
		{"from=2026-03-01&to=2026-03-31&group_by=key&cursor=a&after=b", "cursor or after"},
	} {
		for _, accept := range []string{"", "text/csv"} {
			code, errCode, msg := errorOf(t, f.get(t, "owner", c.query, accept))
			if code != 422 || errCode != CodeValidation || !strings.Contains(msg, c.param) {
				t.Errorf("%s (Accept %q): %d %s %q, want 422 naming %s", c.query, accept, code, errCode, msg, c.param)
			}
		}
	}
	// The limits themselves are fine: a leap year, one day, 1000 rows.
	for _, ok := range []string{"from=2028-01-01&to=2028-12-31&group_by=day", "from=2026-03-01&to=2026-03-01&group_by=user&limit=1000",
		"from=2026-03-01&to=2026-03-01&group_by=model&limit=1&after=" + billingview.ReportCursor(billingview.GroupModel, "a")} {
		if w := f.get(t, "owner", ok, ""); w.Code != 200 {
			t.Errorf("%s: %d %s", ok, w.Code, w.Body)
		}
	}
}

func TestBillingReportJSON(t *testing.T) {
	f := newBillingFixture(t)
	user := uuid.NewString()
	keys := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	var want int64
	for i, k := range keys {
		for j := range 3 {
			amount := int64(1_234_567*(i+1) + j)
			want += amount
			f.charge(t, f.ws, k, user, "gpt-4o", amount, day.Add(time.Duration(j)*time.Hour))
		}
	}
	f.charge(t, uuid.NewString(), uuid.NewString(), user, "gpt-4o", 99_000_000, day) // another workspace
	f.charge(t, f.ws, keys[0], user, "", 1_000, day.AddDate(0, 1, 0))                // outside the range
	var rows []map[string]any
	after := ""
	for page := 0; ; page++ {
		param := "after" // its older name, which still works
		if page%2 == 1 {
			param = "cursor"
		}
		w := f.get(t, "auditor", "from=2026-03-01&to=2026-03-31&group_by=key&limit=2&"+param+"="+url.QueryEscape(after), "")
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("page %d: %d %s", page, w.Code, w.Body)
		}
		var r reportJSON
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.From != "2026-03-01" || r.To != "2026-03-31" || r.GroupBy != "key" || r.Currency != "USD" {
			t.Fatalf("header fields: %s", w.Body)
		}
		if r.Total["amount_microusd"] != float64(want) || r.Total["amount_usd"] != billingview.Dollars(want) || r.Total["charges"] != float64(9) {
			t.Fatalf("total = %v, want %d µ$ in 9 charges", r.Total, want)
		}
		if _, has := r.Total["group"]; has {
			t.Errorf("the total has a group: %v", r.Total)
		}
		for _, raw := range r.Rows {
			var row map[string]any
			_ = json.Unmarshal(raw, &row)
			rows = append(rows, row)
		}
		if !r.HasMore {
			if r.NextCursor != nil || !bytes.Contains(w.Body.Bytes(), []byte(`"next_cursor":null`)) {
				t.Fatalf("last page cursor: %s", w.Body)
			}
			break
		}
		if r.NextCursor == nil || len(r.Rows) != 2 {
			t.Fatalf("page %d: %s", page, w.Body)
		}
		after = *r.NextCursor
	}
	if len(rows) != 3 {
		t.Fatalf("rows = %v", rows)
	}
	var sum int64
	for i, row := range rows {
		if i > 0 && row["group"].(string) <= rows[i-1]["group"].(string) {
			t.Errorf("rows out of order: %v", rows)
		}
		m := int64(row["amount_microusd"].(float64))
		sum += m
		if row["amount_usd"] != billingview.Dollars(m) || row["charges"] != float64(3) || row["input_tokens"] != float64(30) ||
			row["output_tokens"] != float64(6) || len(row) != 6 {
			t.Errorf("row = %v", row)
		}
	}
	if sum != want {
		t.Errorf("rows add up to %d, total is %d", sum, want)
	}
	// Money is a string with two decimals, rounded up to the cent.
	if w := f.get(t, "owner", "from=2026-03-14&to=2026-03-14&group_by=model", ""); !strings.Contains(w.Body.String(), `"amount_usd":"`+billingview.Dollars(want)+`"`) {
		t.Errorf("by model: %s", w.Body)
	}
	// Another workspace's owner sees only their own spend.
	var other reportJSON
	_ = json.Unmarshal(f.get(t, "other", "from=2026-03-01&to=2026-03-31&group_by=key", "").Body.Bytes(), &other)
	if other.Total["amount_microusd"] != float64(0) || len(other.Rows) != 0 {
		t.Errorf("another workspace sees %+v", other)
	}
}

func TestBillingReportCSV(t *testing.T) {
	f := newBillingFixture(t)
	// More groups than one page of the read model, so the stream pages.
	n := billingview.MaxLimit + 7
	var want int64
	for i := range n {
		amount := int64(10_000 + i)
		want += amount
		f.charge(t, f.ws, "key", "user", fmt.Sprintf("model-%05d", i), amount, day)
	}
	f.charge(t, f.ws, "key", "user", "=HYPERLINK(\"x\")", 1, day)
	want++
	for _, accept := range []string{"text/csv", "text/csv; charset=utf-8", "application/json;q=0.5, text/csv", "text/*, text/csv;q=0.9"} {
		w := f.get(t, "owner", "from=2026-03-14&to=2026-03-14&group_by=model&limit=1", accept)
		if w.Code != 200 || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
			!strings.Contains(w.Header().Get("Content-Disposition"), "billing-2026-03-14-2026-03-14-by-model.csv") {
			t.Fatalf("Accept %q: %d %v %s", accept, w.Code, w.Header(), w.Body.String()[:min(200, w.Body.Len())])
		}
		records, err := csv.NewReader(w.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(records[0], ",") != "group,amount_usd,amount_microusd,charges,input_tokens,output_tokens" {
			t.Fatalf("header = %v", records[0])
		}
		if len(records) != n+2 {
			t.Fatalf("%d records, want the header and %d rows", len(records), n+1)
		}
		var sum int64
		for i, rec := range records[1:] {
			m, err := strconv.ParseInt(rec[2], 10, 64)
			if err != nil || rec[1] != billingview.Dollars(m) || rec[3] != "1" {
				t.Fatalf("row %d = %v", i, rec)
			}
			sum += m
		}
		if sum != want {
			t.Errorf("CSV rows add up to %d, want %d", sum, want)
		}
		if records[1][0] != "'=HYPERLINK(\"x\")" {
			t.Errorf("a formula-like group is not neutralised: %q", records[1][0])
		}
	}
	for _, accept := range []string{"", "*/*", "application/json", "text/csv;q=0", "application/json, text/csv;q=0.5"} {
		if w := f.get(t, "owner", "from=2026-03-14&to=2026-03-14&group_by=model", accept); !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("Accept %q gave %s", accept, w.Header().Get("Content-Type"))
		}
	}
}

// failingStore fails every query.
type failingStore struct{ billingview.Store }

func (failingStore) Report(context.Context, string, billingview.ReportQuery) (billingview.ReportPage, error) {
	return billingview.ReportPage{}, errors.New("database on fire")
}

func (failingStore) Period(context.Context, string, string) (billingview.PeriodTotals, error) {
	return billingview.PeriodTotals{}, errors.New("database on fire")
}

func TestBillingReportStoreFailure(t *testing.T) {
	f := newBillingFixture(t)
	h := f.srv.billingReport(failingStore{})
	for _, accept := range []string{"", "text/csv"} {
		r := httptest.NewRequest(http.MethodGet, "/api/billing/report?from=2026-03-01&to=2026-03-31&group_by=key", nil)
		r.Header.Set("Authorization", "Bearer "+f.tokens["owner"])
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if code, c, msg := errorOf(t, w); code != 500 || c != CodeInternal || strings.Contains(msg, "fire") {
			t.Errorf("Accept %q: %d %s %q", accept, code, c, msg)
		}
	}
}

func TestKeyBudgetUsage(t *testing.T) {
	ctx := context.Background()
	f := newBillingFixture(t)
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	cents := func(c int64) *int64 { return &c }
	key := uuid.NewString()
	// 12,345 µ$ spent and 10,000 µ$ still reserved this month.
	f.charge(t, f.ws, key, "u", "gpt-4o", 12_345, now)
	p, _ := dbilling.PeriodAt(dbilling.Monthly, now)
	stream := dbilling.Stream(key, p)
	if err := f.store.Apply(ctx, []es.Recorded{f.rec(t, stream, &dbilling.Reserved{ReservationID: "open", Amount: 10_000, ReservedAt: now})}); err != nil {
		t.Fatal(err)
	}
	render := func(v apikeys.View) string {
		t.Helper()
		u, err := keyBudgetUsage(ctx, f.store, v, now)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(u)
		return string(raw)
	}
	cases := []struct {
		name string
		v    apikeys.View
		want string
	}{
		{"monthly with a budget", apikeys.View{ID: key, BudgetPeriod: "monthly", BudgetUSDCents: cents(5)},
			`{"period":{"kind":"monthly","id":"2026-03","start":"2026-03-01T00:00:00+00:00","end":"2026-04-01T00:00:00+00:00"},` +
				`"spent_usd":"0.02","spent_microusd":12345,"remaining_usd":"0.02","remaining_microusd":27655}`},
		{"unlimited", apikeys.View{ID: key, BudgetPeriod: "monthly"},
			`{"period":{"kind":"monthly","id":"2026-03","start":"2026-03-01T00:00:00+00:00","end":"2026-04-01T00:00:00+00:00"},` +
				`"spent_usd":"0.02","spent_microusd":12345,"remaining_usd":null,"remaining_microusd":null}`},
		{"over budget is zero left", apikeys.View{ID: key, BudgetPeriod: "monthly", BudgetUSDCents: cents(1)},
			`{"period":{"kind":"monthly","id":"2026-03","start":"2026-03-01T00:00:00+00:00","end":"2026-04-01T00:00:00+00:00"},` +
				`"spent_usd":"0.02","spent_microusd":12345,"remaining_usd":"0.00","remaining_microusd":0}`},
		{"daily, nothing spent today", apikeys.View{ID: key, BudgetPeriod: "daily", BudgetUSDCents: cents(250)},
			`{"period":{"kind":"daily","id":"2026-03-14","start":"2026-03-14T00:00:00+00:00","end":"2026-03-15T00:00:00+00:00"},` +
				`"spent_usd":"0.00","spent_microusd":0,"remaining_usd":"2.50","remaining_microusd":2500000}`},
		{"total", apikeys.View{ID: key, BudgetPeriod: "total", BudgetUSDCents: cents(0)},
			`{"period":{"kind":"total","id":"total","start":null,"end":null},` +
				`"spent_usd":"0.00","spent_microusd":0,"remaining_usd":"0.00","remaining_microusd":0}`},
	}
	for _, c := range cases {
		got := render(c.v)
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if strings.Contains(got, `"key":`) {
			t.Errorf("%s: a key's JSON must have no field named key: %s", c.name, got)
		}
	}
	// Embedded in a usage block, the fields sit beside the others.
	type usage struct {
		ModelSteps int `json:"model_steps"`
		*KeyBudgetUsage
	}
	bu, _ := keyBudgetUsage(ctx, f.store, cases[0].v, now)
	raw, _ := json.Marshal(usage{ModelSteps: 2, KeyBudgetUsage: bu})
	if !strings.HasPrefix(string(raw), `{"model_steps":2,"period":{"kind":"monthly"`) || !strings.Contains(string(raw), `"remaining_microusd":27655}`) {
		t.Errorf("embedded: %s", raw)
	}
	if _, err := keyBudgetUsage(ctx, failingStore{}, cases[0].v, now); err == nil {
		t.Errorf("a failing store gave no error")
	}
	if _, err := keyBudgetUsage(ctx, f.store, apikeys.View{ID: key, BudgetPeriod: "weekly"}, now); err == nil {
		t.Errorf("an unknown period gave no error")
	}
}
