// Command enginebench measures the engine's prompt processing and
// generation speed on SmolLM2-135M-shaped models with random weights, beside
// llama.cpp's llama-bench on the same files and the memory-bandwidth bound.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/internal/hostinfo"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
	"golang.org/x/sys/cpu"
)

type config struct {
	dir        string
	types      string
	threads    int
	pp, tg     int
	reps       int
	llamaBench string
	llamaEnv   string
	cpuProfile string
	cpuTime    bool
	noPack     bool
}

func main() {
	var c config
	flag.StringVar(&c.dir, "dir", filepath.Join(os.TempDir(), "enginebench"), "where the generated models are written")
	flag.StringVar(&c.types, "types", "F32,F16,Q8_0,Q4_0", "weight types to measure, comma-separated: any the engine runs (K-quants and IQ4_XS on a 768-wide variant of the shape)")
	flag.IntVar(&c.threads, "t", runtime.GOMAXPROCS(0), "threads for both engines")
	flag.IntVar(&c.pp, "p", 128, "prompt tokens")
	flag.IntVar(&c.tg, "n", 64, "generated tokens")
	flag.IntVar(&c.reps, "r", 3, "rounds; each round runs every type on both engines, interleaved")
	flag.StringVar(&c.llamaBench, "llama-bench", "", "path of llama.cpp's llama-bench (optional)")
	flag.StringVar(&c.llamaEnv, "llama-env", "", "extra environment for llama-bench, comma-separated (e.g. OMP_WAIT_POLICY=passive, which keeps its OpenMP threads from spinning on a busy machine)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the engine runs to this file")
	flag.BoolVar(&c.noPack, "nopack", false, "load the models without packed weights (llama.Options.NoPack)")
	flag.BoolVar(&c.cpuTime, "cpu", false, "also report prompt processing in tokens per CPU-second (process user+system time, which a loaded machine disturbs far less than the wall clock); for llama-bench, the CPU time of a run with three prompt repetitions less that of a run with one, over two")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "enginebench:", err)
		os.Exit(1)
	}
}

type result struct {
	pp, tg        []float64 // tokens/s per round
	lpp, ltg      []float64
	ppCPU, lppCPU []float64 // prompt tokens per CPU-second per round (-cpu)
	weightBytes   int64
	fileBytes     int64
	llamaSysInfo  string
}

func run(c config) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	var types []quant.Type
	for _, name := range strings.Split(c.types, ",") {
		t, err := parseType(name)
		if err != nil {
			return err
		}
		types = append(types, t)
	}
	paths := map[quant.Type]string{}
	for _, t := range types {
		p, err := ensureModel(c.dir, t)
		if err != nil {
			return err
		}
		paths[t] = p
	}
	runtime.GOMAXPROCS(c.threads)
	bw := bandwidth(c.threads)
	if c.cpuProfile != "" {
		pf, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("memory bandwidth (line-stride read, %d threads): %.1f GB/s\n", c.threads, bw/1e9)
	res := map[quant.Type]*result{}
	for _, t := range types {
		res[t] = &result{}
	}
	for r := range c.reps {
		for _, t := range types {
			rs := res[t]
			pp, tg, ppCPU, wb, err := benchEngine(paths[t], c)
			if err != nil {
				return fmt.Errorf("%v: %w", t, err)
			}
			rs.pp, rs.tg, rs.weightBytes = append(rs.pp, pp), append(rs.tg, tg), wb
			if c.cpuTime {
				rs.ppCPU = append(rs.ppCPU, ppCPU)
				fmt.Printf("round %d %-5v engine    pp%d %8.1f t/CPU-s\n", r+1, t, c.pp, ppCPU)
			}
			fi, _ := os.Stat(paths[t])
			rs.fileBytes = fi.Size()
			fmt.Printf("round %d %-5v engine    pp%d %8.1f t/s  tg%d %7.1f t/s\n", r+1, t, c.pp, pp, c.tg, tg)
			if c.llamaBench != "" {
				lpp, ltg, info, err := benchLlama(c, paths[t])
				if err != nil {
					return fmt.Errorf("llama-bench %v: %w", t, err)
				}
				rs.lpp, rs.ltg, rs.llamaSysInfo = append(rs.lpp, lpp), append(rs.ltg, ltg), info
				fmt.Printf("round %d %-5v llama.cpp pp%d %8.1f t/s  tg%d %7.1f t/s\n", r+1, t, c.pp, lpp, c.tg, ltg)
				if c.cpuTime {
					v, err := llamaPPCPU(c, paths[t])
					if err != nil {
						return fmt.Errorf("llama-bench %v: %w", t, err)
					}
					rs.lppCPU = append(rs.lppCPU, v)
					fmt.Printf("round %d %-5v llama.cpp pp%d %8.1f t/CPU-s\n", r+1, t, c.pp, v)
				}
			}
		}
	}
	fmt.Printf("\n%s, %s, %d threads, Go %s, engine SIMD: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		hostinfo.CPUName(), c.threads, runtime.Version(), engineSIMD())
	for _, t := range types {
		if res[t].llamaSysInfo != "" {
			fmt.Printf("llama.cpp: %s\n", res[t].llamaSysInfo)
			break
		}
	}
	if c.llamaEnv != "" {
		fmt.Printf("llama-bench environment: %s\n", c.llamaEnv)
	}
	fmt.Printf("\nMedian of %d interleaved rounds, tokens/s.\n\n", c.reps)
	fmt.Println("| weights | shape | file MB | MB read/token | bound tg t/s | engine pp | llama.cpp pp | pp ratio | engine tg | llama.cpp tg | tg ratio | engine tg / bound |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range types {
		rs := res[t]
		bound := bw / float64(rs.weightBytes)
		pp, tg := median(rs.pp), median(rs.tg)
		lpp, ltg := median(rs.lpp), median(rs.ltg)
		shape := "SmolLM2-135M"
		if superBlocks(t) {
			shape = "768-wide (K-quants)"
		}
		fmt.Printf("| %v | %s | %.0f | %.0f | %.0f | %.1f | %s | %s | %.1f | %s | %s | %.0f%% |\n", t, shape,
			float64(rs.fileBytes)/1e6, float64(rs.weightBytes)/1e6, bound, pp, opt(lpp), ratio(pp, lpp), tg, opt(ltg), ratio(tg, ltg), 100*tg/bound)
	}
	if c.cpuTime {
		fmt.Printf("\nPrompt processing per CPU-second, median of rounds (ratio: median of each round's ratio).\n\n")
		fmt.Println("| weights | engine pp t/CPU-s | llama.cpp pp t/CPU-s | ratio |")
		fmt.Println("|---|---|---|---|")
		for _, t := range types {
			rs := res[t]
			var rr []float64
			for i := range rs.lppCPU {
				rr = append(rr, rs.ppCPU[i]/rs.lppCPU[i])
			}
			fmt.Printf("| %v | %.1f | %s | %s |\n", t, median(rs.ppCPU), opt(median(rs.lppCPU)), opt(median(rr)))
		}
	}
	return nil
}

func opt(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// benchTypes are the weight types enginebench can write and measure: every
// type the engine runs.
var benchTypes = []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0,
	quant.Q5_1, quant.IQ4_NL, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.IQ4_XS}

func parseType(name string) (quant.Type, error) {
	for _, t := range benchTypes {
		if strings.EqualFold(t.String(), name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown weight type %q", name)
}

// superBlocks reports whether t's blocks hold 256 values (the K-quants and
// IQ4_XS), which SmolLM2's 576-wide rows cannot hold.
func superBlocks(t quant.Type) bool { return t.BlockLen() == 256 }

// ensureModel writes the SmolLM2-shaped model of type t unless it exists;
// K-quants and IQ4_XS get KQuantShape, since SmolLM2's rows do not fit
// their blocks.
func ensureModel(dir string, t quant.Type) (string, error) {
	sp := llama.SmolLM2Shape(t)
	if superBlocks(t) {
		sp = llama.KQuantShape(t)
	}
	path := filepath.Join(dir, sp.Name+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	fmt.Printf("writing %s\n", path)
	w, err := sp.Build()
	if err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := w.WriteFile(tmp); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

func benchEngine(path string, c config) (pp, tg, ppCPU float64, weightBytes int64, err error) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer f.Close()
	m, err := llama.New(f, llama.Options{Threads: c.threads, NoPack: c.noPack})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	s := m.NewSession(c.pp + c.tg + 8)
	defer s.Close()
	vocab := m.Config().Vocab
	prompt := make([]int32, c.pp)
	for i := range prompt {
		prompt[i] = int32((i*7919 + 13) % vocab)
	}
	// Warm up: page the weights in and touch every code path once.
	if _, err := s.Decode(prompt[:min(8, len(prompt))]); err != nil {
		return 0, 0, 0, 0, err
	}
	s.Reset()
	cpu0 := cpuSeconds()
	start := time.Now()
	if _, err := s.Decode(prompt); err != nil {
		return 0, 0, 0, 0, err
	}
	pp = float64(c.pp) / time.Since(start).Seconds()
	ppCPU = float64(c.pp) / (cpuSeconds() - cpu0)
	// Generation from an empty context, as llama-bench's tg test does.
	s.Reset()
	tok := []int32{1}
	start = time.Now()
	for i := range c.tg {
		if _, err := s.Decode(tok); err != nil {
			return 0, 0, 0, 0, err
		}
		tok[0] = int32((i*104729 + 7) % vocab)
	}
	tg = float64(c.tg) / time.Since(start).Seconds()
	return pp, tg, ppCPU, m.WeightBytes(), nil
}

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// llamaPPCPU is llama-bench's prompt processing in tokens per CPU-second:
// it runs the prompt test with one repetition and with three (each after
// the same load and warm-up run), and takes the difference of their CPU
// times as two prompts' worth.
func llamaPPCPU(c config, path string) (float64, error) {
	var cpu [2]float64
	for i, reps := range []int{1, 3} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cmd := exec.CommandContext(ctx, c.llamaBench, "-m", path, "-p", fmt.Sprint(c.pp), "-n", "0",
			"-t", fmt.Sprint(c.threads), "-r", fmt.Sprint(reps), "-o", "json")
		if c.llamaEnv != "" {
			cmd.Env = append(os.Environ(), strings.Split(c.llamaEnv, ",")...)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			return 0, fmt.Errorf("%w: %s", err, lastLine(stderr.String()))
		}
		ps := cmd.ProcessState
		cpu[i] = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	if cpu[1] <= cpu[0] {
		return 0, errors.New("llama-bench: no CPU time measured for the extra repetitions")
	}
	return float64(2*c.pp) / (cpu[1] - cpu[0]), nil
}

func benchLlama(c config, path string) (pp, tg float64, sysInfo string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.llamaBench, "-m", path, "-p", fmt.Sprint(c.pp), "-n", fmt.Sprint(c.tg),
		"-t", fmt.Sprint(c.threads), "-r", "1", "-o", "json")
	if c.llamaEnv != "" {
		cmd.Env = append(os.Environ(), strings.Split(c.llamaEnv, ",")...)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, "", fmt.Errorf("%w: %s", err, lastLine(stderr.String()))
	}
	var rows []struct {
		NPrompt int     `json:"n_prompt"`
		NGen    int     `json:"n_gen"`
		AvgTS   float64 `json:"avg_ts"`
		CPUInfo string  `json:"cpu_info"`
		Backend string  `json:"backends"`
	}
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		return 0, 0, "", err
	}
	for _, r := range rows {
		switch {
		case r.NPrompt > 0 && r.NGen == 0:
			pp = r.AvgTS
		case r.NGen > 0 && r.NPrompt == 0:
			tg = r.AvgTS
		}
	}
	if pp == 0 || tg == 0 {
		return 0, 0, "", errors.New("llama-bench printed no pp/tg rows")
	}
	return pp, tg, simdLine(stderr.String()), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// simdLine picks llama.cpp's "CPU : SSE3 = 1 | ..." report from its log, if any.
func simdLine(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "CPU : "); i >= 0 {
			return strings.TrimSpace(l[i:])
		}
	}
	return ""
}

func engineSIMD() string {
	var f []string
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		f = append(f, "AVX2+FMA+F16C assembly")
		if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL {
			f = append(f, "AVX512-VNNI (Q8_0, Q4_0)")
		}
	} else {
		f = append(f, "portable Go")
	}
	return strings.Join(f, "; ")
}

// bandwidth measures memory read bandwidth: each thread reads one 8-byte
// value per 64-byte line of its share of a buffer far larger than the
// caches, so the figure counts whole lines moved (a plain sum over every
// value measures the loop, about half of it, not the memory).
func bandwidth(threads int) float64 {
	const size = 1 << 30
	buf := make([]uint64, size/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	best := 0.0
	for range 3 {
		var wg sync.WaitGroup
		share := len(buf) / threads
		start := time.Now()
		sums := make([]uint64, threads)
		for t := range threads {
			wg.Add(1)
			go func(part []uint64) {
				defer wg.Done()
				sums[t] = lineSum(part)
			}(buf[t*share : (t+1)*share])
		}
		wg.Wait()
		best = max(best, float64(share*threads*8)/time.Since(start).Seconds())
	}
	return best
}

func lineSum(b []uint64) uint64 {
	var s0, s1, s2, s3 uint64
	for i := 0; i+32 <= len(b); i += 32 {
		s0 += b[i]
		s1 += b[i+8]
		s2 += b[i+16]
		s3 += b[i+24]
	}
	return s0 + s1 + s2 + s3
}
