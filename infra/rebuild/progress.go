package rebuild

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress follows a replay.
type Progress interface {
	// Start says how many events there are (about: the log may grow).
	Start(total int64)
	// Add counts events applied.
	Add(n int)
	// Finish says the replay ended after events in took.
	Finish(events int64, took time.Duration)
}

type noProgress struct{}

func (noProgress) Start(int64)                 {}
func (noProgress) Add(int)                     {}
func (noProgress) Finish(int64, time.Duration) {}

// NewProgress returns a progress bar drawn on w when w is a terminal (and
// CI is not set), and plain lines on w otherwise: one every interval and
// one at the end, so logs of a CI job or a redirected run stay readable.
func NewProgress(w io.Writer, label string, interval time.Duration) Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == "" && os.Getenv("TERM") != "dumb" {
		return &bar{w: w, label: label}
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return &lines{w: w, label: label, every: interval}
}

// bar is the terminal progress bar: count, share and time left, but no
// rate. progressbar's rate is its own (an average of recent samples, then
// its own clock), and a run must not print two rates: the one printed is
// Finish's, which is the summary's.
type bar struct {
	w     io.Writer
	label string
	bar   *progressbar.ProgressBar
}

func (b *bar) Start(total int64) {
	if total <= 0 {
		total = -1 // unknown: a spinner with the count
	}
	b.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(b.label),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
}

func (b *bar) Add(n int) {
	if b.bar == nil {
		return
	}
	// The log may have grown since it was counted.
	if s := b.bar.State(); s.Max > 0 && s.CurrentNum+int64(n) > s.Max {
		b.bar.ChangeMax64(s.CurrentNum + int64(n))
	}
	_ = b.bar.Add(n)
}

func (b *bar) Finish(events int64, took time.Duration) {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
	fmt.Fprintf(b.w, "\n%s: %d events in %s (%s events/s)\n", b.label, events, took.Round(time.Millisecond), rate(events, took))
}

// lines is the plain output for logs.
type lines struct {
	w     io.Writer
	label string
	every time.Duration

	mu          sync.Mutex
	total, n    int64
	began, last time.Time
}

func (l *lines) Start(total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total, l.began, l.last = total, time.Now(), time.Now()
	if total > 0 {
		fmt.Fprintf(l.w, "%s: replaying %d events\n", l.label, total)
	} else {
		fmt.Fprintf(l.w, "%s: replaying the log\n", l.label)
	}
}

func (l *lines) Add(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += int64(n)
	if time.Since(l.last) < l.every {
		return
	}
	l.last = time.Now()
	if l.total <= 0 {
		fmt.Fprintf(l.w, "%s: %d events, %s events/s\n", l.label, l.n, rate(l.n, time.Since(l.began)))
		return
	}
	pct := min(100, 100*float64(l.n)/float64(l.total))
	fmt.Fprintf(l.w, "%s: %d/%d events (%.0f%%), %s events/s\n", l.label, l.n, l.total, pct, rate(l.n, time.Since(l.began)))
}

func (l *lines) Finish(events int64, took time.Duration) {
	fmt.Fprintf(l.w, "%s: %d events in %s (%s events/s)\n", l.label, events, took.Round(time.Millisecond), rate(events, took))
}

// rate renders events per second.
func rate(events int64, took time.Duration) string {
	if took <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(events)/took.Seconds())
}
