// Package suite runs the whole Chorus suite for black-box tests: it builds
// every binary once per test process and starts `chorus up` as a child
// process on free 127.0.0.1 ports, as a person would.
package suite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/syncio"
)

// Suite is a running `chorus up`.
type Suite struct {
	// URL is the gateway's root, "http://127.0.0.1:port".
	URL string
	// Root is the repository's root, the suite's working directory.
	Root string

	cmd    *exec.Cmd
	logs   *syncio.Writer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit error, set before exited is closed
}

// Options configure a suite.
type Options struct {
	// Env is added to the processes' environment (CHORUS_* settings).
	// The test's own CHORUS_* and OTEL_* variables are never passed on.
	Env []string
	// ReadyTimeout bounds the wait for /readyz. Default 90s.
	ReadyTimeout time.Duration
}

// Start builds the binaries (once per test process) and starts the suite
// with the repository root as its working directory, so the text service
// finds models/. It fails tb unless the gateway becomes ready; cleanup
// stops the suite, fails tb if a server recovered from a panic, and prints
// the logs of a failed test.
func Start(tb testing.TB, opts Options) *Suite {
	tb.Helper()
	root := processtest.RepoRoot(tb)
	bin := Build(tb)
	l := processtest.FreeLayout(tb)
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	s := &Suite{
		URL:    "http://127.0.0.1:" + strconv.Itoa(l.Gateway),
		Root:   root,
		logs:   &syncio.Writer{},
		exited: make(chan struct{}),
	}
	s.cmd = exec.Command(filepath.Join(bin, "chorus"), "up",
		"-bin-dir", bin, "-grpc-port", strconv.Itoa(l.Orchestrator), "-http-port", strconv.Itoa(l.Gateway),
		"-ready-timeout", opts.ReadyTimeout.String(), "-grace", "15s")
	s.cmd.Dir = root
	s.cmd.Env = processtest.HermeticEnv(tb, opts.Env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	// Its own process group, so that cleanup reaches the servers too even
	// if `chorus up` itself were gone.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting chorus up: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	tb.Cleanup(func() { s.stop(tb) })
	if err := s.waitReady(opts.ReadyTimeout + 5*time.Second); err != nil {
		tb.Fatalf("suite not ready: %v\nlogs:\n%s", err, s.logs)
	}
	tb.Logf("suite ready at %s after %s", s.URL, time.Since(start).Round(time.Millisecond))
	return s
}

// Logs returns everything the suite's processes wrote so far.
func (s *Suite) Logs() string { return s.logs.String() }

func (s *Suite) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	for {
		resp, err := client.Get(s.URL + "/readyz?all")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %s", resp.Status)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("chorus up exited: %v", s.err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %w", limit, err)
		}
	}
}

// stop asks `chorus up` to stop (SIGTERM: it stops the servers in order),
// then kills its process group if it has not finished in time (the servers
// it started die with it: it starts them with a parent-death signal).
func (s *Suite) stop(tb testing.TB) {
	tb.Helper()
	pgid := s.cmd.Process.Pid
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		tb.Errorf("chorus up did not stop within 30s; killing its process group")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	// Whatever is left of the group (nothing, normally) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	var exit *exec.ExitError
	if s.err != nil && !errors.As(s.err, &exit) {
		tb.Errorf("chorus up: %v", s.err)
	}
	logs := s.logs.String()
	if strings.Contains(logs, "handler panicked") {
		tb.Errorf("a server recovered from a panic (\"handler panicked\" in its log)")
	}
	if tb.Failed() {
		tb.Logf("suite logs (access-log lines counted, not repeated):\n%s", processtest.Condense(logs))
	}
}

// Build builds every Chorus binary (once per test process; call
// processtest.Cleanup from TestMain) and returns their directory.
func Build(tb testing.TB) string {
	tb.Helper()
	root := processtest.RepoRoot(tb)
	pkgs, err := filepath.Glob(filepath.Join(root, "services", "*", "cmd", "*"))
	if err != nil || len(pkgs) == 0 {
		tb.Fatalf("no services found under %s/services", root)
	}
	for i, p := range pkgs {
		pkgs[i] = "./" + strings.TrimPrefix(p, root+string(filepath.Separator))
	}
	return processtest.Build(tb, append(pkgs, "./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway", "./cli/cmd/chorus")...)
}

// ArtifactDir returns the directory test artifacts (screenshots) go to:
// $CHORUS_ARTIFACTS_DIR, or out/e2e under the repository root.
func ArtifactDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CHORUS_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(processtest.RepoRoot(tb), "out", "e2e")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Context returns a context that ends with the test, bounded by d.
func Context(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
