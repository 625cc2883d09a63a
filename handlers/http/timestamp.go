package httpapi

import "time"

// Timestamp renders times the way the contract shows them:
// 2026-02-12T01:07:03+00:00, always UTC, whole seconds.
type Timestamp time.Time

const timestampLayout = "2006-01-02T15:04:05-07:00"

func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(timestampLayout) + `"`), nil
}

func ts(t time.Time) Timestamp { return Timestamp(t) }

// tsp renders an optional time as null when absent.
func tsp(t *time.Time) *Timestamp {
	if t == nil || t.IsZero() {
		return nil
	}
	v := Timestamp(*t)
	return &v
}
