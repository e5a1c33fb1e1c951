package llama

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chorus-ai/chorus/engine/quant"
)

// BenchmarkBatchStep is one decode step of n sequences on the SmolLM2-135M-shaped Q8_0 model
// (written once where enginebench keeps its models): tok/s is n over the step's time, the
// speed of the forward pass alone, without sampling or scheduling.
func BenchmarkBatchStep(b *testing.B) {
	sp := SmolLM2Shape(quant.Q8_0)
	dir := filepath.Join(os.TempDir(), "enginebench")
	path := filepath.Join(dir, sp.Name+".gguf")
	if _, err := os.Stat(path); err != nil {
		path, _ = buildFile(b, sp, b.TempDir())
	}
	m, done := loadModel(b, path)
	defer done()
	bt := m.NewBatch()
	defer bt.Close()
	for _, n := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("seqs=%d", n), func(b *testing.B) {
			seqs := make([]BatchSeq, n)
			for i := range seqs {
				s := m.NewSession(512)
				defer s.Close()
				if _, err := s.Decode(refPrompt); err != nil {
					b.Fatal(err)
				}
				seqs[i] = BatchSeq{Session: s, Tokens: []int32{int32(300 + i)}, Logits: true}
			}
			for b.Loop() {
				for _, sq := range seqs {
					if sq.Session.Len() >= sq.Session.Cap() {
						sq.Session.Truncate(len(refPrompt))
					}
				}
				if _, err := bt.Step(seqs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
