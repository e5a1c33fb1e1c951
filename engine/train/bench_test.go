package train

import (
	"testing"
	"time"
)

// BenchmarkStep measures training throughput on the shipped model's shape with random tokens.
func BenchmarkStep(b *testing.B) {
	c := Config{Vocab: 4096, Dim: 128, Layers: 4, Heads: 4, KVHeads: 2, FFN: 384, Context: 256, NormEps: 1e-5, RopeBase: 10000}
	h := Hyper{Seed: 1, Steps: 1000, Warmup: 10, BatchSeqs: 8, Workers: 2, LR: 1e-3, MinLR: 1e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Clip: 1}
	s, err := NewState(c, h)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(s)
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDataset(randomTokens(c, 100000, 1), c.Context)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := tr.Step(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*h.BatchSeqs*c.Context)/time.Since(start).Seconds(), "tokens/s")
}
