package llama

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/quant"
)

// Synthetic describes a llama-shaped model with random weights, built
// deterministically from Seed: the test models the reference comparisons
// run on and the benchmark's stand-in for real checkpoints.
type Synthetic struct {
	Name string
	// Arch is one of Archs, "llama" by default. Each gets the tensors
	// llama.cpp loads for it: qwen2 adds q/k/v biases; qwen3 and gemma3
	// q/k norms; gemma2 and gemma3 post-attention and post-FFN norms (and
	// gemma and gemma2 never an output.weight); phi3 fuses attn_qkv and holds the
	// gate in ffn_up (2×FFN rows).
	Arch      string
	Embedding int
	Blocks    int
	FFN       int
	Heads     int
	KVHeads   int
	// HeadDim, when set, is written as attention.key_length and
	// value_length; the heads are Embedding/Heads wide otherwise.
	HeadDim  int
	Context  int
	Vocab    int // at least 259: <unk>, <s>, </s> and 256 byte tokens
	RopeBase float32
	// SlidingWindow, when set, is written as attention.sliding_window.
	SlidingWindow int
	// AttnSoftCap and FinalSoftCap, when set, are written as
	// attn_logit_softcapping and final_logit_softcapping.
	AttnSoftCap, FinalSoftCap float32
	// RopeScaling, when set, is written as rope.scaling.type with
	// RopeFactor as rope.scaling.factor and RopeOrigContext (when set) as
	// rope.scaling.original_context_length.
	RopeScaling     RopeScaling
	RopeFactor      float32
	RopeOrigContext int
	// RopeFreqs, when set, is stored as rope_freqs.weight (RopeDim/2
	// frequency divisors; see Llama3RopeFreqs).
	RopeFreqs []float32
	// RopeFactorsShort and RopeFactorsLong, when set, are stored as
	// LongRoPE's rope_factors_short/long.weight (phi3), and RopeAttnFactor
	// as rope.scaling.attn_factor.
	RopeFactorsShort, RopeFactorsLong []float32
	RopeAttnFactor                    float32
	// Type is the type of every 2-D weight; norms stay F32, as in
	// llama.cpp's own files.
	Type quant.Type
	// Types overrides Type for some 2-D weights, by name without the
	// "blk.N." prefix ("attn_v.weight", "token_embd.weight", ...), as
	// llama-quantize's mixes do (Q4_K_M keeps attn_v and ffn_down in Q6_K).
	Types map[string]quant.Type
	// Untied adds a separate output.weight instead of reusing token_embd.
	Untied bool
	Seed   uint64
	// ChatTemplate, when set, is stored as tokenizer.chat_template.
	ChatTemplate string
}

// SmolLM2Shape is SmolLM2-135M's shape (tied embeddings, GQA 9/3).
func SmolLM2Shape(t quant.Type) Synthetic {
	return Synthetic{Name: "smollm2-135m-shape-" + t.String(), Embedding: 576, Blocks: 30, FFN: 1536, Heads: 9, KVHeads: 3,
		Context: 8192, Vocab: 49152, RopeBase: 100000, Type: t, Seed: 135}
}

// KQuantShape is a SmolLM2-like shape whose rows are multiples of 256, so
// every matrix can hold K-quants (SmolLM2's 576 cannot): 30 layers,
// embedding 768, GQA 12/4, FFN 2048, vocabulary 49152, tied embeddings.
func KQuantShape(t quant.Type) Synthetic {
	return Synthetic{Name: "k768-shape-" + t.String(), Embedding: 768, Blocks: 30, FFN: 2048, Heads: 12, KVHeads: 4,
		Context: 8192, Vocab: 49152, RopeBase: 100000, Type: t, Seed: 768}
}

// splitmix64 is the generator: fully specified, so a seed gives the same
// file on every platform and Go version (the tests check a sha256).
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// uniform returns a value in [-a, a).
func (s *splitmix64) uniform(a float32) float32 {
	return (float32(s.next()>>40)/(1<<24)*2 - 1) * a
}

// fileType maps a weight type to llama.cpp's general.file_type (LLAMA_FTYPE_*).
func fileType(t quant.Type) uint32 {
	switch t {
	case quant.F32:
		return 0
	case quant.F16:
		return 1
	case quant.Q4_0:
		return 2
	case quant.Q8_0:
		return 7
	case quant.Q4_K:
		return 15 // Q4_K_M
	case quant.Q6_K:
		return 18
	case quant.Q4_1:
		return 3
	case quant.Q5_0:
		return 8
	case quant.Q5_1:
		return 9
	case quant.Q2_K:
		return 10
	case quant.Q3_K:
		return 12 // Q3_K_M
	case quant.Q5_K:
		return 17 // Q5_K_M
	case quant.IQ4_NL:
		return 25
	case quant.IQ4_XS:
		return 30
	case quant.BF16:
		return 32
	}
	return 0
}

// Build returns a GGUF writer holding the model. Uniform weights scaled by
// 1/sqrt(fan-in) keep activations near unit size through the layers, so
// logits spread over a few units like a real model's.
func (sp Synthetic) Build() (*gguf.Writer, error) {
	if sp.Vocab < 259 {
		return nil, fmt.Errorf("%w: synthetic vocabulary %d < 259", ErrMetadata, sp.Vocab)
	}
	if sp.Heads == 0 || sp.KVHeads == 0 || sp.HeadDim == 0 && sp.Embedding%sp.Heads != 0 || sp.Heads%sp.KVHeads != 0 {
		return nil, fmt.Errorf("%w: synthetic heads %d/%d for embedding %d", ErrMetadata, sp.Heads, sp.KVHeads, sp.Embedding)
	}
	arch := sp.Arch
	if arch == "" {
		arch = "llama"
	}
	if !slices.Contains(Archs, arch) {
		return nil, fmt.Errorf("%w: synthetic %q", ErrArch, arch)
	}
	hd := sp.Embedding / sp.Heads
	if sp.HeadDim != 0 {
		hd = sp.HeadDim
	}
	switch {
	case (arch == "gemma" || arch == "gemma2") && sp.Untied:
		return nil, fmt.Errorf("%w: %s has no separate output.weight", ErrMetadata, arch)
	case arch == "phi3" && sp.Heads*hd != sp.Embedding:
		return nil, fmt.Errorf("%w: phi3 needs heads×head dimension = embedding", ErrMetadata)
	}
	for _, r := range [][]float32{sp.RopeFreqs, sp.RopeFactorsShort, sp.RopeFactorsLong} {
		if r != nil && len(r) != hd/2 {
			return nil, fmt.Errorf("%w: %d rope frequencies for head dimension %d", ErrMetadata, len(r), hd)
		}
	}
	w := gguf.NewWriter()
	base := sp.RopeBase
	if base == 0 {
		base = 10000
	}
	kv := []struct {
		k string
		v any
	}{
		{k: "general.architecture", v: arch},
		{k: "general.name", v: sp.Name},
		{k: "general.file_type", v: fileType(sp.Type)},
		{k: arch + ".context_length", v: uint32(sp.Context)},
		{k: arch + ".embedding_length", v: uint32(sp.Embedding)},
		{k: arch + ".block_count", v: uint32(sp.Blocks)},
		{k: arch + ".feed_forward_length", v: uint32(sp.FFN)},
		{k: arch + ".attention.head_count", v: uint32(sp.Heads)},
		{k: arch + ".attention.head_count_kv", v: uint32(sp.KVHeads)},
		{k: arch + ".attention.layer_norm_rms_epsilon", v: float32(1e-5)},
		{k: arch + ".rope.freq_base", v: base},
		{k: arch + ".rope.dimension_count", v: uint32(hd)},
		{k: arch + ".vocab_size", v: uint32(sp.Vocab)},
		{k: "tokenizer.ggml.model", v: "llama"},
		{k: "tokenizer.ggml.bos_token_id", v: uint32(1)},
		{k: "tokenizer.ggml.eos_token_id", v: uint32(2)},
		{k: "tokenizer.ggml.unknown_token_id", v: uint32(0)},
		{k: "tokenizer.ggml.add_bos_token", v: true},
		{k: "tokenizer.ggml.add_eos_token", v: false},
	}
	for _, e := range kv {
		if err := w.Set(e.k, e.v); err != nil {
			return nil, err
		}
	}
	var extra []struct {
		k string
		v any
	}
	set := func(k string, v any) {
		extra = append(extra, struct {
			k string
			v any
		}{k: arch + "." + k, v: v})
	}
	if sp.HeadDim != 0 {
		set("attention.key_length", uint32(hd))
		set("attention.value_length", uint32(hd))
	}
	if sp.SlidingWindow != 0 {
		set("attention.sliding_window", uint32(sp.SlidingWindow))
	}
	if sp.AttnSoftCap != 0 {
		set("attn_logit_softcapping", sp.AttnSoftCap)
	}
	if sp.FinalSoftCap != 0 {
		set("final_logit_softcapping", sp.FinalSoftCap)
	}
	if sp.RopeScaling != "" {
		set("rope.scaling.type", string(sp.RopeScaling))
		set("rope.scaling.factor", sp.RopeFactor)
	}
	if sp.RopeOrigContext != 0 {
		set("rope.scaling.original_context_length", uint32(sp.RopeOrigContext))
	}
	if sp.RopeAttnFactor != 0 {
		set("rope.scaling.attn_factor", sp.RopeAttnFactor)
	}
	for _, e := range extra {
		if err := w.Set(e.k, e.v); err != nil {
			return nil, err
		}
	}
	if sp.ChatTemplate != "" {
		if err := w.Set("tokenizer.chat_template", sp.ChatTemplate); err != nil {
			return nil, err
		}
	}
	tokens, scores, types := syntheticVocab(sp.Vocab)
	if arch == "phi3" {
		// llama.cpp gives Phi-3's special tokens attributes by their text
		// and needs <|endoftext|> to be there; it takes the last id.
		tokens[len(tokens)-1], scores[len(scores)-1], types[len(types)-1] = "<|endoftext|>", 0, 3
	}
	for _, e := range []struct {
		k string
		v any
	}{{k: "tokenizer.ggml.tokens", v: tokens}, {k: "tokenizer.ggml.scores", v: scores}, {k: "tokenizer.ggml.token_type", v: types}} {
		if err := w.Set(e.k, e.v); err != nil {
			return nil, err
		}
	}

	rng := splitmix64(sp.Seed)
	add := func(name string, t quant.Type, cols, rows int, scale float32, offset float32) error {
		key := name
		if strings.HasPrefix(key, "blk.") {
			key = key[strings.IndexByte(key[4:], '.')+5:]
		}
		if o, ok := sp.Types[key]; ok && rows > 1 {
			t = o
		}
		x := make([]float32, cols*rows)
		for i := range x {
			x[i] = offset + rng.uniform(scale)
		}
		data, err := quant.Quantize(t, x, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		dims := []uint64{uint64(cols), uint64(rows)}
		if rows == 1 {
			dims = dims[:1]
		}
		return w.AddTensor(name, gguf.Type(t), dims, data)
	}
	// sqrt(3) turns a uniform half-width into unit variance.
	fan := func(n int) float32 { return float32(math.Sqrt(3 / float64(n))) }
	qDim, kvDim := sp.Heads*hd, sp.KVHeads*hd
	if err := add("token_embd.weight", sp.Type, sp.Embedding, sp.Vocab, 2*fan(sp.Embedding), 0); err != nil {
		return nil, err
	}
	fused := arch == "phi3"
	qkNorm := arch == "qwen3" || arch == "gemma3"
	postNorms := arch == "gemma2" || arch == "gemma3"
	for i := range sp.Blocks {
		p := fmt.Sprintf("blk.%d.", i)
		for _, t := range []struct {
			name       string
			typ        quant.Type
			cols, rows int
			scale, off float32
			skip       bool
		}{
			{name: "attn_norm.weight", typ: quant.F32, cols: sp.Embedding, rows: 1, scale: 0.2, off: 1},
			{name: "attn_qkv.weight", typ: sp.Type, cols: sp.Embedding, rows: qDim + 2*kvDim, scale: fan(sp.Embedding), skip: !fused},
			{name: "attn_q.weight", typ: sp.Type, cols: sp.Embedding, rows: qDim, scale: fan(sp.Embedding), skip: fused},
			{name: "attn_k.weight", typ: sp.Type, cols: sp.Embedding, rows: kvDim, scale: fan(sp.Embedding), skip: fused},
			{name: "attn_v.weight", typ: sp.Type, cols: sp.Embedding, rows: kvDim, scale: fan(sp.Embedding), skip: fused},
			{name: "attn_q.bias", typ: quant.F32, cols: qDim, rows: 1, scale: 0.5, skip: arch != "qwen2"},
			{name: "attn_k.bias", typ: quant.F32, cols: kvDim, rows: 1, scale: 0.5, skip: arch != "qwen2"},
			{name: "attn_v.bias", typ: quant.F32, cols: kvDim, rows: 1, scale: 0.5, skip: arch != "qwen2"},
			{name: "attn_q_norm.weight", typ: quant.F32, cols: hd, rows: 1, scale: 0.2, off: 1, skip: !qkNorm},
			{name: "attn_k_norm.weight", typ: quant.F32, cols: hd, rows: 1, scale: 0.2, off: 1, skip: !qkNorm},
			{name: "attn_output.weight", typ: sp.Type, cols: qDim, rows: sp.Embedding, scale: fan(qDim)},
			{name: "post_attention_norm.weight", typ: quant.F32, cols: sp.Embedding, rows: 1, scale: 0.2, off: 1, skip: !postNorms},
			{name: "ffn_norm.weight", typ: quant.F32, cols: sp.Embedding, rows: 1, scale: 0.2, off: 1},
			{name: "ffn_gate.weight", typ: sp.Type, cols: sp.Embedding, rows: sp.FFN, scale: fan(sp.Embedding), skip: fused},
			{name: "ffn_up.weight", typ: sp.Type, cols: sp.Embedding, rows: sp.FFN, scale: fan(sp.Embedding), skip: fused},
			{name: "ffn_up.weight", typ: sp.Type, cols: sp.Embedding, rows: 2 * sp.FFN, scale: fan(sp.Embedding), skip: !fused},
			{name: "ffn_down.weight", typ: sp.Type, cols: sp.FFN, rows: sp.Embedding, scale: fan(sp.FFN)},
			{name: "post_ffw_norm.weight", typ: quant.F32, cols: sp.Embedding, rows: 1, scale: 0.2, off: 1, skip: !postNorms},
		} {
			if t.skip {
				continue
			}
			if err := add(p+t.name, t.typ, t.cols, t.rows, t.scale, t.off); err != nil {
				return nil, err
			}
		}
	}
	if err := add("output_norm.weight", quant.F32, sp.Embedding, 1, 0.2, 1); err != nil {
		return nil, err
	}
	for _, r := range []struct {
		name string
		v    []float32
	}{{name: "rope_freqs.weight", v: sp.RopeFreqs}, {name: "rope_factors_long.weight", v: sp.RopeFactorsLong},
		{name: "rope_factors_short.weight", v: sp.RopeFactorsShort}} {
		if r.v == nil {
			continue
		}
		if err := w.AddTensor(r.name, gguf.Type(quant.F32), []uint64{uint64(len(r.v))}, f32Bytes(r.v)); err != nil {
			return nil, err
		}
	}
	if sp.Untied {
		if err := add("output.weight", sp.Type, sp.Embedding, sp.Vocab, 2*fan(sp.Embedding), 0); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// Llama3RopeFreqs returns the rope_freqs.weight that llama.cpp's converter
// writes for Llama 3.1's "llama3" rope scaling: per dimension pair, 1 for
// wavelengths under origContext/high, factor above origContext/low, and a
// smooth blend between. (The converter's torch arithmetic is float32, this
// float64: the last bit may differ, which only changes the file, not how
// an engine must read it.)
func Llama3RopeFreqs(base float32, dim int, factor, low, high float64, origContext int) []float32 {
	out := make([]float32, dim/2)
	lowWave, highWave := float64(origContext)/low, float64(origContext)/high
	for i := range out {
		// torch: 1.0 / (base ** (arange(0, dim, 2, dtype=float32) / dim)), in float32
		freq := float64(1 / float32(math.Pow(float64(base), float64(float32(2*i)/float32(dim)))))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(factor)
		default:
			smooth := (float64(origContext)/wave - low) / (high - low)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

// syntheticVocab is a SentencePiece-style vocabulary: the three specials,
// the 256 byte-fallback tokens, then words, letters and filler pieces with
// falling scores.
func syntheticVocab(n int) (tokens []string, scores []float32, types []int32) {
	const (
		normal  = 1
		unknown = 2
		control = 3
		byteTok = 6
	)
	add := func(s string, score float32, t int32) {
		tokens = append(tokens, s)
		scores = append(scores, score)
		types = append(types, t)
	}
	add("<unk>", 0, unknown)
	add("<s>", 0, control)
	add("</s>", 0, control)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, byteTok)
	}
	seen := map[string]bool{}
	piece := func(s string) {
		if len(tokens) < n && !seen[s] {
			seen[s] = true
			add(s, -float32(len(tokens)), normal)
		}
	}
	words := []string{"the", "of", "and", "to", "in", "is", "that", "it", "was", "for", "on", "are", "with",
		"as", "be", "at", "one", "have", "this", "from", "by", "hot", "word", "but", "what", "some", "we",
		"can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "an",
		"each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many", "then", "them",
		"hello", "world", "model", "chorus", "story", "once", "upon", "a", "I", "you", "he", "they"}
	piece("▁")
	for _, w := range words {
		piece("▁" + w)
	}
	for c := 'a'; c <= 'z'; c++ {
		piece(string(c))
		piece("▁" + string(c))
	}
	for c := 'A'; c <= 'Z'; c++ {
		piece(string(c))
	}
	for _, p := range []string{".", ",", "!", "?", ":", "'", "er", "in", "th", "an", "re", "on", "at", "en", "nd", "ed", "es", "ing"} {
		piece(p)
	}
	for i := 0; len(tokens) < n; i++ {
		piece(fmt.Sprintf("▁w%d", i))
	}
	return tokens, scores, types
}
