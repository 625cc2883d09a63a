// Package billing is the read model of money spent: one row per charge
// (a ChargeRecorded on a key's budget stream, naming the model step or
// tool call it pays for) and, per key and budget period, what was spent
// and what running work still holds in reservations. It answers the
// billing report (totals by key, day, model or user over a range of UTC
// days, paginated with a stable cursor) and a key's budget usage.
//
// Amounts are integer micro-dollars (µ$) from end to end: no float ever
// touches money here.
package billing

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	dbilling "github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "billing"

// Report groupings.
const (
	GroupKey   = "key"
	GroupDay   = "day"
	GroupModel = "model"
	GroupUser  = "user"
)

// GroupBys lists the groupings, in the order reports and tools show them.
var GroupBys = []string{GroupKey, GroupDay, GroupModel, GroupUser}

// ToolCallsGroup is the model group of charges that pay for tool calls
// (they run no model); UnknownModelGroup is that of a model step whose
// model was not recorded.
const (
	ToolCallsGroup    = "(tool calls)"
	McpToolCallsGroup = "(MCP tool calls)" // calls made over MCP by a caller's own agent: no model of ours ran
	UnknownModelGroup = "(unknown model)"
)

// Limits of Report and Charges.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// MaxRangeDays is the longest report: a leap year, both ends included.
	MaxRangeDays = 366
)

// Date is a calendar day in UTC. The zero Date is "no date".
type Date struct{ t time.Time }

// NewDate returns the UTC day y-m-d; out-of-range parts are normalised
// as time.Date does.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// DateOf is the UTC day that holds t.
func DateOf(t time.Time) Date {
	t = t.UTC()
	return NewDate(t.Year(), t.Month(), t.Day())
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// The days a report may name.
var (
	MinDate = Date{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)}
	MaxDate = Date{time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC)}
	// ErrDateOutOfRange: a day outside MinDate … MaxDate.
	ErrDateOutOfRange = errors.New("date out of the supported range")
)

// ParseDate reads YYYY-MM-DD, strictly: a real calendar day, four-digit
// year, two-digit month and day.
func ParseDate(s string) (Date, error) {
	if !dateRE.MatchString(s) {
		return Date{}, fmt.Errorf("%q is not a date of the form YYYY-MM-DD", s)
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a calendar date", s)
	}
	if t.Before(MinDate.t) || t.After(MaxDate.t) {
		// Every store must give the same answer: Postgres cannot count
		// days around year 0, and no charge is older than 1970.
		return Date{}, fmt.Errorf("%q is outside %s to %s: %w", s, MinDate, MaxDate, ErrDateOutOfRange)
	}
	return Date{t}, nil
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d.t.IsZero() }

// String renders YYYY-MM-DD.
func (d Date) String() string { return d.t.Format("2006-01-02") }

// Start is 00:00 UTC of the day.
func (d Date) Start() time.Time { return d.t }

// AddDays moves the date by n days.
func (d Date) AddDays(n int) Date { return Date{d.t.AddDate(0, 0, n)} }

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool { return d.t.Before(o.t) }

// After reports whether d is a later day than o.
func (d Date) After(o Date) bool { return d.t.After(o.t) }

// DaysUntil counts the days from d to o (negative when o is earlier).
func (d Date) DaysUntil(o Date) int { return int(o.t.Sub(d.t).Hours() / 24) }

// Within reports whether from <= d <= to.
func (d Date) Within(from, to Date) bool { return !d.Before(from) && !d.After(to) }

// Charge is one ChargeRecorded: what one model step or tool call cost.
type Charge struct {
	EventID        string
	Position       es.Position // of the ChargeRecorded in the log
	ReservationID  string
	WorkspaceID    string
	APIKeyID       string
	UserID         string
	ConversationID string
	PeriodKey      string
	CauseKind      string // model_step or tool_call
	CauseRef       string // "step 2", "tool call 1.1 (list_tasks)"
	Model          string // "" for a tool call
	InputTokens    int64
	OutputTokens   int64
	AmountMicroUSD int64
	ChargedAt      time.Time // UTC, microseconds
	Day            Date      // ChargedAt's UTC date
	Mode           string    // ModeLive, or ModeTest for a test key's work
}

// Modes of spend: a report covers one of them, so test spend is never
// mixed into live figures.
const (
	ModeLive = "live"
	ModeTest = "test"
)

// ModeOf is the mode a charge is reported under.
func ModeOf(m string) string {
	if m == ModeTest {
		return ModeTest
	}
	return ModeLive
}

// PeriodTotals is one key's spending in one budget period.
type PeriodTotals struct {
	APIKeyID  string
	PeriodKey string
	// SpentMicroUSD adds up the charges; OutstandingMicroUSD what open
	// reservations set aside for work still running.
	SpentMicroUSD       int64
	OutstandingMicroUSD int64
	Charges             int // ChargeRecorded events
	Reservations        int // BudgetReserved events
	OpenReservations    int // reserved, neither charged nor released yet
	Version             int64
}

// ReportQuery asks for totals over the charges of a workspace whose UTC
// day lies in [From, To], grouped by GroupBy, a page at a time.
type ReportQuery struct {
	From, To Date
	GroupBy  string
	// Limit is the page size: DefaultLimit when <= 0, at most MaxLimit.
	Limit int
	// After is the NextCursor of the previous page ("" = first page).
	After string
	// Mode is the spend reported: ModeLive ("" too) or ModeTest.
	Mode string
}

// mode is the mode q reports.
func (q ReportQuery) mode() string { return ModeOf(q.Mode) }

// Row is the total of one group (or, as ReportPage.Total, of all).
type Row struct {
	Group          string
	AmountMicroUSD int64
	Charges        int
	InputTokens    int64
	OutputTokens   int64
}

func (r *Row) add(c Charge) {
	r.AmountMicroUSD += c.AmountMicroUSD
	r.Charges++
	r.InputTokens += c.InputTokens
	r.OutputTokens += c.OutputTokens
}

// ReportPage is one page of a report. Rows are ordered by group value
// (byte order); Total covers the whole range, whatever the page.
type ReportPage struct {
	Rows       []Row
	Total      Row
	NextCursor string // "" when HasMore is false
	HasMore    bool
}

// ChargePage is one page of raw charges, in log order.
type ChargePage struct {
	Charges    []Charge
	NextCursor string
	HasMore    bool
}

// ErrInvalidQuery marks a query the store refuses; ErrBadCursor (which
// also matches ErrInvalidQuery) a cursor it did not hand out.
var (
	ErrInvalidQuery = errors.New("invalid billing query")
	ErrBadCursor    = fmt.Errorf("%w: bad cursor", ErrInvalidQuery)
)

// QueryError names the parameter that is wrong.
type QueryError struct {
	Param  string // from, to, group_by, limit, after
	Reason string
	// Other is a second parameter the reason names, written {other} in
	// Reason, so that each caller can spell it its own way (the HTTP API
	// "to", the command line "--to").
	Other string
	bad   error
}

func (e *QueryError) Error() string {
	return e.Param + ": " + e.Explain(func(p string) string { return p })
}

// Explain is the reason with the other parameter named by name.
func (e *QueryError) Explain(name func(param string) string) string {
	if e.Other == "" {
		return e.Reason
	}
	return strings.ReplaceAll(e.Reason, "{other}", name(e.Other))
}

func (e *QueryError) Unwrap() error {
	if e.bad != nil {
		return e.bad
	}
	return ErrInvalidQuery
}

// ValidGroupBy reports whether g is one of GroupBys.
func ValidGroupBy(g string) bool {
	for _, v := range GroupBys {
		if v == g {
			return true
		}
	}
	return false
}

// Validate checks the range and the grouping (not the cursor, which
// needs decoding).
func (q ReportQuery) Validate() error {
	if err := validRange(q.From, q.To); err != nil {
		return err
	}
	if !ValidGroupBy(q.GroupBy) {
		return &QueryError{Param: "group_by", Reason: fmt.Sprintf("%q is not one of %s", q.GroupBy, strings.Join(GroupBys, ", "))}
	}
	if q.Mode != "" && q.Mode != ModeLive && q.Mode != ModeTest {
		return &QueryError{Param: "mode", Reason: fmt.Sprintf("%q is not %s or %s", q.Mode, ModeLive, ModeTest)}
	}
	return nil
}

func validRange(from, to Date) error {
	switch {
	case from.IsZero():
		return &QueryError{Param: "from", Reason: "a date is required"}
	case to.IsZero():
		return &QueryError{Param: "to", Reason: "a date is required"}
	case from.After(to):
		return &QueryError{Param: "from", Reason: fmt.Sprintf("%s is after {other} (%s)", from, to), Other: "to"}
	case from.DaysUntil(to)+1 > MaxRangeDays:
		return &QueryError{Param: "to", Reason: fmt.Sprintf("the range %s to %s spans %d days; at most %d are allowed",
			from, to, from.DaysUntil(to)+1, MaxRangeDays)}
	}
	return nil
}

func (q ReportQuery) limit() int { return clampLimit(q.Limit) }

func clampLimit(n int) int { return projections.Clamp(n, DefaultLimit, MaxLimit) }

// Cursors are opaque to callers: base64url of a version tag, what they
// page through and the last value of the previous page. A cursor names
// its grouping, so one handed out by a report by key is refused by a
// report by day rather than silently skipping rows.
const (
	reportCursorTag = "r1"
	chargeCursorTag = "c1"
)

// ReportCursor is the cursor that continues after group value last.
func ReportCursor(groupBy, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(reportCursorTag + "\n" + groupBy + "\n" + last))
}

// decodeReportCursor returns the group value to continue after; ok is
// false for the first page.
func decodeReportCursor(groupBy, cursor string) (after string, ok bool, err error) {
	if cursor == "" {
		return "", false, nil
	}
	bad := &QueryError{Param: "after", Reason: "not a cursor of this report (pass next_cursor unchanged, with the same group_by)", bad: ErrBadCursor}
	raw, derr := base64.RawURLEncoding.DecodeString(cursor)
	if derr != nil {
		return "", false, bad
	}
	parts := strings.SplitN(string(raw), "\n", 3)
	if len(parts) != 3 || parts[0] != reportCursorTag || parts[1] != groupBy {
		return "", false, bad
	}
	return parts[2], true, nil
}

// CheckCursor reports whether cursor ("" included) is one a report by
// groupBy can continue from; a bad one is a *QueryError on "after".
func CheckCursor(groupBy, cursor string) error {
	_, _, err := decodeReportCursor(groupBy, cursor)
	return err
}

func chargeCursor(p es.Position) string {
	return base64.RawURLEncoding.EncodeToString([]byte(chargeCursorTag + "\n" + p.String()))
}

func decodeChargeCursor(cursor string) (es.Position, error) {
	if cursor == "" {
		return es.Start, nil
	}
	bad := &QueryError{Param: "after", Reason: "not a cursor of this charge listing", bad: ErrBadCursor}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return es.Start, bad
	}
	tag, pos, ok := strings.Cut(string(raw), "\n")
	if !ok || tag != chargeCursorTag {
		return es.Start, bad
	}
	p, err := es.ParsePosition(pos)
	if err != nil || p.Tx > 1<<63-1 || p.Seq > 1<<63-1 {
		return es.Start, bad
	}
	return p, nil
}

// ModelGroup is the model a charge is grouped under.
func ModelGroup(causeKind, model string) string {
	switch {
	case causeKind == dbilling.CauseToolCall:
		return ToolCallsGroup
	case causeKind == dbilling.CauseMcpToolCall:
		return McpToolCallsGroup
	case model == "":
		return UnknownModelGroup
	}
	return model
}

// GroupOf is the group value of a charge under a grouping.
func GroupOf(groupBy string, c Charge) string {
	switch groupBy {
	case GroupKey:
		return c.APIKeyID
	case GroupDay:
		return c.Day.String()
	case GroupModel:
		return ModelGroup(c.CauseKind, c.Model)
	case GroupUser:
		return c.UserID
	}
	return ""
}

const streamPrefix = "budget-"

// periodKeyRE matches the period keys billing.PeriodAt hands out at the
// end of a stream name: a day, a month or "total".
var periodKeyRE = regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}|\d{4}-\d{2}|total)$`)

// ParseStream splits a budget stream name "budget-<keyID>-<periodKey>".
func ParseStream(stream string) (keyID, periodKey string, ok bool) {
	rest, found := strings.CutPrefix(stream, streamPrefix)
	if !found {
		return "", "", false
	}
	m := periodKeyRE.FindStringSubmatchIndex(rest)
	if m == nil || m[0] == 0 {
		return "", "", false
	}
	return rest[:m[0]], rest[m[2]:m[3]], true
}

func isBudget(rec es.Recorded) bool { _, _, ok := ParseStream(rec.Stream); return ok }

func streamOf(rec es.Recorded) string { return rec.Stream }

// stamp keeps only what Postgres can store, so both stores agree.
// decodeNext checks rec is the next event of a stream at version have and
// decodes it; ok is false for an event already applied. A version gap
// stops the projection rather than let it build a wrong total.
func decodeNext(have int64, rec es.Recorded) (f es.Fact, ok bool, err error) {
	if f, ok, err = projections.Next(have, rec, dbilling.Events, nil); err != nil || !ok {
		return nil, false, err
	}
	if _, reserved := f.(*dbilling.Reserved); have == 0 && !reserved {
		// Every budget stream starts with a reservation: money is set
		// aside before anything is charged or released.
		return nil, false, fmt.Errorf("stream %s version %d: %s before any reservation", rec.Stream, rec.StreamVersion, rec.Type)
	}
	return f, true, nil
}

// chargeFrom turns a ChargeRecorded into its row. The key and period
// come from the stream, which is what the budget aggregate keys on.
func chargeFrom(rec es.Recorded, e *dbilling.Charged) Charge {
	key, period, _ := ParseStream(rec.Stream)
	at := projections.Stamp(e.ChargedAt)
	return Charge{EventID: rec.ID, Position: rec.Position, ReservationID: e.ReservationID, WorkspaceID: e.WorkspaceID,
		APIKeyID: key, UserID: e.UserID, ConversationID: e.ConversationID, PeriodKey: period, CauseKind: e.CauseKind,
		CauseRef: e.CauseRef, Model: e.Model, InputTokens: int64(e.Usage.InputTokens), OutputTokens: int64(e.Usage.OutputTokens),
		AmountMicroUSD: int64(e.Amount), ChargedAt: at, Day: DateOf(at), Mode: ModeOf(e.Mode)}
}

// Dollars renders µ$ as dollars and cents ("12.34"), from integers only,
// rounding away from zero to the cent like every amount the gateway shows:
// a display never understates spend. The µ$ figure is the exact one.
func Dollars(m int64) string { return dollars(m, true) }

// DollarsDown renders µ$ as dollars and cents rounding toward zero, for
// what is left of a budget: a display never overstates it.
func DollarsDown(m int64) string { return dollars(m, false) }

// ExactDollars renders µ$ as dollars with six decimals ("0.012345").
func ExactDollars(m int64) string {
	sign, u := magnitude(m)
	return sign + strconv.FormatUint(u/1_000_000, 10) + "." + fmt.Sprintf("%06d", u%1_000_000)
}

func magnitude(m int64) (string, uint64) {
	if m < 0 {
		return "-", uint64(-(m + 1)) + 1 // also for math.MinInt64
	}
	return "", uint64(m)
}

func dollars(m int64, up bool) string {
	sign, u := magnitude(m)
	cents := u / 10_000
	if up && u%10_000 != 0 {
		cents++
	}
	if cents == 0 {
		sign = ""
	}
	return sign + strconv.FormatUint(cents/100, 10) + "." + fmt.Sprintf("%02d", cents%100)
}
