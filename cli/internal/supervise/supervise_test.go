package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/platform/syncio"
)

// helperEnv makes the test binary act as a child process (see helper).
const helperEnv = "SUPERVISE_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	goleak.VerifyTestMain(m)
}

// helper is the child's behaviour, chosen by mode.
func helper(mode string) int {
	sigs := make(chan os.Signal, 1)
	switch mode {
	case "serve":
		// Exit 0 on SIGTERM, like a server that shuts down gracefully.
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		fmt.Println("got SIGTERM")
		fmt.Fprint(os.Stderr, "bye") // no newline: flushed at exit
		return 0
	case "slow":
		// Take a while to shut down, like a server draining its calls.
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		time.Sleep(300 * time.Millisecond)
		fmt.Println("drained")
		return 0
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "fail":
		fmt.Fprintln(os.Stderr, "cannot start: port in use")
		return 3
	}
	return 99
}

func child(t *testing.T, name, mode string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: name, Path: exe, Args: []string{"-test.run=^$"}, Env: append(os.Environ(), helperEnv+"="+mode)}
}

// waitFor polls until out holds every one of lines.
func waitFor(t *testing.T, out *syncio.Writer, lines ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := true
		for _, l := range lines {
			all = all && strings.Contains(out.String(), l)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("children did not print %q; output:\n%s", lines, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait calls g.Wait, failing the test rather than hanging.
func wait(t *testing.T, g *Group, out *syncio.Writer) error {
	t.Helper()
	select {
	case <-g.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("children did not exit; output:\n%s", out)
	}
	return g.Wait()
}

func start(t *testing.T, opts Options, specs ...Spec) *Group {
	t.Helper()
	g, err := Start(context.Background(), specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Stop()
		<-g.Done()
	})
	return g
}

func TestStopSendsSIGTERMToEveryChild(t *testing.T) {
	out := &syncio.Writer{}
	g := start(t, Options{Output: out}, child(t, "text", "serve"), child(t, "gateway", "serve"))
	waitFor(t, out, "text    | ready\n", "gateway | ready\n")

	g.Stop()
	if err := wait(t, g, out); err != nil {
		t.Fatalf("Wait = %v, want nil; output:\n%s", err, out)
	}
	for _, want := range []string{"text    | got SIGTERM\n", "gateway | got SIGTERM\n", "text    | bye\n", "gateway | bye\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	exits := g.Exits()
	if len(exits) != 2 {
		t.Errorf("%d exits reported, want both children's: %+v", len(exits), exits)
	}
	for _, e := range exits {
		if e.Err != nil || e.Killed || e.Unexpected {
			t.Errorf("exit %+v, want a clean requested exit", e)
		}
	}
	// Stopped in reverse start order, each after the one started after it
	// has exited.
	if gw, text := strings.Index(out.String(), "gateway | bye\n"), strings.Index(out.String(), "text    | got SIGTERM\n"); gw > text {
		t.Errorf("text got SIGTERM before the gateway exited:\n%s", out)
	}
}

func TestOneChildDyingStopsTheRest(t *testing.T) {
	out := &syncio.Writer{}
	g := start(t, Options{Output: out}, child(t, "text", "serve"), child(t, "audio", "fail"), child(t, "gateway", "serve"))

	err := wait(t, g, out)
	if !errors.Is(err, ErrUnexpectedExit) || !strings.Contains(err.Error(), "audio") {
		t.Fatalf("Wait = %v, want an unexpected exit naming audio", err)
	}
	if !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Wait = %v, want the exit status", err)
	}
	if !strings.Contains(out.String(), "audio   | cannot start: port in use\n") {
		t.Errorf("output lacks the failing child's message:\n%s", out)
	}
	exits := map[string]Exit{}
	for _, e := range g.Exits() {
		exits[e.Name] = e
	}
	for _, name := range []string{"text", "gateway"} {
		e, ok := exits[name]
		if !ok {
			t.Errorf("%s did not exit", name)
			continue
		}
		if e.Unexpected || e.Killed {
			t.Errorf("%s: %+v, want stopped by the supervisor with SIGTERM", name, e)
		}
	}
}

func TestStubbornChildIsKilledAfterGrace(t *testing.T) {
	out := &syncio.Writer{}
	g := start(t, Options{Output: out, Grace: 100 * time.Millisecond}, child(t, "image", "stubborn"))
	waitFor(t, out, "image | ready\n")

	g.Stop()
	err := wait(t, g, out)
	if !errors.Is(err, ErrUncleanStop) || !strings.Contains(err.Error(), "image (killed") {
		t.Fatalf("Wait = %v, want image reported as killed", err)
	}
	if exits := g.Exits(); len(exits) != 1 || !exits[0].Killed {
		t.Errorf("Exits = %+v, want image killed", exits)
	}
}

func TestStartFailureStopsStartedChildren(t *testing.T) {
	out := &syncio.Writer{}
	specs := []Spec{child(t, "text", "serve"), {Name: "audio", Path: "/nonexistent/chorus-audio"}}
	g, err := Start(context.Background(), specs, Options{Output: out})
	if err == nil {
		g.Stop()
		<-g.Done()
		t.Fatal("Start succeeded with a missing binary")
	}
	if !strings.Contains(err.Error(), "starting audio") {
		t.Errorf("Start = %v, want the error to name audio", err)
	}
}

func TestLineWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "whole lines", writes: []string{"a\nb\n"}, want: "x | a\nx | b\n"},
		{name: "split line", writes: []string{"he", "llo\nwor", "ld\n"}, want: "x | hello\nx | world\n"},
		{name: "unterminated tail is flushed", writes: []string{"a\nb"}, want: "x | a\nx | b\n"},
		{name: "empty line kept", writes: []string{"\n"}, want: "x | \n"},
		{name: "long line split", writes: []string{strings.Repeat("z", maxLine+1)}, want: "x | " + strings.Repeat("z", maxLine+1) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w := &lineWriter{prefix: "x | ", w: &b}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.flush()
			if got := b.String(); got != tc.want {
				t.Errorf("got %.80q (%d bytes), want %.80q (%d bytes)", got, len(got), tc.want, len(tc.want))
			}
		})
	}
}

func TestKillEndsAStubbornChildAtOnce(t *testing.T) {
	out := &syncio.Writer{}
	g := start(t, Options{Output: out, Grace: time.Hour}, child(t, "image", "stubborn"))
	waitFor(t, out, "image | ready\n")

	g.Kill()
	if err := wait(t, g, out); !errors.Is(err, ErrUncleanStop) {
		t.Fatalf("Wait = %v, want image reported as killed", err)
	}
}

// Each child gets its own grace period: two children that each take 300 ms
// to drain both exit cleanly within a 500 ms grace (with one period for the
// whole stop, the second would be killed).
func TestEachChildHasItsOwnGrace(t *testing.T) {
	out := &syncio.Writer{}
	g := start(t, Options{Output: out, Grace: 500 * time.Millisecond}, child(t, "text", "slow"), child(t, "gateway", "slow"))
	waitFor(t, out, "text    | ready\n", "gateway | ready\n")
	g.Stop()
	if err := wait(t, g, out); err != nil {
		t.Fatalf("Wait = %v, want both drained; output:\n%s", err, out)
	}
	if n := strings.Count(out.String(), "| drained\n"); n != 2 {
		t.Errorf("%d children drained, want 2:\n%s", n, out)
	}
}

// A child killed with SIGKILL is started again (logged), the others keep
// running untouched, and the group still stops cleanly.
func TestCrashedChildIsRestarted(t *testing.T) {
	out := &syncio.Writer{}
	g := start(t, Options{Output: out, Restarts: 2, RestartBackoff: 50 * time.Millisecond},
		child(t, "text", "serve"), child(t, "audio", "serve"), child(t, "gateway", "serve"))
	waitFor(t, out, "text    | ready\n", "audio   | ready\n", "gateway | ready\n")
	before := g.Pids()
	if err := syscall.Kill(before["audio"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "supervise: audio exited unexpectedly (signal: killed); restarting in 50ms (restart 1 of 2)\n")
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "audio   | ready\n") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("audio did not come back:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := g.Pids()
	if after["audio"] == before["audio"] || after["text"] != before["text"] || after["gateway"] != before["gateway"] {
		t.Errorf("pids before %v, after %v: want only audio's changed", before, after)
	}
	select {
	case <-g.Done():
		t.Fatalf("the group stopped after a restartable crash:\n%s", out)
	default:
	}
	if strings.Contains(out.String(), "got SIGTERM") {
		t.Errorf("a child was stopped:\n%s", out)
	}
	g.Stop()
	if err := wait(t, g, out); err != nil {
		t.Fatalf("Wait = %v, want a clean stop after the restart; output:\n%s", err, out)
	}
}

// A child that keeps failing is restarted as many times as allowed, then
// the group gives up and stops the rest, naming it.
func TestRestartsAreBounded(t *testing.T) {
	out := &syncio.Writer{}
	g := start(t, Options{Output: out, Restarts: 2, RestartBackoff: 10 * time.Millisecond},
		child(t, "text", "serve"), child(t, "audio", "fail"))
	err := wait(t, g, out)
	if !errors.Is(err, ErrUnexpectedExit) || !strings.Contains(err.Error(), "audio") {
		t.Fatalf("Wait = %v, want an unexpected exit naming audio", err)
	}
	if n := strings.Count(out.String(), "audio | cannot start: port in use\n"); n != 3 {
		t.Errorf("audio ran %d times, want 3 (2 restarts):\n%s", n, out)
	}
	for _, want := range []string{"restarting in 10ms (restart 1 of 2)", "restarting in 20ms (restart 2 of 2)", "text  | got SIGTERM"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
