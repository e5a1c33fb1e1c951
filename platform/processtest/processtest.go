// Package processtest runs Chorus's own binaries as processes in tests, in
// the manner of net/http/httptest: it finds the repository, builds the
// commands once per test binary, picks free loopback ports in the servers'
// layout, gives the processes an environment of their own, and starts and
// stops them with their output kept for a failed test's log.
package processtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/syncio"
)

// RepoRoot returns the repository's root: the nearest directory above the
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

// built is the directory the binaries go to and which main packages are
// in it, for the whole test binary.
var built struct {
	sync.Mutex
	dir  string
	pkgs map[string]bool
}

// Build builds the main packages (paths relative to the repository root,
// such as "./gateway/cmd/gateway") into one directory and returns it; each
// binary is named for the last element of its package's path. A package is
// built once per test binary, however many tests ask for it; call Cleanup
// from TestMain to remove the directory.
func Build(tb testing.TB, packages ...string) string {
	tb.Helper()
	built.Lock()
	defer built.Unlock()
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "chorus-processtest-bin-")
		if err != nil {
			tb.Fatal(err)
		}
		built.dir, built.pkgs = dir, map[string]bool{}
	}
	var missing []string
	for _, p := range packages {
		if !built.pkgs[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return built.dir
	}
	root := RepoRoot(tb)
	start := time.Now()
	// Without symbol tables and DWARF: linking is most of a warm build.
	cmd := exec.Command("go", append([]string{"build", "-ldflags=-s -w", "-o", built.dir + string(filepath.Separator)}, missing...)...)
	cmd.Dir = root
	// The commands are modules of the workspace, whatever GOWORK the test
	// itself runs with.
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	for _, p := range missing {
		built.pkgs[p] = true
	}
	tb.Logf("built %d binaries in %s", len(missing), time.Since(start).Round(time.Millisecond))
	return built.dir
}

// Main is TestMain for a package that uses Build: it runs the tests,
// removes the binaries, and then fails a passing run that leaked
// goroutines (goleak).
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Cleanup removes what Build made. Call it from TestMain after m.Run (Main
// does).
func Cleanup() {
	built.Lock()
	defer built.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
		built.dir, built.pkgs = "", nil
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(ports.Host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}

// Layout is where a whole suite listens, laid out as package ports lays
// out the defaults: the gRPC servers side by side from the orchestrator's
// port up (`chorus up -grpc-port`), the gateway elsewhere.
type Layout struct {
	Orchestrator int // text, image, audio and embed follow it
	Gateway      int
}

// Text, Image, Audio and Embed are the modality services' ports.
func (l Layout) Text() int  { return l.Orchestrator + ports.Text - ports.Orchestrator }
func (l Layout) Image() int { return l.Orchestrator + ports.Image - ports.Orchestrator }
func (l Layout) Audio() int { return l.Orchestrator + ports.Audio - ports.Orchestrator }
func (l Layout) Embed() int { return l.Orchestrator + ports.Embed - ports.Orchestrator }

// layoutLow and layoutHigh bound FreeLayout's gRPC and gateway ports; the
// metrics ports are ports.MetricsOffset higher, still below 32768.
const layoutLow, layoutHigh = 20000, 30000

// FreeLayout finds a Layout whose ports, the gRPC servers' metrics ports
// included, were all free a moment ago.
func FreeLayout(tb testing.TB) Layout {
	tb.Helper()
	free := func(p int) bool {
		lis, err := net.Listen("tcp", ports.Addr(ports.Host, p))
		if err != nil {
			return false
		}
		_ = lis.Close()
		return true
	}
	// Each gRPC server's metrics listen ports.MetricsOffset higher.
	allFree := func(l Layout) bool {
		for _, p := range []int{l.Orchestrator, l.Text(), l.Image(), l.Audio(), l.Embed()} {
			if p+ports.MetricsOffset > 65535 || !free(p) || !free(p+ports.MetricsOffset) {
				return false
			}
		}
		return true
	}
	// The ports come from below Linux's ephemeral range (32768 and up by
	// default), so that the ports the kernel hands other tests' listeners and
	// connections between this check and the suite's start never land on them.
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	pick := func() int { return layoutLow + r.IntN(layoutHigh-layoutLow) }
	for range 100 {
		l := Layout{Orchestrator: pick()}
		if !allFree(l) {
			continue
		}
		for range 50 {
			if l.Gateway = pick(); (l.Gateway < l.Orchestrator || l.Gateway > l.Embed()) &&
				(l.Gateway < l.Orchestrator+ports.MetricsOffset || l.Gateway > l.Embed()+ports.MetricsOffset) &&
				free(l.Gateway) {
				return l
			}
		}
	}
	tb.Fatal("no four consecutive free ports (and their metrics ports) on 127.0.0.1")
	return Layout{}
}

// HermeticEnv returns this process's environment without CHORUS_* and
// OTEL_* settings, with a state directory of the test's own (where the
// orchestrator keeps its jobs and artifacts by default), plus extra.
func HermeticEnv(tb testing.TB, extra ...string) []string {
	tb.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_") && !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "XDG_STATE_HOME="+tb.TempDir()), extra...)
}

// StopTimeout is how long a Process has to exit after SIGTERM before it
// is killed.
const StopTimeout = 30 * time.Second

// Process is a child process that a test started.
type Process struct {
	Cmd  *exec.Cmd
	Logs *syncio.Writer // its standard output and error, merged

	name   string
	exited chan struct{}
	err    error // cmd.Wait's, set before exited is closed
}

// Start starts cmd with its output going to Logs. When the test ends it
// stops the process (SIGTERM, then SIGKILL after StopTimeout, which fails
// the test) and, if the test failed, logs its output under name.
func Start(tb testing.TB, name string, cmd *exec.Cmd) *Process {
	tb.Helper()
	p := &Process{Cmd: cmd, Logs: &syncio.Writer{}, name: name, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(StopTimeout):
			_ = cmd.Process.Kill()
			<-p.exited
			tb.Errorf("%s did not stop within %s of SIGTERM", name, StopTimeout)
		}
		if tb.Failed() {
			tb.Logf("%s logs (access-log lines counted, not repeated):\n%s", name, Condense(p.Logs.String()))
		}
	})
	return p
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended (exec.Cmd.Wait's error); call it after
// Exited is closed.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return fmt.Errorf("%s is still running", p.name)
	}
}

// Kill ends the process with SIGKILL, so that none of its shutdown code
// runs, and waits until it has exited.
func (p *Process) Kill(tb testing.TB) {
	tb.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		tb.Fatal(err)
	}
	<-p.exited
}
