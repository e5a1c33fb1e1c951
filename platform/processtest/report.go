package processtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Condense shortens a server's JSON log for a failed test's output. A load
// test makes tens of thousands of INFO lines, one or two per call (msg "rpc",
// "http", "run started", "run finished"), which bury the lines that tell what
// went wrong and push the test's own failure out of a CI log's tail. Condense
// keeps the first INFO line of each kind (its msg, its method, route or
// pipeline, and its code, status or ok) and every other line as they are, and
// ends with a count of each kind seen more than once. A line may start with a
// process's name and " | ", as `chorus up` prefixes them.
func Condense(logs string) string {
	type kind struct{ process, msg, call, result string }
	counts := map[kind]int{}
	var b strings.Builder
	for line := range strings.Lines(logs) {
		var rec struct {
			Level, Msg, Method, Route, Pipeline, Code string
			Status                                    json.Number
			OK                                        *bool
		}
		process, record := "", line
		if i := strings.Index(line, "| {"); i >= 0 {
			process, record = strings.TrimSpace(line[:i]), line[i+2:]
		}
		if json.Unmarshal([]byte(record), &rec) != nil || rec.Level != "INFO" {
			b.WriteString(line)
			continue
		}
		result := rec.Code + rec.Status.String()
		if rec.OK != nil {
			result += fmt.Sprintf("ok=%v", *rec.OK)
		}
		k := kind{process, rec.Msg, strings.Join(strings.Fields(rec.Method+" "+rec.Route+" "+rec.Pipeline), " "), result}
		if counts[k]++; counts[k] == 1 {
			b.WriteString(line)
		}
	}
	if !strings.HasSuffix(b.String(), "\n") && b.Len() > 0 {
		b.WriteByte('\n')
	}
	kinds := slices.SortedFunc(maps.Keys(counts), func(a, b kind) int {
		return cmp.Or(strings.Compare(a.process, b.process), strings.Compare(a.msg, b.msg),
			strings.Compare(a.call, b.call), strings.Compare(a.result, b.result))
	})
	for _, k := range kinds {
		if n := counts[k]; n > 1 {
			var of []string
			if k.process != "" {
				of = append(of, "of "+k.process)
			}
			if k.call != "" || k.result != "" {
				of = append(of, "for "+strings.TrimSpace(k.call+" "+k.result))
			}
			fmt.Fprintf(&b, "(%d %q lines in all%s; the first is above)\n", n, k.msg, strings.Join(append([]string{""}, of...), " "))
		}
	}
	return b.String()
}

// Recap repeats a test's failures once more at the very end of its output,
// after the logs that the processes' cleanups print, so that the tail of a CI
// log says why the test failed. Make it with NewRecap before starting the
// processes (cleanups run last-registered first) and fail the test through
// its Errorf and Fatalf.
type Recap struct {
	tb   testing.TB
	mu   sync.Mutex
	msgs []string
}

// NewRecap returns tb's Recap.
func NewRecap(tb testing.TB) *Recap {
	r := &Recap{tb: tb}
	tb.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.msgs) > 0 {
			tb.Logf("%s failed (repeated after the logs):\n%s", tb.Name(), strings.Join(r.msgs, "\n"))
		}
	})
	return r
}

func (r *Recap) record(format string, args []any) string {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
	return msg
}

// Errorf is tb.Errorf, repeated at the end.
func (r *Recap) Errorf(format string, args ...any) {
	r.tb.Helper()
	r.tb.Error(r.record(format, args))
}

// Fatalf is tb.Fatalf, repeated at the end.
func (r *Recap) Fatalf(format string, args ...any) {
	r.tb.Helper()
	r.tb.Fatal(r.record(format, args))
}
