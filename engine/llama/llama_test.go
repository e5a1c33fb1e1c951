package llama

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/quant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBatchMatchesSingle checks that a prompt fed as one batch and token by
// token gives the same logits (the batch path must not mix up tokens).
func TestBatchMatchesSingle(t *testing.T) {
	path, _ := buildFile(t, tinySpec(quant.Q4_0, false), t.TempDir())
	m, done := loadModel(t, path)
	defer done()
	vocab := m.Config().Vocab
	a, b := m.NewSession(32), m.NewSession(32)
	defer a.Close()
	defer b.Close()
	all, err := a.DecodeAll(refPrompt)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range refPrompt {
		l, err := b.Decode([]int32{tok})
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := l[0], l[0]
		var diff float64
		for j, v := range l {
			lo, hi = min(lo, v), max(hi, v)
			diff = max(diff, math.Abs(float64(v-all[i*vocab+j])))
		}
		if diff > 0.02*float64(hi-lo) {
			t.Errorf("position %d: batch and single-token logits differ by %g", i, diff)
		}
	}
}

func TestSessionErrors(t *testing.T) {
	path, _ := buildFile(t, tinySpec(quant.Q8_0, false), t.TempDir())
	m, done := loadModel(t, path)
	defer done()
	s := m.NewSession(4)
	defer s.Close()
	for _, tc := range []struct {
		name   string
		tokens []int32
		want   error
	}{
		{name: "no tokens", tokens: nil, want: ErrToken},
		{name: "negative id", tokens: []int32{-1}, want: ErrToken},
		{name: "id past the vocabulary", tokens: []int32{320}, want: ErrToken},
		{name: "more than the context", tokens: []int32{1, 2, 3, 4, 5}, want: ErrContextFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Decode(tc.tokens); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if s.Len() != 0 {
				t.Errorf("a failed decode left %d tokens in the cache", s.Len())
			}
		})
	}
}

// asArch relabels a one-block tiny llama file as arch, with the keys it
// needs under arch's prefix, so that only its tensors are wrong.
func asArch(w *gguf.Writer, arch string) error {
	for _, kv := range []struct {
		k string
		v any
	}{
		{k: "general.architecture", v: arch}, {k: ".context_length", v: uint32(256)}, {k: ".embedding_length", v: uint32(256)},
		{k: ".block_count", v: uint32(1)}, {k: ".feed_forward_length", v: uint32(512)}, {k: ".attention.head_count", v: uint32(4)},
		{k: ".attention.head_count_kv", v: uint32(2)}, {k: ".attention.layer_norm_rms_epsilon", v: float32(1e-5)},
	} {
		if kv.k[0] == '.' {
			kv.k = arch + kv.k
		}
		if err := w.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}

// TestLoadErrors builds files with one thing wrong and expects a clear
// error, never a panic.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(w *gguf.Writer) error
		want   error
	}{
		{name: "unknown architecture", mutate: func(w *gguf.Writer) error { return w.Set("general.architecture", "mamba") }, want: ErrArch},
		{name: "heads do not divide", mutate: func(w *gguf.Writer) error { return w.Set("llama.attention.head_count", uint32(3)) }, want: ErrMetadata},
		{name: "feed-forward length disagrees", mutate: func(w *gguf.Writer) error { return w.Set("llama.feed_forward_length", uint32(768)) }, want: ErrTensor},
		{name: "more blocks than tensors", mutate: func(w *gguf.Writer) error { return w.Set("llama.block_count", uint32(4)) }, want: ErrTensor},
		{name: "no epsilon", mutate: func(w *gguf.Writer) error { return w.Set("llama.attention.layer_norm_rms_epsilon", float32(0)) }, want: ErrMetadata},
		{name: "yarn scaling without a factor", mutate: func(w *gguf.Writer) error { return w.Set("llama.rope.scaling.type", "yarn") }, want: ErrMetadata},
		{name: "unknown rope scaling", mutate: func(w *gguf.Writer) error { return w.Set("llama.rope.scaling.type", "longrope") }, want: ErrMetadata},
		{name: "value heads of another width", mutate: func(w *gguf.Writer) error { return w.Set("llama.attention.value_length", uint32(32)) }, want: ErrMetadata},
		{name: "qwen3 without q/k norms", mutate: func(w *gguf.Writer) error { return asArch(w, "qwen3") }, want: ErrTensor},
		{name: "gemma2 without post-norms", mutate: func(w *gguf.Writer) error { return asArch(w, "gemma2") }, want: ErrTensor},
		{name: "bias of an unsupported type", mutate: func(w *gguf.Writer) error {
			return w.AddTensor("blk.0.attn_q.bias", gguf.IQ2_XXS, []uint64{256}, make([]byte, 66))
		}, want: ErrTensor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := tinySpec(quant.Q8_0, false)
			sp.Blocks = 1
			w, err := sp.Build()
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.mutate(w); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "bad.gguf")
			if err := w.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = New(f, Options{})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDecodeAllocs checks that generating a token allocates nothing, alone
// and in a Batch, for each architecture's layer.
func TestDecodeAllocs(t *testing.T) {
	dir := t.TempDir()
	for _, sp := range []Synthetic{tinySpec(quant.Q8_0, false), qwen3Spec, gemma2Spec, gemma3Spec, phi3LongSpec, yarnSpec} {
		t.Run(sp.Name, func(t *testing.T) {
			path, _ := buildFile(t, sp, dir)
			m, done := loadModel(t, path)
			defer done()
			s := m.NewSession(256)
			defer s.Close()
			if _, err := s.Decode(refPrompt); err != nil {
				t.Fatal(err)
			}
			tok := []int32{5}
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := s.Decode(tok); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per token", allocs)
			}
			b := m.NewBatch()
			defer b.Close()
			bs := m.NewSession(256)
			defer bs.Close()
			seqs := []BatchSeq{{Session: bs, Tokens: refPrompt, Logits: true}}
			if _, err := b.Step(seqs); err != nil {
				t.Fatal(err)
			}
			seqs[0].Tokens = tok
			allocs = testing.AllocsPerRun(20, func() {
				if _, err := b.Step(seqs); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per batch step", allocs)
			}
		})
	}
}

// TestPacking checks which matrices a model packs: on CPUs with the packed
// kernels every Q8_0, Q4_0, IQ4_NL and Q5_0 matrix the products read (the tied output too, not
// the embeddings' lookup table), none of another type, and none with
// Options.NoPack.
func TestPacking(t *testing.T) {
	dir := t.TempDir()
	for _, sp := range []Synthetic{tinySpec(quant.Q8_0, false), tinySpec(quant.Q4_0, true), tinySpec(quant.IQ4_NL, true), tinySpec(quant.Q5_0, true), tinySpec(quant.F16, true)} {
		path, _ := buildFile(t, sp, dir)
		for _, noPack := range []bool{false, true} {
			m, done := loadModelWith(t, path, Options{NoPack: noPack})
			want := quant.PackingType(sp.Type) && !noPack
			mats := map[string]*Matrix{"output": &m.output}
			for i := range m.layers {
				l := &m.layers[i]
				for name, w := range map[string]*Matrix{"wq": &l.wq, "wk": &l.wk, "wv": &l.wv, "wo": &l.wo, "gate": &l.gate, "up": &l.up, "down": &l.down} {
					mats[fmt.Sprintf("layer %d %s", i, name)] = w
				}
			}
			for name, w := range mats {
				if got := w.Packed != nil; got != want {
					t.Errorf("%s NoPack=%v: %s packed %v, want %v", sp.Name, noPack, name, got, want)
				}
				if w.Packed != nil && len(w.Packed) != len(w.Data) {
					t.Errorf("%s: %s packed into %d bytes, its rows hold %d", sp.Name, name, len(w.Packed), len(w.Data))
				}
			}
			if m.tokEmbd.Packed != nil {
				t.Errorf("%s: the embeddings' lookup table was packed", sp.Name)
			}
			var packed int64
			for _, w := range mats {
				packed += int64(len(w.Packed))
			}
			if got := m.PackedBytes(); got != packed || (packed > 0) != want {
				t.Errorf("%s NoPack=%v: PackedBytes %d, the matrices hold %d packed bytes", sp.Name, noPack, got, packed)
			}
			done()
		}
	}
}
