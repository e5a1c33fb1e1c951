package harness

import (
	"fmt"

	"github.com/chorus-ai/chorus/bench/internal/stats"
)

// judge says whether the median of s is under bound, and whether the
// rounds straddle it.
func judge(s stats.Spread, bound float64) string {
	mark := "**not met**"
	if s.Median < bound {
		mark = "**met**"
	}
	if s.Min < bound && s.Max >= bound {
		mark += " (borderline: some rounds fall on each side)"
	}
	return mark
}

// verdicts says, for each of the aims, where the run stands.
func (r *Report) verdicts() {
	add := func(aim, verdict, have string) {
		r.Verdicts = append(r.Verdicts, fmt.Sprintf("%s: %s; %s.", aim, verdict, have))
	}
	missing := func(aim string) { r.Verdicts = append(r.Verdicts, aim+": not measured in this run.") }

	const orchSection = "Orchestrator overhead (script-then-voiceover through the orchestrator vs the same calls in sequence; instant backends)"
	aim := "The orchestrator adds under 1 ms p50 per run at concurrency 16"
	if row, ok := r.find(orchSection, "run, concurrency 16, p50"); ok {
		add(aim, judge(row.Added, 1), fmt.Sprintf("it adds %.3f ms, median of %d rounds; ratio %.2f", row.Added.Median, row.Added.N, row.Ratio.Median))
	} else {
		missing(aim)
	}
	const gwSection = "Gateway overhead (REST through the gateway vs direct gRPC; instant echo backend)"
	for _, conc := range []int{1, 16} {
		aim = fmt.Sprintf("The gateway adds under 0.3 ms p50 per request (concurrency %d)", conc)
		if row, ok := r.find(gwSection, fmt.Sprintf("POST /v1/text:generate vs gRPC Generate, concurrency %d, p50", conc)); ok {
			add(aim, judge(row.Added, 0.3), fmt.Sprintf("it adds %.3f ms, median of %d rounds; ratio %.2f", row.Added.Median, row.Added.N, row.Ratio.Median))
		} else {
			missing(aim)
		}
	}
	aim = "Time to first audio with streaming under a third of the sequential baseline"
	if row, ok := r.find(ttfaSection, ttfaName); ok {
		add(aim, judge(row.Ratio, 1.0/3), fmt.Sprintf("ratio %.2f, median of %d rounds: %s against %s", row.Ratio.Median, row.Ratio.N, row.Cand, row.Baseline))
	} else {
		missing(aim)
	}
	for _, e := range [][3]string{{"flite", "flite", "slt"}, {"espeak", "espeak-ng", "en-us"}} {
		aim = fmt.Sprintf("Speech through the service within 1.2x of the command-line tool (%s)", e[0])
		if row, ok := r.find(speechSection, speechName(e[0], e[1])+", voice "+e[2]); ok {
			add(aim, judge(row.Ratio, 1.2), fmt.Sprintf("real-time factor ratio %.2f, median of %d rounds", row.Ratio.Median, row.Ratio.N))
		} else {
			missing(aim)
		}
	}
}
