package main

import (
	"fmt"
	"slices"
	"strings"
)

// results holds the aggregate tokens/s of every round, per stream count, and the tokens per
// CPU-second (0 where unknown).
type results struct {
	streams              []int
	engine, server       map[int][]float64
	engineCPU, serverCPU map[int][]float64
}

func newResults(streams []int) *results {
	return &results{streams: streams, engine: map[int][]float64{}, server: map[int][]float64{},
		engineCPU: map[int][]float64{}, serverCPU: map[int][]float64{}}
}

// median of v (the mean of the middle two for an even count); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratios divides a by b round by round (the two were measured side by side); rounds missing
// on either side are left out.
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// table is the markdown table of the medians: speeds are medians of the rounds, ratios the
// medians of each round's ratio. Where the CPU times are known, a second table gives the
// tokens per CPU-second the same way: on a shared machine those move far less with the
// other work than the wall-clock speeds do.
func (r *results) table(model string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: aggregate tokens/s, median of %d rounds\n\n", model, len(r.engine[r.streams[0]]))
	writeTable(&b, "t/s", r.streams, r.engine, r.server)
	cpu := false
	for _, v := range r.engineCPU {
		cpu = cpu || median(v) > 0
	}
	if cpu {
		fmt.Fprintf(&b, "\n%s: tokens per CPU-second (user and system time of the engine's process and of llama-server's), median of %d rounds\n\n",
			model, len(r.engineCPU[r.streams[0]]))
		writeTable(&b, "t/CPU-s", r.streams, r.engineCPU, r.serverCPU)
	}
	return b.String()
}

func writeTable(b *strings.Builder, unit string, streams []int, engine, server map[int][]float64) {
	fmt.Fprintf(b, "| streams | engine %s | llama-server %s | engine / llama-server | engine N/1 | llama-server N/1 |\n", unit, unit)
	b.WriteString("|---|---|---|---|---|---|\n")
	one := streams[0]
	for _, s := range streams {
		fmt.Fprintf(b, "| %d | %.1f | %s | %s | %s | %s |\n", s, median(engine[s]), opt(median(server[s]), "%.1f"),
			opt(median(ratios(engine[s], server[s])), "%.2f"),
			opt(median(ratios(engine[s], engine[one])), "%.2f"), opt(median(ratios(server[s], server[one])), "%.2f"))
	}
}

func opt(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}
