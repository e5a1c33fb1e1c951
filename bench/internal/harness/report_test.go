package harness

import (
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/bench/internal/stats"
)

func TestVerdicts(t *testing.T) {
	const orch = "Orchestrator overhead (script-then-voiceover through the orchestrator vs the same calls in sequence; instant backends)"
	const gw = "Gateway overhead (REST through the gateway vs direct gRPC; instant echo backend)"
	tests := []struct {
		name string
		rows []Row
		want []string // substrings of the verdicts, in order
	}{
		{"nothing measured", nil, []string{"not measured", "not measured", "not measured", "not measured", "not measured", "not measured"}},
		{"met and not met", []Row{
			{Section: orch, Name: "run, concurrency 16, p50", Added: stats.SpreadOf([]float64{0.5, 0.7, 0.9}), Ratio: stats.SpreadOf([]float64{1.1})},
			{Section: gw, Name: "POST /v1/text:generate vs gRPC Generate, concurrency 1, p50", Added: stats.SpreadOf([]float64{0.4}), Ratio: stats.SpreadOf([]float64{3})},
			{Section: gw, Name: "POST /v1/text:generate vs gRPC Generate, concurrency 16, p50", Added: stats.SpreadOf([]float64{0.1}), Ratio: stats.SpreadOf([]float64{2})},
			{Section: ttfaSection, Name: ttfaName, Ratio: stats.SpreadOf([]float64{0.2, 0.3, 0.5})},
			{Section: speechSection, Name: speechName("flite", "flite") + ", voice slt", Ratio: stats.SpreadOf([]float64{1.1})},
			{Section: speechSection, Name: speechName("espeak", "espeak-ng") + ", voice en-us", Ratio: stats.SpreadOf([]float64{1.21})},
		}, []string{
			"**met**; it adds 0.700 ms",
			"**not met**; it adds 0.400 ms",
			"**met**; it adds 0.100 ms",
			"**met** (borderline: some rounds fall on each side); ratio 0.30",
			"**met**; real-time factor ratio 1.10",
			"**not met**; real-time factor ratio 1.21",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Rows: tt.rows}
			r.verdicts()
			if len(r.Verdicts) != len(tt.want) {
				t.Fatalf("%d verdicts, want %d: %q", len(r.Verdicts), len(tt.want), r.Verdicts)
			}
			for i, w := range tt.want {
				if !strings.Contains(r.Verdicts[i], w) {
					t.Errorf("verdict %d = %q, want it to contain %q", i, r.Verdicts[i], w)
				}
			}
		})
	}
}

func TestWriteTableGroupsSectionsMemoryLast(t *testing.T) {
	r := &Report{Rows: []Row{
		{Section: "A", Name: "a1", Ratio: stats.SpreadOf([]float64{2, 1, 3})},
		{Section: memSection, Name: "m1", Ratio: stats.SpreadOf([]float64{1.5})},
		{Section: "B", Name: "b1", Added: stats.SpreadOf([]float64{0.25}), HasAdded: true},
		{Section: memSection, Name: "m2"},
		{Section: "A", Name: "a2"},
	}}
	var b strings.Builder
	r.WriteTable(&b)
	out := b.String()
	order := []string{"**A**", "| a1 |", "| a2 |", "**B**", "| b1 |", "**" + memSection + "**", "| m1 |", "| m2 |"}
	last := -1
	for _, s := range order {
		i := strings.Index(out, s)
		if i < 0 || i < last {
			t.Fatalf("%q missing or out of order in:\n%s", s, out)
		}
		last = i
	}
	for _, s := range []string{"2.00 (1.00 – 3.00)", "+0.250 (+0.250 – +0.250)", "1.50 (1.50 – 1.50)"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if strings.Count(out, "**"+memSection+"**") != 1 {
		t.Errorf("the memory section appears more than once:\n%s", out)
	}
}
