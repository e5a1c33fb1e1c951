package command

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chorus-ai/chorus/cli/internal/stack"
	"github.com/chorus-ai/chorus/cli/internal/supervise"
)

// suiteFlags are the flags of the commands that start the suite.
type suiteFlags struct {
	binDir, host, envFile *string
	grpcBase, httpPort    *int
	readyTimeout, grace   *time.Duration
	restarts              *int
}

func addSuiteFlags(fs *flag.FlagSet) *suiteFlags {
	return &suiteFlags{
		binDir:       fs.String("bin-dir", "./bin", "directory holding the text, image, audio, embed, orchestrator and gateway binaries (make build fills ./bin)"),
		host:         fs.String("host", stack.DefaultHost, "address every server listens on"),
		grpcBase:     fs.Int("grpc-port", stack.DefaultGRPCPortBase, "orchestrator's gRPC port; text, image, audio and embed take the next four"),
		httpPort:     fs.Int("http-port", stack.DefaultHTTPPort, "gateway's HTTP port"),
		envFile:      fs.String("env-file", "", "file of KEY=VALUE lines added to the processes' environment (variables already set win)"),
		readyTimeout: fs.Duration("ready-timeout", time.Minute, "how long to wait for the gateway's /readyz"),
		grace:        fs.Duration("grace", supervise.DefaultGrace, "how long each process may take to stop (gateway first, then orchestrator, then the services) before it is killed"),
		restarts:     fs.Int("restarts", DefaultRestarts, "how many times a process that dies on its own is started again (with backoff from 0.5s to 10s) before the suite stops"),
	}
}

const suiteAbout = "CHORUS_* variables reach every process (CHORUS_OPENAI_BASE_URL points text and\n" +
	"image at an OpenAI-compatible server); CHORUS_<SERVICE>_<SETTING> reaches one only,\n" +
	"as CHORUS_<SETTING> (CHORUS_TEXT_OPENAI_BASE_URL, CHORUS_IMAGE_OPENAI_MODELS)."

// DefaultRestarts is how many times chorus up starts a crashed server
// again before it gives up on the suite.
const DefaultRestarts = 5

// errStopped means the suite was asked to stop (Ctrl-C) before it was
// ready.
var errStopped = errors.New("stopped before the suite was ready")

// start starts the suite and waits until the gateway is ready. On an
// error nothing is left running.
func (f *suiteFlags) start(ctx context.Context, env Env, fs *flag.FlagSet, name string) (*supervise.Group, stack.Addrs, error) {
	var addrs stack.Addrs
	if *f.restarts < 0 {
		return nil, addrs, usageError(env, fs, "-restarts must be at least 0")
	}
	if *f.grpcBase < 1 || *f.grpcBase+3 > 65535 || *f.httpPort < 1 || *f.httpPort > 65535 {
		return nil, addrs, usageError(env, fs, "ports must be 1 to 65535")
	}
	childEnv := env.Environ
	if childEnv == nil {
		childEnv = os.Environ()
	}
	if *f.envFile != "" {
		extra, err := readEnvFile(*f.envFile)
		if err != nil {
			return nil, addrs, err
		}
		childEnv = mergeEnv(childEnv, extra)
	}
	if err := stack.CheckBinaries(*f.binDir); err != nil {
		return nil, addrs, err
	}
	addrs = stack.DefaultAddrs(*f.host, *f.grpcBase, *f.httpPort)
	if err := addrs.CheckFree(); err != nil {
		return nil, addrs, fmt.Errorf("%w\n(stop what uses the port, or pass -grpc-port / -http-port)", err)
	}

	g, err := supervise.Start(ctx, stack.Specs(*f.binDir, addrs, childEnv), supervise.Options{Output: env.Stderr, Grace: *f.grace, Restarts: *f.restarts})
	if err != nil {
		if ctx.Err() != nil {
			// Ctrl-C while starting; Start stopped what it had started.
			return nil, addrs, errStopped
		}
		return nil, addrs, err
	}
	// From here on every return path must wait for the children.
	readyCtx, cancel := context.WithTimeout(ctx, *f.readyTimeout)
	err = stack.WaitReady(readyCtx, addrs.GatewayURL(), g.Done())
	cancel()
	switch {
	case err == nil:
		return g, addrs, nil
	case ctx.Err() != nil:
		// Ctrl-C while starting: an ordinary stop.
		if err := stopAndWait(env, name, g); err != nil {
			return nil, addrs, err
		}
		return nil, addrs, errStopped
	}
	select {
	case <-g.Done():
		// A process died; the group stopped the rest.
		return nil, addrs, g.Wait()
	default:
	}
	fmt.Fprintf(env.Stderr, "chorus %s: %v; stopping\n", name, err)
	_ = stopAndWait(env, name, g)
	return nil, addrs, err
}

// Up starts the suite and supervises it until ctx ends (Ctrl-C, SIGTERM)
// or a process dies.
func Up(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "up", "[flags]", "Starts text, image, audio, orchestrator and gateway, each as its own process\n"+
		"on loopback, and stops them all on Ctrl-C.\n"+suiteAbout)
	sf := addSuiteFlags(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(env, fs, "unexpected arguments %q", pos)
	}
	g, addrs, err := sf.start(ctx, env, fs, "up")
	if errors.Is(err, errStopped) {
		fmt.Fprintln(env.Stderr, "chorus up: stopped")
		return nil
	}
	if err != nil {
		return err
	}
	printURLs(env, addrs)
	select {
	case <-g.Done():
		// A process died; the group stopped the rest.
		return g.Wait()
	case <-ctx.Done():
	}
	fmt.Fprintln(env.Stderr, "chorus up: stopping (Ctrl-C again to kill)")
	if err := stopAndWait(env, "up", g); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "chorus up: stopped")
	return nil
}

// stopAndWait stops the group and waits for it; a second SIGINT or
// SIGTERM kills what is left at once.
func stopAndWait(env Env, name string, g *supervise.Group) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	g.Stop()
	select {
	case <-g.Done():
	case <-sigs:
		fmt.Fprintf(env.Stderr, "chorus %s: killing\n", name)
		g.Kill()
	}
	return g.Wait()
}

func printURLs(env Env, a stack.Addrs) {
	u := a.GatewayURL()
	fmt.Fprintf(env.Stdout, `
Chorus is up.
  gateway       %s
  openapi       %s/openapi.json
  ready         %s/readyz
  orchestrator  grpc %s
  text          grpc %s
  image         grpc %s
  audio         grpc %s
Try: chorus run script-then-voiceover -gateway %s -input topic="the sea"
Ctrl-C stops everything.

`, u, u, u, a.Orchestrator, a.Text, a.Image, a.Audio, u)
}

// readEnvFile reads KEY=VALUE lines; blank lines and # comments are
// skipped, an optional "export " prefix and matching quotes around the
// value are removed.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, k+"="+v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// mergeEnv adds extra to base, except variables base already sets: a
// variable set in the shell wins over the file, as with docker compose.
func mergeEnv(base, extra []string) []string {
	set := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	out := append([]string(nil), base...)
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			out = append(out, kv)
			set[k] = true
		}
	}
	return out
}
