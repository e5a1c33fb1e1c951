package harness

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/bench/internal/stats"
)

// Row is one line of the table: a candidate against its baseline.
type Row struct {
	Section  string
	Name     string
	Baseline string // the baseline's median absolute figure, for reference
	Cand     string // the candidate's
	// Ratio is candidate/baseline per round.
	Ratio stats.Spread
	// Added is candidate−baseline in ms per round, where HasAdded.
	Added    stats.Spread
	HasAdded bool
}

func fmtMS(v float64) string { return fmt.Sprintf("%.3f ms", v) }

func fmtRate(v float64) string { return fmt.Sprintf("%.0f", v) }

func fmtSpread(s stats.Spread, f string) string {
	if s.N == 0 || math.IsNaN(s.Median) {
		return "n/a"
	}
	return fmt.Sprintf(f+" ("+f+" – "+f+")", s.Median, s.Min, s.Max)
}

// Report is what one harness run measured.
type Report struct {
	Started  time.Time
	Duration time.Duration
	Rounds   int
	Rows     []Row
	// Verdicts say, per aim, where the run stands.
	Verdicts []string
	// LoadStart and LoadEnd are /proc/loadavg's averages around the run:
	// how busy the machine was.
	LoadStart, LoadEnd string
	// Notes are caveats (a part skipped, and why).
	Notes []string
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// WriteTable prints the table in Markdown, which reads as plain text too.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintln(w, "| Measurement | Baseline (median) | Candidate (median) | Ratio candidate/baseline: median (min – max) | Added, ms: median (min – max) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	// Rows grouped by section, the sections in order of first appearance.
	var sections []string
	bySection := map[string][]Row{}
	for _, row := range r.Rows {
		if _, ok := bySection[row.Section]; !ok {
			sections = append(sections, row.Section)
		}
		bySection[row.Section] = append(bySection[row.Section], row)
	}
	// Memory last: its rows come from every part.
	slices.SortStableFunc(sections, func(a, b string) int {
		return cmp.Compare(boolInt(a == memSection), boolInt(b == memSection))
	})
	for _, section := range sections {
		fmt.Fprintf(w, "| **%s** | | | | |\n", section)
		r.writeRows(w, bySection[section])
	}
}

func (r *Report) writeRows(w io.Writer, rows []Row) {
	for _, row := range rows {
		added := ""
		if row.HasAdded {
			added = fmtSpread(row.Added, "%+.3f")
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", row.Name, row.Baseline, row.Cand, fmtSpread(row.Ratio, "%.2f"), added)
	}
}

// WriteMarkdown writes BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintln(w, "# Benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Written by `make bench` (`go run ./bench`, bench/README.md); do not edit by hand.")
	fmt.Fprintln(w, "Every figure is a ratio against a baseline measured in the same run, in interleaved rounds")
	fmt.Fprintln(w, "(the order of candidate and baseline alternates each round), so the machine's noise hits both;")
	fmt.Fprintln(w, "absolute medians stand beside the ratios for reference only. Each ratio is given as the")
	fmt.Fprintln(w, "median over rounds with the smallest and largest round in brackets.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Machine: %s, %d cores (runtime.NumCPU), %s/%s, %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(w, "- Run: %s, %d rounds, %s in all\n", r.Started.UTC().Format(time.RFC3339), r.Rounds, r.Duration.Round(time.Second))
	fmt.Fprintf(w, "- Load average (1, 5, 15 min) at the start: %s; at the end: %s\n", r.LoadStart, r.LoadEnd)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Where we stand")
	fmt.Fprintln(w)
	for _, v := range r.Verdicts {
		fmt.Fprintln(w, "- "+v)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Table")
	fmt.Fprintln(w)
	r.WriteTable(w)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Notes")
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

// find returns the row named name in section.
func (r *Report) find(section, name string) (Row, bool) {
	for _, row := range r.Rows {
		if row.Section == section && row.Name == name {
			return row, true
		}
	}
	return Row{}, false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// loadAvg is the 1, 5 and 15 minute load averages of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
