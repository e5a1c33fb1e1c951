// Package suite runs the whole Chorus suite for black-box tests: it builds
// every binary once per test process and starts `chorus up` as a child
// process on free 127.0.0.1 ports, as a person would.
package suite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Suite is a running `chorus up`.
type Suite struct {
	// URL is the gateway's root, "http://127.0.0.1:port".
	URL string
	// Root is the repository's root, the suite's working directory.
	Root string

	cmd    *exec.Cmd
	logs   *logBuffer
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
	root := RepoRoot(tb)
	bin := Build(tb)
	grpcBase, httpPort := freePorts(tb)
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	s := &Suite{
		URL:    "http://127.0.0.1:" + strconv.Itoa(httpPort),
		Root:   root,
		logs:   &logBuffer{},
		exited: make(chan struct{}),
	}
	s.cmd = exec.Command(filepath.Join(bin, "chorus"), "up",
		"-bin-dir", bin, "-grpc-port", strconv.Itoa(grpcBase), "-http-port", strconv.Itoa(httpPort),
		"-ready-timeout", opts.ReadyTimeout.String(), "-grace", "15s")
	s.cmd.Dir = root
	s.cmd.Env = append(hermeticEnv(), append([]string{"XDG_STATE_HOME=" + tb.TempDir()}, opts.Env...)...)
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
		resp, err := client.Get(s.URL + "/readyz")
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
		tb.Logf("suite logs:\n%s", logs)
	}
}

// RepoRoot finds the repository root: the nearest directory above the
// working directory that holds go.work.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.work above the working directory: run the tests inside the repository")
		}
		dir = parent
	}
}

// built is the directory the binaries are built into, once per process.
var built struct {
	sync.Mutex
	dir string
	err error
}

// Build builds every Chorus binary into a temporary directory, once per
// test process, and returns it. Cleanup removes it (call Cleanup from
// TestMain).
func Build(tb testing.TB) string {
	tb.Helper()
	built.Lock()
	defer built.Unlock()
	if built.dir != "" || built.err != nil {
		if built.err != nil {
			tb.Fatal(built.err)
		}
		return built.dir
	}
	root := RepoRoot(tb)
	pkgs, err := filepath.Glob(filepath.Join(root, "services", "*", "cmd", "*"))
	if err != nil || len(pkgs) == 0 {
		tb.Fatalf("no services found under %s/services", root)
	}
	for i, p := range pkgs {
		pkgs[i] = "./" + strings.TrimPrefix(p, root+string(filepath.Separator))
	}
	pkgs = append(pkgs, "./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway", "./cli/cmd/chorus")
	dir, err := os.MkdirTemp("", "chorus-e2e-bin-")
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	// Without symbol tables and DWARF: linking is most of a warm build.
	cmd := exec.Command("go", append([]string{"build", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	// The binaries are modules of the workspace, whatever GOWORK the test
	// itself runs with.
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		built.err = fmt.Errorf("go build: %v\n%s", err, out)
		tb.Fatal(built.err)
	}
	tb.Logf("built %d binaries in %s", len(pkgs), time.Since(start).Round(time.Millisecond))
	built.dir = dir
	return dir
}

// Cleanup removes the binaries Build made. Call it from TestMain after
// m.Run.
func Cleanup() {
	built.Lock()
	defer built.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
		built.dir = ""
	}
}

// freePorts finds a base port with the next three free (the gRPC servers'
// layout: orchestrator, text, image, audio) and one more for the gateway.
func freePorts(tb testing.TB) (grpcBase, httpPort int) {
	tb.Helper()
	free := func(p int) bool {
		lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		_ = lis.Close()
		return true
	}
	pick := func() int {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer lis.Close()
		return lis.Addr().(*net.TCPAddr).Port
	}
	for range 50 {
		base := pick()
		if base+3 > 65535 || !free(base+1) || !free(base+2) || !free(base+3) {
			continue
		}
		for range 50 {
			if hp := pick(); hp < base || hp > base+3 {
				return base, hp
			}
		}
	}
	tb.Fatal("no four consecutive free ports on 127.0.0.1")
	return 0, 0
}

// hermeticEnv is this process's environment without CHORUS_* and OTEL_*
// settings.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// logBuffer collects the processes' output while they run.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ArtifactDir returns the directory test artifacts (screenshots) go to:
// $CHORUS_ARTIFACTS_DIR, or out/e2e under the repository root.
func ArtifactDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CHORUS_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(RepoRoot(tb), "out", "e2e")
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
