package rebuild

import (
	"bytes"
	"regexp"
	"testing"
	"time"
)

// One run prints one rate, the summary's: progressbar's own differs.
func TestProgressBarShowsTheSummaryRate(t *testing.T) {
	var out bytes.Buffer
	b := &bar{w: &out, label: "rebuild"}
	b.Start(1000)
	b.Add(400)
	time.Sleep(20 * time.Millisecond)
	b.Add(600)
	b.Finish(1000, 2*time.Second)
	rates := regexp.MustCompile(`([0-9.]+) ?(events|it)/s`).FindAllStringSubmatch(out.String(), -1)
	if len(rates) == 0 {
		t.Fatalf("expected the summary to show the rate:\n%q", out.String())
	}
	for _, r := range rates {
		if r[1] != "500" || r[2] != "events" {
			t.Errorf("printed %s, want only the run's 500 events/s:\n%q", r[0], out.String())
		}
	}
}
