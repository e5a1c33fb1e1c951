package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
)

// smolLM2Q8 writes (once, where enginebench keeps its models) and loads the SmolLM2-135M-shaped
// Q8_0 model with random weights.
func smolLM2Q8(b *testing.B, opts ...Option) *Model {
	sp := llama.SmolLM2Shape(quant.Q8_0)
	dir := filepath.Join(os.TempDir(), "enginebench")
	path := filepath.Join(dir, sp.Name+".gguf")
	if _, err := os.Stat(path); err != nil {
		w, err := sp.Build()
		if err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := w.WriteFile(path + ".tmp"); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			b.Fatal(err)
		}
	}
	m, err := Load(path, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkConcurrentDecode is the aggregate decode speed of 1, 4 and 8 concurrent streams
// (tok/s: tokens of every stream over the wall time), each generating 32 tokens after a
// one-word prompt on a model with 8 slots, so the streams share decode steps.
func BenchmarkConcurrentDecode(b *testing.B) {
	const gen = 32
	for _, mc := range []struct {
		name string
		load func(*testing.B, ...Option) *Model
	}{
		{name: "chorus-mini", load: func(b *testing.B, o ...Option) *Model { return loadShipped(b, o...) }},
		{name: "smollm2-135m-Q8_0", load: smolLM2Q8},
	} {
		b.Run(mc.name, func(b *testing.B) {
			m := mc.load(b, WithSessions(8))
			prompt := m.Encode("The")
			for _, streams := range []int{1, 4, 8} {
				b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
					round := func() int {
						var wg sync.WaitGroup
						var mu sync.Mutex
						n := 0
						for i := range streams {
							wg.Go(func() {
								out, err := m.GenerateTokens(context.Background(), TokenRequest{Prompt: prompt, MaxTokens: gen,
									Temperature: 0.8, Seed: uint64(i)}, func(int32) error { return nil })
								if err != nil {
									b.Error(err)
								}
								mu.Lock()
								n += len(out)
								mu.Unlock()
							})
						}
						wg.Wait()
						return n
					}
					round() // builds the slots' caches, untimed
					m.sched.mu.Lock()
					steps0, seqs0 := m.sched.steps, m.sched.seqsRun
					m.sched.mu.Unlock()
					tokens := 0
					for b.Loop() {
						tokens += round()
					}
					b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
					m.sched.mu.Lock()
					b.ReportMetric(float64(m.sched.seqsRun-seqs0)/float64(m.sched.steps-steps0), "seqs/step")
					m.sched.mu.Unlock()
				})
			}
		})
	}
}
