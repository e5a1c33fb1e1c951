package harness

import "fmt"

// verdicts says, for each of the aims, where the run stands.
func (r *Report) verdicts() {
	check := func(aim string, ok bool, have string) {
		mark := "not met"
		if ok {
			mark = "met"
		}
		r.Verdicts = append(r.Verdicts, fmt.Sprintf("%s: **%s** (%s).", aim, mark, have))
	}
	missing := func(aim string) { r.Verdicts = append(r.Verdicts, aim+": not measured in this run.") }

	const orchSection = "Orchestrator overhead (script-then-voiceover through the orchestrator vs the same calls in sequence; instant backends)"
	aim := "The orchestrator adds under 1 ms p50 per run at concurrency 16"
	if row, ok := r.find(orchSection, "run, concurrency 16, p50"); ok {
		check(aim, row.Added.Median < 1, fmt.Sprintf("it adds %.3f ms, median of %d rounds; ratio %.2f", row.Added.Median, row.Added.N, row.Ratio.Median))
	} else {
		missing(aim)
	}
	const gwSection = "Gateway overhead (REST through the gateway vs direct gRPC; instant echo backend)"
	aim = "The gateway adds under 0.3 ms p50 per request"
	row1, ok1 := r.find(gwSection, "POST /v1/text:generate vs gRPC Generate, concurrency 1, p50")
	row16, ok16 := r.find(gwSection, "POST /v1/text:generate vs gRPC Generate, concurrency 16, p50")
	if ok1 && ok16 {
		check(aim, row1.Added.Median < 0.3, fmt.Sprintf("it adds %.3f ms at concurrency 1 (ratio %.2f) and %.3f ms at concurrency 16 (ratio %.2f), medians of %d rounds",
			row1.Added.Median, row1.Ratio.Median, row16.Added.Median, row16.Ratio.Median, row1.Added.N))
	} else {
		missing(aim)
	}
	aim = "Time to first audio with streaming under a third of the sequential baseline"
	if row, ok := r.find(ttfaSection, ttfaName); ok {
		check(aim, row.Ratio.Median < 1.0/3, fmt.Sprintf("ratio %.2f, median of %d rounds: %s against %s", row.Ratio.Median, row.Ratio.N, row.Cand, row.Baseline))
	} else {
		missing(aim)
	}
	for _, e := range [][3]string{{"flite", "flite", "slt"}, {"espeak", "espeak-ng", "en-us"}} {
		aim = fmt.Sprintf("Speech through the service within 1.2x of the command-line tool (%s)", e[0])
		if row, ok := r.find(speechSection, speechName(e[0], e[1])+", voice "+e[2]); ok {
			check(aim, row.Ratio.Median <= 1.2, fmt.Sprintf("real-time factor ratio %.2f, median of %d rounds", row.Ratio.Median, row.Ratio.N))
		} else {
			missing(aim)
		}
	}
}
