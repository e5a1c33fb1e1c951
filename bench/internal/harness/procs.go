package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chorus-ai/chorus/platform/syncio"
)

// repoRoot is the nearest directory above the working directory that
// holds go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run the harness inside the repository")
		}
		dir = parent
	}
}

// build builds the main packages (relative to root) into dir.
func build(ctx context.Context, root, dir string, pkgs ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr() (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer lis.Close()
	return lis.Addr().String(), nil
}

// process is a service binary the harness started.
type process struct {
	name   string
	cmd    *exec.Cmd
	logs   *syncio.Writer
	exited chan struct{}
}

// procs are the processes of one harness run; Stop ends them all.
type procs struct {
	mu   sync.Mutex
	list []*process
}

// start runs bin with args in dir, with no CHORUS_* or OTEL_* settings
// from the harness's environment.
func (ps *procs) start(name, dir, bin string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_") && !strings.HasPrefix(kv, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := &process{name: name, cmd: cmd, logs: &syncio.Writer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// stop ends every process: SIGTERM, then SIGKILL after 10 s.
func (ps *procs) stop() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.list {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range ps.list {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	ps.list = nil
}

// ready calls check until it succeeds, the process exits, or 60 s pass.
func (p *process) ready(ctx context.Context, check func(context.Context) error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, err, p.logs)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready: %v\n%s", p.name, err, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rss is the process's resident set size in bytes (VmRSS).
func (p *process) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest))
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
}

// peakSampler records the largest RSS of each process while it runs.
type peakSampler struct {
	mu   sync.Mutex
	peak map[*process]int64
	stop chan struct{}
	done chan struct{}
}

func samplePeaks(ps []*process) *peakSampler {
	s := &peakSampler{peak: map[*process]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			for _, p := range ps {
				if r, err := p.rss(); err == nil {
					s.mu.Lock()
					s.peak[p] = max(s.peak[p], r)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the peaks.
func (s *peakSampler) end() map[*process]int64 {
	close(s.stop)
	<-s.done
	return s.peak
}
