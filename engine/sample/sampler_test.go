package sample

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func logProbs(p ...float64) []float32 {
	out := make([]float32, len(p))
	for i, x := range p {
		out[i] = float32(math.Log(x))
	}
	return out
}

func newSampler(t *testing.T, cfg Config) *Sampler {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// draws samples n times from fresh copies of the same logits and counts each id.
func draws(s *Sampler, logits []float32, n int) map[int32]int {
	seen := map[int32]int{}
	for i := 0; i < n; i++ {
		seen[s.Sample(logits)]++
	}
	return seen
}

func keys(m map[int32]int) []int32 {
	var out []int32
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestFilters(t *testing.T) {
	probs := logProbs(0.05, 0.5, 0.15, 0.3) // ids by likelihood: 1, 3, 2, 0
	tests := []struct {
		name string
		cfg  Config
		want []int32 // the ids that can be drawn
	}{
		{name: "greedy", cfg: Config{}, want: []int32{1}},
		{name: "no filters", cfg: Config{Temperature: 1, TopP: 1}, want: []int32{0, 1, 2, 3}},
		{name: "top-k 1", cfg: Config{Temperature: 5, TopK: 1, TopP: 1}, want: []int32{1}},
		{name: "top-k 2", cfg: Config{Temperature: 5, TopK: 2, TopP: 1}, want: []int32{1, 3}},
		{name: "top-k beyond vocab", cfg: Config{Temperature: 1, TopK: 100, TopP: 1}, want: []int32{0, 1, 2, 3}},
		{name: "top-p 0.7", cfg: Config{Temperature: 1, TopP: 0.7}, want: []int32{1, 3}},
		{name: "top-p 0.9", cfg: Config{Temperature: 1, TopP: 0.9}, want: []int32{1, 2, 3}},
		{name: "top-p 0 keeps one", cfg: Config{Temperature: 1, TopP: 0}, want: []int32{1}},
		{name: "top-p 1 disabled", cfg: Config{Temperature: 1, TopP: 1}, want: []int32{0, 1, 2, 3}},
		{name: "top-k then top-p", cfg: Config{Temperature: 1, TopK: 3, TopP: 0.75}, want: []int32{1, 3}},
		{name: "min-p 0.25", cfg: Config{Temperature: 1, MinP: 0.25, TopP: 1}, want: []int32{1, 2, 3}},
		{name: "min-p 1", cfg: Config{Temperature: 1, MinP: 1, TopP: 1}, want: []int32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keys(draws(newSampler(t, tt.cfg), probs, 2000))
			if !slices.Equal(got, tt.want) {
				t.Errorf("drew %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTemperatureMatchesSoftmax(t *testing.T) {
	logits := logProbs(0.2, 0.5, 0.3)
	for _, temp := range []float32{0.5, 1, 2} {
		s := newSampler(t, Config{Temperature: temp, TopP: 1, Seed: 7})
		const n = 20000
		seen := draws(s, logits, n)
		var z float64
		for _, l := range logits {
			z += math.Exp(float64(l) / float64(temp))
		}
		for id, l := range logits {
			want := math.Exp(float64(l)/float64(temp)) / z
			got := float64(seen[int32(id)]) / n
			if math.Abs(got-want) > 0.015 {
				t.Errorf("T=%v id %d: frequency %.3f, want %.3f", temp, id, got, want)
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	cfg := Config{Temperature: 0.9, TopK: 50, TopP: 0.95, MinP: 0.01, RepeatPenalty: 1.1, RepeatLastN: 16, Seed: 42}
	run := func(cfg Config) []int32 {
		s := newSampler(t, cfg)
		var out []int32
		for i := 0; i < 200; i++ {
			out = append(out, s.Sample(logits))
		}
		return out
	}
	a, b := run(cfg), run(cfg)
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different sequences")
	}
	cfg.Seed = 43
	if slices.Equal(a, run(cfg)) {
		t.Error("different seeds gave the same 200 tokens")
	}
	// Reset restarts the sequence.
	s := newSampler(t, Config{Temperature: 1, TopP: 1, Seed: 5})
	first := []int32{s.Sample(logits), s.Sample(logits), s.Sample(logits)}
	s.Reset()
	if again := []int32{s.Sample(logits), s.Sample(logits), s.Sample(logits)}; !slices.Equal(first, again) {
		t.Errorf("after Reset %v, want %v", again, first)
	}
}

func TestPenalties(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		logits   []float32
		accepted []int32
		want     int32
	}{
		{name: "repeat divides positive logit", cfg: Config{RepeatPenalty: 2, RepeatLastN: 4},
			logits: []float32{2, 1.5}, accepted: []int32{0}, want: 1},
		{name: "repeat multiplies negative logit", cfg: Config{RepeatPenalty: 2, RepeatLastN: 4},
			logits: []float32{-1, -1.5}, accepted: []int32{0}, want: 1},
		{name: "penalty 1 is off", cfg: Config{RepeatPenalty: 1, RepeatLastN: 4},
			logits: []float32{2, 1.5}, accepted: []int32{0}, want: 0},
		{name: "window forgets old tokens", cfg: Config{RepeatPenalty: 2, RepeatLastN: 1},
			logits: []float32{2, 1.5, 0}, accepted: []int32{0, 2}, want: 0},
		{name: "no window no penalty", cfg: Config{RepeatPenalty: 2},
			logits: []float32{2, 1.5}, accepted: []int32{0}, want: 0},
		{name: "frequency counts repeats", cfg: Config{FrequencyPenalty: 0.3, RepeatLastN: 8},
			logits: []float32{2, 1.5}, accepted: []int32{0, 0}, want: 1},
		{name: "frequency once is not enough", cfg: Config{FrequencyPenalty: 0.3, RepeatLastN: 8},
			logits: []float32{2, 1.5}, accepted: []int32{0}, want: 0},
		{name: "presence", cfg: Config{PresencePenalty: 0.6, RepeatLastN: 8},
			logits: []float32{2, 1.5}, accepted: []int32{0}, want: 1},
		{name: "ids outside the vocabulary are ignored", cfg: Config{RepeatPenalty: 2, RepeatLastN: 8},
			logits: []float32{2, 1.5}, accepted: []int32{7, -3}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSampler(t, tt.cfg)
			for _, id := range tt.accepted {
				s.Accept(id)
			}
			orig := slices.Clone(tt.logits)
			if got := s.Sample(tt.logits); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
			if !slices.Equal(orig, tt.logits) {
				t.Error("Sample modified the caller's logits")
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	configs := []Config{
		{},
		{Temperature: 1, TopP: 1},
		{Temperature: 0.7, TopK: 3, TopP: 0.5, MinP: 0.2, RepeatPenalty: 1.3, RepeatLastN: 4, Seed: 1},
		{Temperature: 1e-6, TopP: 0},
		{Temperature: 1000, TopK: 1 << 30, TopP: 0.999999, MinP: 1},
	}
	tests := []struct {
		name   string
		logits []float32
		want   []int32 // acceptable results
	}{
		{name: "empty", logits: nil, want: []int32{-1}},
		{name: "single", logits: []float32{0.3}, want: []int32{0}},
		{name: "all -inf", logits: []float32{-inf, -inf, -inf}, want: []int32{0}},
		{name: "all NaN", logits: []float32{nan, nan}, want: []int32{0}},
		{name: "NaN is never drawn", logits: []float32{nan, 1, nan, 0.5}, want: []int32{1, 3}},
		{name: "+inf wins", logits: []float32{1, inf, 2, inf}, want: []int32{1}},
		{name: "one finite", logits: []float32{-inf, -inf, 3, -inf}, want: []int32{2}},
		{name: "huge logits", logits: []float32{3e38, 3e38, -3e38}, want: []int32{0, 1}},
	}
	for _, cfg := range configs {
		for _, tt := range tests {
			s := newSampler(t, cfg)
			for i := 0; i < 20; i++ {
				got := s.Sample(tt.logits)
				if !slices.Contains(tt.want, got) {
					t.Errorf("%+v %s: got %d, want one of %v", cfg, tt.name, got, tt.want)
					break
				}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "negative top-p", cfg: Config{TopP: -0.1}},
		{name: "min-p above one", cfg: Config{MinP: 1.5}},
		{name: "NaN temperature", cfg: Config{Temperature: float32(math.NaN())}},
		{name: "inf penalty", cfg: Config{RepeatPenalty: float32(math.Inf(1))}},
		{name: "negative window", cfg: Config{RepeatLastN: -1}},
		{name: "negative penalty", cfg: Config{RepeatPenalty: -1}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v", tt.name, err)
		}
	}
}

func TestSelectTop(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(3000)
		c := make([]cand, n)
		for i := range c {
			c[i] = cand{id: int32(i), logit: float32(rng.IntN(20))} // many ties
		}
		want := slices.Clone(c)
		slices.SortFunc(want, byLogitDesc)
		k := 1 + rng.IntN(n)
		if trial%2 == 0 {
			quickselect(c, k)
		} else {
			selectTop(c, k)
		}
		got := slices.Clone(c[:k])
		slices.SortFunc(got, byLogitDesc)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("n=%d k=%d: top set differs", n, k)
		}
	}
}

func TestNoAllocationsPerToken(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	logits := make([]float32, 50000)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 2)
	}
	for _, cfg := range []Config{
		{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, Seed: 1},
		{Temperature: 0.8, TopP: 0.9, Seed: 1},
		{},
	} {
		s := newSampler(t, cfg)
		s.Sample(logits) // size the buffer
		if n := testing.AllocsPerRun(20, func() { s.Sample(logits) }); n != 0 {
			t.Errorf("%+v: %v allocations per token", cfg, n)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	for _, bc := range []struct {
		name  string
		vocab int
		cfg   Config
	}{
		// Qwen2.5's vocabulary, llama.cpp's default chain.
		{"chain/vocab=151936", 151936, Config{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 1}},
		// SmolLM2's vocabulary, temperature alone: a softmax over every token.
		{"temperature/vocab=49152", 49152, Config{Temperature: 0.8, TopP: 1, Seed: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(5, 6))
			logits := make([]float32, bc.vocab)
			for i := range logits {
				logits[i] = float32(rng.NormFloat64() * 2)
			}
			s, _ := New(bc.cfg)
			for b.Loop() {
				s.Sample(logits)
			}
		})
	}
}

// topP on unsorted candidates sorts only a growing head; it must keep the same nucleus as a
// full sort would.
func TestTopPUnsortedMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 100; trial++ {
		n := 1 + rng.IntN(2000)
		c := make([]cand, n)
		for i := range c {
			c[i] = cand{id: int32(i), logit: float32(rng.NormFloat64() * (0.1 + 3*rng.Float64()))}
		}
		p := float32(rng.Float64())
		ref := slices.Clone(c)
		slices.SortFunc(ref, byLogitDesc)
		want := topP(ref, p, true)
		got := topP(c, p, false)
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d p=%v: nucleus of %d, want %d", n, p, len(got), len(want))
		}
	}
}

// TestGreedyFastPath checks that greedy sampling without penalties, which
// scans the logits directly, picks what the candidate list picks (the same
// sampler with a repeat penalty configured but nothing yet to penalize):
// the first highest logit, NaN as -Inf, on random logits with ties, NaNs
// and infinities.
func TestGreedyFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, 1, 2, 2, -1}
	for range 2000 {
		n := 1 + r.IntN(12)
		logits := make([]float32, n)
		for i := range logits {
			if r.IntN(2) == 0 {
				logits[i] = values[r.IntN(len(values))]
			} else {
				logits[i] = float32(r.NormFloat64())
			}
		}
		fast := newSampler(t, Config{})
		list := newSampler(t, Config{RepeatPenalty: 1.5, RepeatLastN: 8})
		if !list.penalizing() || fast.penalizing() {
			t.Fatal("the two samplers do not take the two paths")
		}
		if got, want := fast.Sample(logits), list.Sample(logits); got != want {
			t.Fatalf("%v: greedy picked %d, the candidate list %d", logits, got, want)
		}
	}
}
