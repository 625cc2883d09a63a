package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTimes is how much CPU this process (the gateway and the benchmark's
// clients) and the local Postgres server's processes have used so far, so
// the benchmark can say what one conversation costs each side. Postgres is
// found in /proc by its command name; on a machine where it runs elsewhere
// its share reads as zero.
type cpuTimes struct {
	self, postgres time.Duration
}

func readCPU() cpuTimes {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	t := cpuTimes{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	const ticks = 100 // USER_HZ on Linux
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(raw)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open || !strings.HasPrefix(s[open+1:close], "postgres") {
			continue
		}
		f := strings.Fields(s[close+2:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		t.postgres += time.Duration(utime+stime) * time.Second / ticks
	}
	return t
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{self: a.self - b.self, postgres: a.postgres - b.postgres}
}
