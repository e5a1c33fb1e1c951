// Command streambench measures the aggregate decode speed of concurrent generations: the
// engine's continuously batched scheduler beside llama.cpp's llama-server, on the same GGUF
// file, with the same slots, threads, prompts (as token ids) and number of generated tokens.
//
// For each model it loads the engine with -slots slots and starts llama-server with
// -np SLOTS, -c SLOTS×CTX, -t THREADS and continuous batching, then runs, round by round,
// 1, 4 and 8 concurrent streams on each, alternating which goes first. Every stream reads a
// prompt of -p tokens and generates -n tokens greedily, end-of-text ignored. The aggregate
// speed is the same for both: every stream's generated tokens over the wall time from the
// first request to the last answer (prompt reading included; llama-server's HTTP and JSON
// too). It prints each round, then the medians.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/internal/hostinfo"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
)

// smolName stands, in -models, for enginebench's SmolLM2-135M-shaped Q8_0 file.
const smolName = "smollm2-q8_0"

type config struct {
	models      []string
	dir         string
	threads     int
	slots       int
	streams     []int
	prompt, gen int
	ctx         int // tokens per slot
	reps        int
	server      string
	serverEnv   []string
	serverArgs  []string
	cpuProfile  string
	noPack      bool
}

func main() {
	var c config
	var models, streams, env, extra string
	flag.StringVar(&models, "models", smolName+",../models/chorus-mini.gguf",
		"comma-separated GGUF files; "+smolName+" is enginebench's SmolLM2-135M-shaped Q8_0 file, written to -dir when absent")
	flag.StringVar(&c.dir, "dir", filepath.Join(os.TempDir(), "enginebench"), "where "+smolName+" is written")
	flag.IntVar(&c.threads, "t", 2, "threads for both engines")
	flag.IntVar(&c.slots, "slots", 8, "slots (concurrent sequences) of both engines")
	flag.StringVar(&streams, "streams", "1,4,8", "concurrent streams to measure")
	flag.IntVar(&c.prompt, "p", 32, "prompt tokens per stream")
	flag.IntVar(&c.gen, "n", 128, "generated tokens per stream")
	flag.IntVar(&c.ctx, "ctx", 256, "context tokens per slot (llama-server gets -c slots×ctx)")
	flag.IntVar(&c.reps, "r", 3, "rounds; each runs every stream count on both engines")
	flag.StringVar(&c.server, "llama-server", "", "path of llama.cpp's llama-server (without it only the engine runs)")
	flag.StringVar(&env, "llama-env", "OMP_WAIT_POLICY=passive",
		"extra environment for llama-server, comma-separated (passive: its OpenMP threads do not spin, which collapses them on a busy machine)")
	flag.StringVar(&extra, "llama-args", "", "extra llama-server arguments, space-separated")
	flag.BoolVar(&c.noPack, "nopack", false, "load the engine without packed weights (engine.WithoutPacking)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the engine's timed rounds (not llama-server's) to this file")
	flag.Parse()
	c.models = splitList(models)
	c.serverEnv = splitList(env)
	c.serverArgs = strings.Fields(extra)
	var err error
	if c.streams, err = parseInts(streams); err != nil {
		fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		stop()
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "streambench:", err)
	os.Exit(1)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("stream count %q: want a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no stream counts")
	}
	return out, nil
}

func run(ctx context.Context, c config) error {
	maxStreams := 0
	for _, s := range c.streams {
		maxStreams = max(maxStreams, s)
	}
	switch {
	case maxStreams > c.slots:
		return fmt.Errorf("%d streams but %d slots: the extra streams would wait, not batch", maxStreams, c.slots)
	case c.prompt < 1 || c.gen < 1:
		return fmt.Errorf("prompt %d and generated %d tokens: both must be positive", c.prompt, c.gen)
	case c.prompt+c.gen > c.ctx:
		return fmt.Errorf("prompt %d + generated %d tokens do not fit a slot of %d", c.prompt, c.gen, c.ctx)
	case c.cpuProfile != "" && len(c.models) != 1:
		return fmt.Errorf("-cpuprofile profiles one model; -models names %d", len(c.models))
	}
	runtime.GOMAXPROCS(c.threads)
	fmt.Printf("%s, %s, Go %s, %d threads, %d slots, prompt %d, generate %d, load average %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), hostinfo.CPUName(), runtime.Version(), c.threads, c.slots,
		c.prompt, c.gen, hostinfo.LoadAvg())
	var tables []string
	for _, name := range c.models {
		path := name
		if name == smolName {
			var err error
			if path, err = ensureSmol(c.dir); err != nil {
				return err
			}
		}
		t, err := benchModel(ctx, c, path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		tables = append(tables, t)
	}
	fmt.Printf("\n%s UTC, load average %s\n", time.Now().UTC().Format("2006-01-02 15:04"), hostinfo.LoadAvg())
	for _, t := range tables {
		fmt.Print("\n", t)
	}
	return nil
}

// benchModel runs every round on one model and returns its table.
func benchModel(ctx context.Context, c config, path string) (string, error) {
	fmt.Printf("\n%s\n", path)
	opts := []engine.Option{engine.WithThreads(c.threads), engine.WithSessions(c.slots), engine.WithContextSize(c.ctx)}
	if c.noPack {
		opts = append(opts, engine.WithoutPacking())
	}
	m, err := engine.Load(path, opts...)
	if err != nil {
		return "", err
	}
	defer m.Close()
	if got := m.Info().Slots; got != c.slots {
		return "", fmt.Errorf("the engine kept %d of %d slots", got, c.slots)
	}
	maxStreams := 0
	for _, s := range c.streams {
		maxStreams = max(maxStreams, s)
	}
	prompts, err := makePrompts(m.Encode(promptText), c.prompt, maxStreams)
	if err != nil {
		return "", err
	}
	eng := &engineRunner{m: m}
	var srv *server
	var cli *client
	if c.server != "" {
		srv, err = startServer(ctx, c.server, serverArgs(path, c.slots, c.threads, c.ctx, c.serverArgs), c.serverEnv)
		if err != nil {
			return "", err
		}
		defer srv.stop()
		cli = newClient(srv.base)
		fmt.Printf("llama-server %s\n", strings.Join(srv.args, " "))
		if info := srv.systemInfo(); info != "" {
			fmt.Printf("llama-server %s\n", info)
		}
	}
	// Untimed: builds every slot's cache, pages the weights in.
	if _, err := eng.round(ctx, prompts[:maxStreams], c.gen); err != nil {
		return "", err
	}
	if cli != nil {
		if _, err := cli.round(ctx, prompts[:maxStreams], c.gen, srv.pid()); err != nil {
			return "", fmt.Errorf("llama-server: %w%s", err, srv.logTail())
		}
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return "", err
		}
		defer pprof.StopCPUProfile()
	}
	res := newResults(c.streams)
	for r := range c.reps {
		for _, s := range c.streams {
			engineFirst := r%2 == 0
			for i := range 2 {
				if (i == 0) == engineFirst {
					rr, err := eng.round(ctx, prompts[:s], c.gen)
					if err != nil {
						return "", err
					}
					res.engine[s] = append(res.engine[s], rr.rate())
					res.engineCPU[s] = append(res.engineCPU[s], rr.cpuRate())
					fmt.Printf("round %d streams %d engine       %8.1f tok/s  (%d tokens in %v, %v CPU)\n", r+1, s, rr.rate(), rr.tokens,
						rr.wall.Round(time.Millisecond), rr.cpu.Round(time.Millisecond))
				} else if cli != nil {
					rr, err := cli.round(ctx, prompts[:s], c.gen, srv.pid())
					if err != nil {
						return "", fmt.Errorf("llama-server: %w%s", err, srv.logTail())
					}
					res.server[s] = append(res.server[s], rr.rate())
					res.serverCPU[s] = append(res.serverCPU[s], rr.cpuRate())
					fmt.Printf("round %d streams %d llama-server %8.1f tok/s  (%d tokens in %v, %v CPU; its slowest request took %v in the server)\n",
						r+1, s, rr.rate(), rr.tokens, rr.wall.Round(time.Millisecond), rr.cpu.Round(time.Millisecond), rr.serverTime.Round(time.Millisecond))
				}
			}
		}
	}
	return res.table(filepath.Base(path)), nil
}

// promptText is tokenised and repeated to make the prompts.
const promptText = "The river ran past the old mill, and the miller's children watched the boats go down to the sea. "

// makePrompts returns n prompts of length tokens each: ids (BOS first when the model adds one)
// with its body repeated to length, the body rotated by i places for prompt i, so the
// prompts differ but have the same length and the same first token.
func makePrompts(ids []int32, length, n int) ([][]int32, error) {
	head := 0
	if len(ids) > 1 {
		head = 1 // keep the first token (BOS, or the text's first) in place
	}
	body := ids[head:]
	if len(body) == 0 || length <= head {
		return nil, fmt.Errorf("cannot make %d-token prompts from %d tokens", length, len(ids))
	}
	out := make([][]int32, n)
	for i := range out {
		p := append(make([]int32, 0, length), ids[:head]...)
		for j := 0; len(p) < length; j++ {
			p = append(p, body[(i+j)%len(body)])
		}
		out[i] = p
	}
	return out, nil
}

// roundResult is one round of concurrent streams.
type roundResult struct {
	tokens     int           // generated, all streams together
	wall       time.Duration // first request to last answer
	serverTime time.Duration // llama-server: the longest prompt+generation time it reported
	cpu        time.Duration // the engine's process or llama-server's, over the round; 0 if unknown
}

func (r roundResult) rate() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.tokens) / r.wall.Seconds()
}

// cpuRate is tokens per CPU-second; 0 when the CPU time is unknown.
func (r roundResult) cpuRate() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.tokens) / r.cpu.Seconds()
}

func ensureSmol(dir string) (string, error) {
	sp := llama.SmolLM2Shape(quant.Q8_0)
	path := filepath.Join(dir, sp.Name+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Printf("writing %s\n", path)
	w, err := sp.Build()
	if err != nil {
		return "", err
	}
	if err := w.WriteFile(path + ".tmp"); err != nil {
		return "", err
	}
	return path, os.Rename(path+".tmp", path)
}
