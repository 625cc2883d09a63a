package billing

import (
	"fmt"
	"time"
)

// Period kinds, as on the key.
const (
	Daily   = "daily"
	Monthly = "monthly"
	Total   = "total"
)

// Period is one budget window of a key.
type Period struct {
	Kind  string
	Key   string    // "2026-11-22", "2026-11" or "total"
	Start time.Time // inclusive, UTC
	End   time.Time // exclusive; zero for total
}

// PeriodAt returns the window that holds t: daily resets at 00:00 UTC,
// monthly on the 1st at 00:00 UTC, total never.
func PeriodAt(kind string, t time.Time) (Period, error) {
	t = t.UTC()
	switch kind {
	case Daily:
		s := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return Period{Kind: kind, Key: s.Format("2006-01-02"), Start: s, End: s.AddDate(0, 0, 1)}, nil
	case Monthly:
		s := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return Period{Kind: kind, Key: s.Format("2006-01"), Start: s, End: s.AddDate(0, 1, 0)}, nil
	case Total:
		return Period{Kind: kind, Key: "total"}, nil
	}
	return Period{}, fmt.Errorf("unknown budget period %q", kind)
}

// Stream names a key's budget stream for one period.
func Stream(keyID string, p Period) string { return "budget-" + keyID + "-" + p.Key }

// ResetsAt describes when the period ends, for messages.
func (p Period) ResetsAt() string {
	if p.End.IsZero() {
		return "it never resets (total budget)"
	}
	return "it resets at " + p.End.Format("2006-01-02 15:04") + " UTC"
}
