package webhook

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultSchedule(t *testing.T) {
	var total time.Duration
	for _, d := range DefaultSchedule {
		total += d
	}
	if want := 27*time.Hour + 35*time.Minute + 5*time.Second; total != want || len(DefaultSchedule) != 7 {
		t.Fatalf("DefaultSchedule totals %s over %d retries, want %s over 7", total, len(DefaultSchedule), want)
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule(" 1s, 2s ,5s,1h30m ")
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 90 * time.Minute}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for in, msg := range map[string]string{
		"":                               "retry schedule is empty",
		"   ":                            "retry schedule is empty",
		"1s,,2s":                         "step 2 is empty",
		"1s,":                            "step 2 is empty",
		"abc":                            `step 1 "abc" is not a duration`,
		"1s,5":                           `step 2 "5" is not a duration: write a number with a unit`,
		"0s":                             `step 1 "0s" must be longer than zero`,
		"1s,-5m":                         `step 2 "-5m" must be longer than zero`,
		"169h":                           "longer than the maximum of 168h0m0s",
		strings.Repeat("1s,", 50) + "1s": "51 steps; at most 50",
	} {
		if _, err := ParseSchedule(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseSchedule(%q) = %v, want an error containing %q", in, err, msg)
		}
	}
	if _, err := ParseSchedule(strings.TrimSuffix(strings.Repeat("1s,", 50), ",")); err != nil {
		t.Errorf("50 steps: %v", err)
	}
}

func fixed(v float64) func() float64 { return func() float64 { return v } }

func TestNextDelay(t *testing.T) {
	s := []time.Duration{4 * time.Second, time.Minute, 10 * time.Minute}
	cases := []struct {
		name       string
		failed     int
		retryAfter time.Duration
		jitter     float64
		want       time.Duration
		ok         bool
	}{
		{"nothing tried yet", 0, 0, 0.5, 0, true},
		{"first retry, lowest jitter", 1, 0, 0, 2 * time.Second, true},
		{"first retry, middle jitter", 1, 0, 0.5, 3 * time.Second, true},
		{"first retry, top jitter", 1, 0, 1, 4 * time.Second, true},
		{"second retry", 2, 0, 0, 30 * time.Second, true},
		{"last retry", 3, 0, 1, 10 * time.Minute, true},
		{"exhausted", 4, 0, 0.5, 0, false},
		{"exhausted even with Retry-After", 9, time.Minute, 0.5, 0, false},
		{"Retry-After below the step is ignored", 2, 10 * time.Second, 0, 30 * time.Second, true},
		{"Retry-After between the bounds is honoured", 1, 45 * time.Second, 0.5, 45 * time.Second, true},
		{"Retry-After above the longest step is capped", 1, 5 * time.Hour, 0.5, 10 * time.Minute, true},
		{"jitter below 0 clamps", 2, 0, -3, 30 * time.Second, true},
		{"jitter above 1 clamps", 2, 0, 7, time.Minute, true},
		{"NaN jitter clamps", 2, 0, math.NaN(), 30 * time.Second, true},
	}
	for _, c := range cases {
		got, ok := NextDelay(s, c.failed, c.retryAfter, fixed(c.jitter))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: NextDelay = (%s, %v), want (%s, %v)", c.name, got, ok, c.want, c.ok)
		}
	}
	// Default jitter stays within [step/2, step] for every step.
	for failed := 1; failed <= len(DefaultSchedule); failed++ {
		step := DefaultSchedule[failed-1]
		for i := 0; i < 200; i++ {
			d, ok := NextDelay(DefaultSchedule, failed, 0, nil)
			if !ok || d < step/2 || d > step {
				t.Fatalf("failed=%d: %s outside [%s, %s]", failed, d, step/2, step)
			}
		}
	}
	if _, ok := NextDelay(DefaultSchedule, len(DefaultSchedule)+1, 0, nil); ok {
		t.Fatal("the default schedule never runs out")
	}
	if _, ok := NextDelay(nil, 1, 0, nil); ok {
		t.Fatal("an empty schedule must mean no retries")
	}
}
