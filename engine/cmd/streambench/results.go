package main

import (
	"fmt"
	"slices"
	"strings"
)

// results holds the aggregate tokens/s of every round, per stream count.
type results struct {
	streams        []int
	engine, server map[int][]float64
}

func newResults(streams []int) *results {
	return &results{streams: streams, engine: map[int][]float64{}, server: map[int][]float64{}}
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
// medians of each round's ratio.
func (r *results) table(model string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: aggregate tokens/s, median of %d rounds\n\n", model, len(r.engine[r.streams[0]]))
	b.WriteString("| streams | engine t/s | llama-server t/s | engine / llama-server | engine N/1 | llama-server N/1 |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	one := r.streams[0]
	for _, s := range r.streams {
		fmt.Fprintf(&b, "| %d | %.1f | %s | %s | %s | %s |\n", s, median(r.engine[s]), opt(median(r.server[s]), "%.1f"),
			opt(median(ratios(r.engine[s], r.server[s])), "%.2f"),
			opt(median(ratios(r.engine[s], r.engine[one])), "%.2f"), opt(median(ratios(r.server[s], r.server[one])), "%.2f"))
	}
	return b.String()
}

func opt(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}
