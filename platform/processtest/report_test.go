package processtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCondense(t *testing.T) {
	const (
		ok        = `{"time":"t","level":"INFO","msg":"rpc","service":"text","method":"/chorus.genai.v1.TextService/StreamGenerate","code":"OK","duration_ms":10}`
		exhausted = `{"time":"t","level":"INFO","msg":"rpc","method":"/chorus.genai.v1.TextService/StreamGenerate","code":"ResourceExhausted","error":"queue full"}`
		failed    = `{"time":"t","level":"ERROR","msg":"rpc failed","method":"/chorus.genai.v1.TextService/StreamGenerate","code":"Internal","error":"boom"}`
		http      = `{"time":"t","level":"INFO","msg":"http","method":"POST","route":"/v1/text:streamGenerate","status":200}`
		start     = `{"time":"t","level":"INFO","msg":"listening","addr":"127.0.0.1:1"}`
		finished  = `{"time":"t","level":"INFO","msg":"run finished","pipeline":"script-then-voiceover","run_id":"1","ok":true}`
		failedRun = `{"time":"t","level":"INFO","msg":"run finished","pipeline":"script-then-voiceover","run_id":"2","ok":false}`
	)
	var in []string
	in = append(in, start, "not JSON at all")
	for range 1000 {
		in = append(in, ok, exhausted, http)
	}
	in = append(in, failed, failed, "text | "+ok, "text | "+ok, "audio | "+ok, finished, finished, finished, failedRun)
	got := Condense(strings.Join(in, "\n"))
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	want := []string{
		start, "not JSON at all", ok, exhausted, http, failed, failed, "text | " + ok, "audio | " + ok, finished, failedRun,
		`(1000 "http" lines in all for POST /v1/text:streamGenerate 200; the first is above)`,
		`(1000 "rpc" lines in all for /chorus.genai.v1.TextService/StreamGenerate OK; the first is above)`,
		`(1000 "rpc" lines in all for /chorus.genai.v1.TextService/StreamGenerate ResourceExhausted; the first is above)`,
		`(3 "run finished" lines in all for script-then-voiceover ok=true; the first is above)`,
		`(2 "rpc" lines in all of text for /chorus.genai.v1.TextService/StreamGenerate OK; the first is above)`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Condense:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if Condense("") != "" {
		t.Errorf("Condense of nothing: %q", Condense(""))
	}
}

// recordingTB is a testing.TB that records what Recap calls on it.
type recordingTB struct {
	testing.TB
	errors, logs []string
	cleanups     []func()
	fatal        bool
}

func (r *recordingTB) Fatal(args ...any) { r.Error(args...); r.fatal = true }
func (r *recordingTB) Helper()           {}
func (r *recordingTB) Name() string      { return "TestSomething" }
func (r *recordingTB) Error(args ...any) { r.errors = append(r.errors, fmt.Sprint(args...)) }
func (r *recordingTB) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func TestRecap(t *testing.T) {
	for _, n := range []int{0, 2} {
		r := &recordingTB{}
		recap := NewRecap(r)
		for i := range n {
			if i == n-1 {
				recap.Fatalf("problem %d of %s", i, "load")
			} else {
				recap.Errorf("problem %d of %s", i, "load")
			}
		}
		if r.fatal != (n > 0) {
			t.Errorf("%d problems: Fatal called %v", n, r.fatal)
		}
		for _, f := range slices.Backward(r.cleanups) {
			f()
		}
		want := []string{"problem 0 of load", "problem 1 of load"}[:n]
		if !slices.Equal(r.errors, want) {
			t.Errorf("%d problems: errors %q, want %q", n, r.errors, want)
		}
		var wantLogs []string
		if n > 0 {
			wantLogs = []string{"TestSomething failed (repeated after the logs):\nproblem 0 of load\nproblem 1 of load"}
		}
		if !slices.Equal(r.logs, wantLogs) {
			t.Errorf("%d problems: logs %q, want %q", n, r.logs, wantLogs)
		}
	}
}
