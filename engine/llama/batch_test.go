package llama

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chorus-ai/chorus/engine/quant"
)

// batchPrompts are three sequences of different lengths.
var batchPrompts = [][]int32{refPrompt, refPrompt[4:], {1, 72, 101, 108}}

// runBatched feeds every prompt, then greedy tokens, through Batch steps:
// the second prompt in two chunks beside the others, then every sequence
// decoding in one step; only the sequences in seqs take part. It returns,
// per sequence, the logits after its prompt and after each decoded token.
func runBatched(t *testing.T, m *Model, seqs []int, steps int) [][][]float32 {
	t.Helper()
	b := m.NewBatch()
	defer b.Close()
	sess := make([]*Session, len(batchPrompts))
	for _, i := range seqs {
		sess[i] = m.NewSession(64)
		defer sess[i].Close()
	}
	out := make([][][]float32, len(batchPrompts))
	vocab := m.Config().Vocab
	collect := func(part []BatchSeq, idx []int) {
		t.Helper()
		lg, err := b.Step(part)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for j, sq := range part {
			if sq.Logits {
				out[idx[j]] = append(out[idx[j]], slices.Clone(lg[k*vocab:(k+1)*vocab]))
				k++
			}
		}
	}
	// Prefill: the second prompt's first chunk shares a step with the
	// first prompt, its rest with the third.
	var part []BatchSeq
	var idx []int
	for _, i := range seqs {
		switch i {
		case 0:
			part, idx = append(part, BatchSeq{Session: sess[0], Tokens: batchPrompts[0], Logits: true}), append(idx, 0)
		case 1:
			part, idx = append(part, BatchSeq{Session: sess[1], Tokens: batchPrompts[1][:3]}), append(idx, 1)
		}
	}
	if len(part) > 0 {
		collect(part, idx)
	}
	part, idx = nil, nil
	for _, i := range seqs {
		switch i {
		case 1:
			part, idx = append(part, BatchSeq{Session: sess[1], Tokens: batchPrompts[1][3:], Logits: true}), append(idx, 1)
		case 2:
			part, idx = append(part, BatchSeq{Session: sess[2], Tokens: batchPrompts[2], Logits: true}), append(idx, 2)
		}
	}
	if len(part) > 0 {
		collect(part, idx)
	}
	for range steps {
		part, idx = nil, nil
		for _, i := range seqs {
			last := out[i][len(out[i])-1]
			part = append(part, BatchSeq{Session: sess[i], Tokens: []int32{argmax(last)}, Logits: true})
			idx = append(idx, i)
		}
		collect(part, idx)
	}
	return out
}

// TestBatchStep checks batched steps against sessions decoded on their
// own: the logits of every sequence agree within the reference tolerance,
// and a sequence's logits are bit for bit the same whether it shares its
// steps with others or runs alone in a Batch.
func TestBatchStep(t *testing.T) {
	dir := t.TempDir()
	paths := map[string]string{"chorus-mini": filepath.Join("..", "..", "models", "chorus-mini.gguf")}
	for _, sp := range []Synthetic{tinySpec(quant.Q8_0, false), tinySpec(quant.F16, true), mixSpec(), qwen2Spec(quant.Q8_0),
		qwen3Spec, gemmaSpec, gemma2Spec, gemma3Spec, phi3Spec, phi3LongSpec, yarnSpec, llama3RopeSpec} {
		paths[sp.Name], _ = buildFile(t, sp, dir)
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			m, done := loadModel(t, path)
			defer done()
			const steps = 5
			together := runBatched(t, m, []int{0, 1, 2}, steps)
			var worst float64
			for i, p := range batchPrompts {
				alone := runBatched(t, m, []int{i}, steps)[i]
				if len(alone) != steps+1 || len(together[i]) != steps+1 {
					t.Fatalf("sequence %d: %d and %d rows of logits, want %d", i, len(alone), len(together[i]), steps+1)
				}
				s := m.NewSession(64)
				defer s.Close()
				want, err := s.Decode(p)
				if err != nil {
					t.Fatal(err)
				}
				for k := range alone {
					if !slices.Equal(alone[k], together[i][k]) {
						t.Errorf("sequence %d step %d: logits differ between a batch of one and of three", i, k)
					}
					worst = max(worst, compareLogits(t, k, together[i][k], want))
					if k < steps {
						if want, err = s.Decode([]int32{argmax(together[i][k])}); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			t.Logf("max |logit diff| / range against Session.Decode: %.2e", worst)
		})
	}
}

func TestBatchStepErrors(t *testing.T) {
	path, _ := buildFile(t, tinySpec(quant.Q8_0, false), t.TempDir())
	m, done := loadModel(t, path)
	defer done()
	b := m.NewBatch()
	defer b.Close()
	s, full, big := m.NewSession(8), m.NewSession(4), m.NewSession(256)
	defer s.Close()
	defer full.Close()
	defer big.Close()
	if _, err := full.Decode([]int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	long := make([]int32, MaxBatch+1)
	for _, tc := range []struct {
		name string
		seqs []BatchSeq
		want error
	}{
		{name: "no sequences", seqs: nil, want: ErrToken},
		{name: "no session", seqs: []BatchSeq{{Tokens: []int32{1}}}, want: ErrToken},
		{name: "no tokens", seqs: []BatchSeq{{Session: s}}, want: ErrToken},
		{name: "token outside the vocabulary", seqs: []BatchSeq{{Session: s, Tokens: []int32{320}}}, want: ErrToken},
		{name: "session twice", seqs: []BatchSeq{{Session: s, Tokens: []int32{1}}, {Session: s, Tokens: []int32{2}}}, want: ErrToken},
		{name: "context full", seqs: []BatchSeq{{Session: s, Tokens: []int32{1}}, {Session: full, Tokens: []int32{1, 2}}}, want: ErrContextFull},
		{name: "more than a step", seqs: []BatchSeq{{Session: big, Tokens: long}}, want: ErrToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.Step(tc.seqs); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if s.Len() != 0 || full.Len() != 3 {
				t.Errorf("a failed step moved the sessions to %d and %d tokens", s.Len(), full.Len())
			}
		})
	}
}

// TestLongRoPEPerSession checks that each session takes LongRoPE's factors
// by its own context, in a Batch as alone: a 256-token session (over the
// original 64) uses the long factors, a 64-token one the short, and both
// share one step.
func TestLongRoPEPerSession(t *testing.T) {
	path, _ := buildFile(t, phi3LongSpec, t.TempDir())
	m, done := loadModel(t, path)
	defer done()
	alone := map[int][]float32{}
	for _, ctx := range []int{64, 256} {
		s := m.NewSession(ctx)
		defer s.Close()
		l, err := s.Decode(refPrompt)
		if err != nil {
			t.Fatal(err)
		}
		alone[ctx] = slices.Clone(l)
	}
	if d := compareLogitsQuiet(alone[64], alone[256]); d < 1e-3 {
		t.Fatalf("short and long factors give logits only %.2e of the range apart", d)
	}
	b := m.NewBatch()
	defer b.Close()
	short, long := m.NewSession(64), m.NewSession(256)
	defer short.Close()
	defer long.Close()
	lg, err := b.Step([]BatchSeq{{Session: short, Tokens: refPrompt, Logits: true}, {Session: long, Tokens: refPrompt, Logits: true}})
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Config().Vocab
	for i, ctx := range []int{64, 256} {
		if d := compareLogitsQuiet(lg[i*vocab:(i+1)*vocab], alone[ctx]); d > 1e-3 {
			t.Errorf("context %d: batched logits %.2e of the range from the session's own", ctx, d)
		}
	}
}

// compareLogitsQuiet is the largest |got-want| over want's range.
func compareLogitsQuiet(got, want []float32) float64 {
	lo, hi := want[0], want[0]
	var d float64
	for i, w := range want {
		lo, hi = min(lo, w), max(hi, w)
		d = max(d, math.Abs(float64(got[i]-w)))
	}
	return d / float64(hi-lo)
}
