package webhook

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DefaultSchedule is the wait before each retry: the first attempt goes out
// at once, then one retry after each step, 8 attempts in all, the last one
// about 27½ hours after the first (before jitter). It is the Svix /
// Standard Webhooks schedule: a receiver that is down for a deploy gets the
// reply seconds later, one that is down for a day still gets it, and nobody
// is hammered in between.
var DefaultSchedule = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// Bounds ParseSchedule enforces, so that a typo in the environment cannot
// make the gateway retry forever or hold a delivery open for months.
const (
	MaxScheduleSteps = 50
	MaxScheduleStep  = 7 * 24 * time.Hour
)

// ParseSchedule reads a retry schedule written as comma-separated Go
// durations, e.g. "5s,5m,30m,2h" (the form of GATEWAY_WEBHOOK_RETRY_SCHEDULE).
// Spaces around items are ignored. Every step must be positive and at most
// MaxScheduleStep, with at most MaxScheduleSteps steps; the errors say
// which step is wrong and how to write it.
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New(`retry schedule is empty: write comma-separated durations such as "5s,5m,30m,2h"`)
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxScheduleSteps {
		return nil, fmt.Errorf("retry schedule has %d steps; at most %d are allowed", len(parts), MaxScheduleSteps)
	}
	out := make([]time.Duration, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("retry schedule step %d is empty (two commas in a row, or a trailing comma?)", i+1)
		}
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, fmt.Errorf("retry schedule step %d %q is not a duration: write a number with a unit, e.g. 5s, 10m or 2h", i+1, p)
		}
		if d <= 0 {
			return nil, fmt.Errorf("retry schedule step %d %q must be longer than zero", i+1, p)
		}
		if d > MaxScheduleStep {
			return nil, fmt.Errorf("retry schedule step %d %q is longer than the maximum of %s", i+1, p, MaxScheduleStep)
		}
		out = append(out, d)
	}
	return out, nil
}

// NextDelay says how long to wait before the next attempt of a delivery
// whose first failedAttempts attempts have failed, and false when the
// schedule is used up and the delivery should be marked failed. With
// failedAttempts <= 0 nothing has been tried yet: (0, true), go now.
//
// Jitter is "equal jitter": for scheduled step d the wait is
// d/2 + jitter()·d/2, i.e. in [d/2, d]. Deliveries that failed together
// (one receiver's outage, a gateway restart) then spread out instead of
// hitting the receiver again in one burst, while every wait stays at least
// half its step, so a 10h step never collapses to a few seconds as full
// jitter ([0, d]) would allow. jitter returns a number in [0, 1) (values
// outside [0, 1] are clamped); nil means math/rand/v2's Float64.
//
// retryAfter is the receiver's Retry-After (0 when it sent none). It can
// only lengthen the wait: the result is clamped to [the jittered step, the
// longest step of the schedule]. The lower bound keeps a receiver from
// making us retry faster than the schedule; the upper bound keeps
// "Retry-After: 31536000" from parking a delivery for a year: no wait is
// ever longer than the schedule's own longest one.
func NextDelay(schedule []time.Duration, failedAttempts int, retryAfter time.Duration, jitter func() float64) (time.Duration, bool) {
	if failedAttempts <= 0 {
		return 0, true
	}
	if failedAttempts > len(schedule) {
		return 0, false
	}
	step := schedule[failedAttempts-1]
	if jitter == nil {
		jitter = rand.Float64
	}
	j := jitter()
	if !(j >= 0) { // also catches NaN
		j = 0
	} else if j > 1 {
		j = 1
	}
	delay := step/2 + time.Duration(j*float64(step-step/2))
	if retryAfter > delay {
		longest := step
		for _, d := range schedule {
			longest = max(longest, d)
		}
		delay = min(retryAfter, longest)
	}
	return delay, true
}
