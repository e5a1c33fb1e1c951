package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chorus-ai/chorus/bench/internal/stats"
)

// optimSection holds the before and after of the optimisations the
// profiles led to (bench/README.md): Go benchmarks of the code as it was
// (a _test.go copy, or an unexported switch) and as it is, run as pairs.
const optimSection = "Optimisations: before and after (go test -bench -benchmem; the code before profiling vs now)"

// optimBenchtime is how long each side of a pair runs per round.
const optimBenchtime = "300ms"

// optimPair is a Go benchmark of the code before an optimisation and one
// of the same work after it, in one package.
type optimPair struct {
	what          string
	pkg           string // relative to the repository root
	before, after string // benchmark names
}

var optimPairs = []optimPair{
	{"orchestrator: a voiceover's audio work (4 segments numbered, checked, timed, joined into one WAV)", "orchestrator/internal/runner", "BenchmarkVoiceoverBefore", "BenchmarkVoiceoverAfter"},
	{"gateway: POST /v1/text:streamGenerate, 200 deltas, in process (flush per message vs read-ahead)", "gateway/internal/gateway", "BenchmarkStreamBefore", "BenchmarkStreamAfter"},
	{"gateway: one streamed delta marshalled as {\"result\": ...} (runtime.JSONPb vs the codec)", "gateway/internal/gateway", "BenchmarkChunkMarshalBefore", "BenchmarkChunkMarshalAfter"},
}

// benchFigures are one run of a Go benchmark: time, bytes and allocations
// per operation.
type benchFigures struct{ ns, bytes, allocs float64 }

// optimisations builds each pair's test binary and runs its two
// benchmarks in interleaved rounds (the order alternating), each for
// benchtime.
func optimisations(ctx context.Context, rounds int, root, tmp, benchtime string) ([]Row, error) {
	var rows []Row
	for i, p := range optimPairs {
		bin := filepath.Join(tmp, fmt.Sprintf("optim%d.test", i))
		build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./"+p.pkg)
		build.Dir = root
		build.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go test -c ./%s: %v\n%s", p.pkg, err, out)
		}
		var before, after []benchFigures
		for r := range rounds {
			order := []bool{false, true}
			if r%2 == 1 {
				order = []bool{true, false}
			}
			for _, isAfter := range order {
				name := p.before
				if isAfter {
					name = p.after
				}
				f, err := runGoBench(ctx, bin, filepath.Join(root, p.pkg), name, benchtime)
				if err != nil {
					return nil, err
				}
				if isAfter {
					after = append(after, f)
				} else {
					before = append(before, f)
				}
			}
		}
		rows = append(rows, optimRows(p.what, before, after)...)
	}
	return rows, nil
}

// runGoBench runs one benchmark of a test binary in dir and reads its
// figures.
func runGoBench(ctx context.Context, bin, dir, name, benchtime string) (benchFigures, error) {
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", "^"+name+"$", "-test.benchmem", "-test.benchtime", benchtime)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return benchFigures{}, fmt.Errorf("%s -test.bench %s: %v\n%s", filepath.Base(bin), name, err, out)
	}
	f, ok := parseGoBench(out, name)
	if !ok {
		return benchFigures{}, fmt.Errorf("%s -test.bench %s: no ns/op, B/op and allocs/op in its output:\n%s", filepath.Base(bin), name, out)
	}
	return f, nil
}

// parseGoBench reads the result line of benchmark name from go test's
// output: "BenchmarkX-2  1000  1234 ns/op  56 B/op  7 allocs/op".
func parseGoBench(out []byte, name string) (benchFigures, bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || (f[0] != name && !strings.HasPrefix(f[0], name+"-")) {
			continue
		}
		var b benchFigures
		seen := 0
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.ns, seen = v, seen|1
			case "B/op":
				b.bytes, seen = v, seen|2
			case "allocs/op":
				b.allocs, seen = v, seen|4
			}
		}
		if seen == 7 {
			return b, true
		}
	}
	return benchFigures{}, false
}

// optimRows are a pair's rows: time, bytes and allocations per operation,
// after over before.
func optimRows(what string, before, after []benchFigures) []Row {
	row := func(unit string, get func(benchFigures) float64, format func(float64) string) Row {
		var ratios []float64
		for i := range before {
			ratios = append(ratios, stats.Ratio(get(after[i]), get(before[i])))
		}
		med := func(fs []benchFigures) float64 {
			v := make([]float64, len(fs))
			for i, f := range fs {
				v[i] = get(f)
			}
			return stats.SpreadOf(v).Median
		}
		return Row{Section: optimSection, Name: what + ", " + unit + " (after vs before)",
			Baseline: format(med(before)), Cand: format(med(after)), Ratio: stats.SpreadOf(ratios)}
	}
	return []Row{
		row("time/op", func(f benchFigures) float64 { return f.ns }, func(v float64) string { return fmtMS(v / 1e6) }),
		row("bytes/op", func(f benchFigures) float64 { return f.bytes }, fmtBytes),
		row("allocs/op", func(f benchFigures) float64 { return f.allocs }, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
	}
}

// fmtBytes writes a size in bytes, or KiB from 10 KiB up.
func fmtBytes(v float64) string {
	if v < 10<<10 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.0f KiB", v/1024)
}
