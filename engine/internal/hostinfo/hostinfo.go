// Package hostinfo describes the machine a benchmark ran on, for the tables the engine's
// benchmark commands print.
package hostinfo

import (
	"os"
	"runtime"
	"strings"
)

// CPUName is the processor's model name from /proc/cpuinfo, or GOARCH where that is not
// readable.
func CPUName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// LoadAvg is the 1, 5 and 15 minute load averages of /proc/loadavg, space-separated, or
// "unknown".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
