// Package supervise runs a group of child processes as one unit: their
// output is prefixed with their names, a stop signal reaches all of them,
// a child that dies unexpectedly is started again (with backoff, a bounded
// number of times), and when one dies for good the rest are stopped.
package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chorus-ai/chorus/platform/syncio"
)

// DefaultGrace is how long Stop lets each child take to exit before it
// kills it.
const DefaultGrace = 10 * time.Second

// DefaultRestartBackoff is the wait before a child's first restart,
// doubled before each next one up to MaxRestartBackoff.
const (
	DefaultRestartBackoff = 500 * time.Millisecond
	MaxRestartBackoff     = 10 * time.Second
)

// ErrUnexpectedExit is wrapped by the error Wait returns when a child
// exited before the group was asked to stop.
var ErrUnexpectedExit = errors.New("exited unexpectedly")

// ErrUncleanStop is wrapped by the error Wait returns when, after Stop, a
// child exited with a non-zero status or had to be killed.
var ErrUncleanStop = errors.New("did not stop cleanly")

// Spec describes one child process.
type Spec struct {
	// Name labels the child's log lines and errors, for example "text".
	Name string
	// Path is the executable.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Env is the child's whole environment; nil inherits this process's.
	Env []string
}

// Options tune a Group.
type Options struct {
	// Output receives every child's stdout and stderr, line by line, each
	// line prefixed with the child's name. Nil discards the output.
	Output io.Writer
	// Grace is how long Stop gives each child to exit before it kills it;
	// zero means DefaultGrace.
	Grace time.Duration
	// Restarts is how many times a child that exits unexpectedly is
	// started again (each logged to Output) before the group gives up and
	// stops the rest. Zero: never (the first unexpected exit stops all).
	Restarts int
	// RestartBackoff is the wait before the first restart, doubled each
	// time up to MaxRestartBackoff; zero means DefaultRestartBackoff.
	RestartBackoff time.Duration
}

// Exit is how one child ended.
type Exit struct {
	// Name is the child's Spec.Name.
	Name string
	// Err is what exec.Cmd.Wait returned: nil for exit status 0.
	Err error
	// Killed is true when the child was sent SIGKILL after the grace period.
	Killed bool
	// Unexpected is true when the child exited before Stop was called.
	Unexpected bool
	// Restarted is true when the child was started again after this exit.
	Restarted bool
}

// Group is a set of running child processes.
type Group struct {
	grace    time.Duration
	restarts int
	backoff  time.Duration
	sink     io.Writer // the children's output, and the group's own lines
	procs    []*proc
	done     chan struct{} // closed when every child has exited
	stopped  chan struct{} // closed by Stop

	mu       sync.Mutex
	stopping bool
	first    *Exit // the first unexpected exit
	exits    []Exit
	stopOnce sync.Once
	killOnce sync.Once
	killing  chan struct{} // closed by Kill
}

type proc struct {
	spec     Spec
	cmd      *exec.Cmd // the running incarnation; guarded by Group.mu once started
	out      *lineWriter
	exited   chan struct{} // closed when the child has exited for good
	killed   bool          // guarded by Group.mu
	restarts int           // so far; guarded by Group.mu
}

// command builds the exec.Cmd of one incarnation of p.
func (p *proc) command() *exec.Cmd {
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = p.spec.Env
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild that keeps the output pipe open must not hold Wait
	// (and so the whole group) forever.
	cmd.WaitDelay = time.Second
	return cmd
}

// Start starts every child in order. If one fails to start, those already
// started are stopped and the error names the one that failed. ctx bounds
// only the start-up; use Stop to end the group.
func Start(ctx context.Context, specs []Spec, opts Options) (*Group, error) {
	if len(specs) == 0 {
		return nil, errors.New("supervise: no processes to start")
	}
	g := &Group{grace: opts.Grace, restarts: opts.Restarts, backoff: opts.RestartBackoff,
		done: make(chan struct{}), stopped: make(chan struct{}), killing: make(chan struct{})}
	if g.grace <= 0 {
		g.grace = DefaultGrace
	}
	if g.backoff <= 0 {
		g.backoff = DefaultRestartBackoff
	}
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	sink := syncio.NewWriter(out)
	g.sink = sink
	width := 0
	for _, s := range specs {
		width = max(width, len(s.Name))
	}
	var wg sync.WaitGroup
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			g.abort(&wg)
			return nil, err
		}
		p := &proc{spec: s, exited: make(chan struct{})}
		p.out = &lineWriter{prefix: fmt.Sprintf("%-*s | ", width, s.Name), w: sink}
		p.cmd = p.command()
		// Start under the lock, so that a Stop (from a child that died)
		// either sees this child or happens before it would start.
		g.mu.Lock()
		if g.stopping {
			g.mu.Unlock()
			break
		}
		if err := p.cmd.Start(); err != nil {
			g.mu.Unlock()
			g.abort(&wg)
			return nil, fmt.Errorf("supervise: starting %s: %w", s.Name, err)
		}
		g.procs = append(g.procs, p)
		g.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.watch(p)
		}()
	}
	go func() {
		wg.Wait()
		close(g.done)
	}()
	return g, nil
}

// abort stops the children already started after a failed Start and waits
// for them.
func (g *Group) abort(wg *sync.WaitGroup) {
	g.Stop()
	wg.Wait()
	close(g.done)
}

// watch waits for p to exit, starts it again while restarts are left and
// the group is not stopping, and records its final exit.
func (g *Group) watch(p *proc) {
	g.mu.Lock()
	cmd := p.cmd
	g.mu.Unlock()
	for {
		err := cmd.Wait()
		p.out.flush()
		g.mu.Lock()
		e := Exit{Name: p.spec.Name, Err: err, Killed: p.killed, Unexpected: !g.stopping}
		if e.Unexpected && p.restarts < g.restarts {
			p.restarts++
			e.Restarted = true
			g.exits = append(g.exits, e)
			n := p.restarts
			g.mu.Unlock()
			if cmd = g.restart(p, e, n); cmd != nil {
				continue
			}
			return
		}
		g.finish(p, e)
		g.mu.Unlock()
		if e.Unexpected {
			g.Stop()
		}
		return
	}
}

// restart waits out p's backoff before its nth restart and starts it again,
// returning the new incarnation; nil when the group stopped meanwhile or
// the start failed (p's exit is then recorded).
func (g *Group) restart(p *proc, e Exit, n int) *exec.Cmd {
	wait := g.backoff << (n - 1)
	if wait > MaxRestartBackoff || wait <= 0 {
		wait = MaxRestartBackoff
	}
	why := "status 0"
	if e.Err != nil {
		why = e.Err.Error()
	}
	g.log("supervise: %s exited unexpectedly (%s); restarting in %s (restart %d of %d)", p.spec.Name, why, wait, n, g.restarts)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-g.stopped:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		// The last exit stands, as an exit the stop would have caused.
		g.finish(p, Exit{Name: p.spec.Name, Err: e.Err})
		return nil
	}
	cmd := p.command()
	if err := cmd.Start(); err != nil {
		g.finish(p, Exit{Name: p.spec.Name, Err: err, Unexpected: true})
		go g.Stop()
		return nil
	}
	p.cmd = cmd
	return cmd
}

// finish records p's last exit, under g.mu.
func (g *Group) finish(p *proc, e Exit) {
	g.exits = append(g.exits, e)
	if e.Unexpected && g.first == nil {
		g.first = &e
	}
	close(p.exited)
}

// log writes one line of the group's own to the output.
func (g *Group) log(format string, args ...any) {
	_, _ = fmt.Fprintf(g.sink, format+"\n", args...)
}

// Stop asks the children to exit, one at a time in reverse start order:
// SIGTERM, then the next once it has exited. Started in dependency order
// (servers before their clients), the suite so drains from the front: a
// gateway finishes its streams while the services behind it still answer.
// Each child has its own grace period: one still running when it ends is
// killed (SIGKILL to its process group), and the next one is asked in
// turn. Stop returns at once;
// Wait reports the outcome. Calling it again does nothing.
func (g *Group) Stop() {
	g.stopOnce.Do(func() {
		g.mu.Lock()
		g.stopping = true
		procs := append([]*proc(nil), g.procs...)
		g.mu.Unlock()
		close(g.stopped)
		go g.shutdown(procs)
	})
}

func (g *Group) shutdown(procs []*proc) {
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		select {
		case <-p.exited:
			continue
		default:
		}
		g.mu.Lock()
		_ = terminate(p.cmd.Process)
		g.mu.Unlock()
		deadline := time.NewTimer(g.grace)
		select {
		case <-p.exited:
		case <-g.killing:
			deadline.Stop()
			return
		case <-deadline.C:
			g.killOne(p)
			<-p.exited
		}
		deadline.Stop()
	}
}

// killOne sends SIGKILL to p (and its process group) if it still runs.
func (g *Group) killOne(p *proc) {
	select {
	case <-p.exited:
		return
	default:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p.killed = true
	_ = kill(p.cmd.Process)
}

// Kill sends SIGKILL to every child still running (and its process
// group) at once, for a person who will not wait out the grace period.
func (g *Group) Kill() {
	g.Stop()
	g.killOnce.Do(func() { close(g.killing) })
	g.mu.Lock()
	procs := append([]*proc(nil), g.procs...)
	g.mu.Unlock()
	for _, p := range procs {
		g.killOne(p)
	}
}

// Done is closed once every child has exited.
func (g *Group) Done() <-chan struct{} { return g.done }

// Wait waits for every child to exit. It returns nil when all of them were
// asked to stop and exited with status 0. Otherwise the error names the
// child: the first that exited before Stop (wrapping ErrUnexpectedExit), or
// else those that exited non-zero or were killed (wrapping ErrUncleanStop).
func (g *Group) Wait() error {
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.first; f != nil {
		if f.Err == nil {
			return fmt.Errorf("%s %w (status 0)", f.Name, ErrUnexpectedExit)
		}
		return fmt.Errorf("%s %w: %w", f.Name, ErrUnexpectedExit, f.Err)
	}
	var unclean []string
	for _, e := range g.exits {
		switch {
		case e.Restarted:
		case e.Killed:
			unclean = append(unclean, e.Name+" (killed after the grace period)")
		case e.Err != nil:
			unclean = append(unclean, fmt.Sprintf("%s (%v)", e.Name, e.Err))
		}
	}
	if len(unclean) > 0 {
		return fmt.Errorf("%s %w", strings.Join(unclean, ", "), ErrUncleanStop)
	}
	return nil
}

// Exits reports how each child that has exited so far ended, in the order
// they exited.
func (g *Group) Exits() []Exit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Exit(nil), g.exits...)
}

// Pids returns the children's process ids by name.
func (g *Group) Pids() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := make(map[string]int, len(g.procs))
	for _, p := range g.procs {
		m[p.spec.Name] = p.cmd.Process.Pid // the running incarnation's
	}
	return m
}

// terminate sends SIGTERM to the child itself, so that it shuts down in
// its own way (and stops any children of its own).
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// lineWriter prefixes each complete line with the child's name; exec.Cmd
// calls Write from one goroutine at a time because Stdout and Stderr are
// the same writer.
type lineWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
	mu     sync.Mutex // Write (exec's copier) and flush (after Wait) never overlap, but cheap to be sure
}

// maxLine bounds how much of an unterminated line is buffered before it is
// written anyway.
const maxLine = 64 << 10

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) >= maxLine {
				l.emit(l.buf)
				l.buf = l.buf[:0]
			}
			return len(b), nil
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineWriter) emit(line []byte) {
	out := make([]byte, 0, len(l.prefix)+len(line)+1)
	out = append(out, l.prefix...)
	out = append(out, line...)
	out = append(out, '\n')
	// A failing terminal must not stop the child: its output is dropped.
	_, _ = l.w.Write(out)
}
