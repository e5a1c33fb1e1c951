// Package llama runs the forward pass of llama-family decoder transformers
// (the architectures in Archs: llama, qwen2, qwen3, gemma, gemma2, gemma3,
// phi3) over weights held in a GGUF file's memory mapping: a Session
// decodes one sequence with its own KV cache, a Batch steps several
// sessions in one pass over the weights (continuous batching).
package llama

import (
	"errors"
	"fmt"
	"math"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// Sentinel errors; returned errors wrap them with detail.
var (
	// ErrArch reports a model architecture this package does not run.
	ErrArch = errors.New("llama: unsupported architecture")
	// ErrMetadata reports missing or invalid hyperparameters.
	ErrMetadata = errors.New("llama: invalid model metadata")
	// ErrTensor reports a missing tensor or one whose shape or type does not fit the metadata.
	ErrTensor = errors.New("llama: invalid tensor")
	// ErrContextFull reports tokens that would run past the session's context.
	ErrContextFull = errors.New("llama: context is full")
	// ErrToken reports a token id outside the vocabulary.
	ErrToken = errors.New("llama: token id out of range")
)

// RopeScaling is how positions are scaled before the rotary embedding.
type RopeScaling string

// The rope scaling types in GGUF metadata (rope.scaling.type).
const (
	RopeScalingNone   RopeScaling = "none"
	RopeScalingLinear RopeScaling = "linear"
	// RopeScalingYarn blends interpolated and extrapolated angles per
	// dimension and scales the embedding's magnitude, as ggml_rope_ext does.
	RopeScalingYarn RopeScaling = "yarn"
)

// Activation is the feed-forward network's gate activation.
type Activation string

// The gate activations.
const (
	// ActSiLU is llama's and qwen's SwiGLU: silu(gate)·up.
	ActSiLU Activation = "silu"
	// ActGELU is gemma's GeGLU with the tanh approximation of GELU, which
	// ggml looks up in a half-precision table: gelu(half(gate))·up.
	ActGELU Activation = "gelu"
)

// Config holds the hyperparameters read from GGUF metadata.
//
// Architectures:
//   - llama: RMSNorm, SwiGLU, rope on adjacent pairs (the converter permutes
//     Q/K). An optional llama.attention.sliding_window applies Mistral's
//     window to every layer (llama.cpp does not read that key for llama).
//   - qwen2: llama with q/k/v biases and NEOX rope.
//   - qwen3: NEOX rope, RMSNorm of each query and key head (attn_q_norm,
//     attn_k_norm) before the rope, no biases.
//   - gemma: embeddings scaled by sqrt(Embedding), GeGLU (GELU-tanh),
//     NEOX rope, queries scaled before the product, tied output. The
//     converter stores gemma's RMSNorm weights as 1+w, so the graph
//     multiplies by them as they are.
//   - gemma2: gemma with RMSNorm after attention and after the FFN as well
//     as before them, attention and final logits soft-capped (tanh), and a
//     sliding window on even layers (0, 2, ...).
//   - gemma3: gemma2's layer without soft-capping (a final cap only when
//     the file gives one), with q/k norms as qwen3, a sliding window on five
//     layers of every six (the sixth global), and rope base 10000 without
//     scaling on the windowed layers.
//   - phi3: NEOX rope, fused attn_qkv (Q, K, V rows one after another) and
//     a fused ffn_up holding the gate's rows then the up rows; queries
//     scaled before the product; LongRoPE's rope_factors_short/long (a
//     session takes the long ones when its context exceeds
//     rope.scaling.original_context_length). Phi-3's sliding window is
//     ignored, as llama.cpp ignores it.
//
// Rope scaling, for every architecture: linear (rope.scaling.factor),
// YaRN (rope.scaling.type yarn, with original_context_length, attn_factor
// and yarn_beta_fast/slow), and llama-3's per-pair divisors in
// rope_freqs.weight. A windowed layer's KV cache still keeps every
// position; the window only limits what attention reads.
type Config struct {
	Arch          string
	ContextLength int
	Embedding     int
	Blocks        int
	FFN           int
	Heads         int
	KVHeads       int
	HeadDim       int
	Vocab         int
	NormEps       float32
	RopeBase      float32
	RopeDim       int
	RopeScaling   RopeScaling
	RopeFreqScale float32 // 1/factor for linear and YaRN scaling, else 1
	// RopeOrigContext is YaRN's original context (rope.scaling.
	// original_context_length, else ContextLength).
	RopeOrigContext int
	// YarnBetaFast and YarnBetaSlow bound YaRN's blend (32 and 1 unless
	// rope.scaling.yarn_beta_fast/slow say otherwise).
	YarnBetaFast, YarnBetaSlow float32
	// RopeAttnFactor multiplies the rotated values (rope.scaling.attn_factor,
	// 1 by default); YaRN multiplies it further by 1 + 0.1·ln(factor).
	RopeAttnFactor float32
	// RopeNeox rotates pairs (i, i+dim/2) instead of adjacent pairs.
	RopeNeox bool
	// QKVBias: the attention projections carry biases (qwen2).
	QKVBias bool
	// QKNorm: each query and key head is RMS-normalised with its own
	// weights before the rope (qwen3, gemma3).
	QKNorm bool
	// PostNorms: the attention and FFN outputs are RMS-normalised before
	// they are added to the residual stream (gemma2, gemma3).
	PostNorms bool
	// EmbedScale multiplies the token embeddings (gemma: sqrt(Embedding));
	// 0 means none.
	EmbedScale float32
	// FFNAct is the gate activation.
	FFNAct Activation
	// AttnScale multiplies the attention scores: 1/sqrt(HeadDim), or
	// gemma's rule (1/sqrt(Embedding/Heads) for the 27B models).
	AttnScale float32
	// QueryPreScale multiplies the queries by AttnScale before the product
	// with the keys (gemma, phi3) instead of the scores after it: the two
	// round differently, and llama.cpp does it each way per architecture.
	QueryPreScale bool
	// AttnSoftCap and FinalSoftCap cap attention scores and output logits
	// at ±cap by cap·tanh(x/cap) (gemma2); 0 means none.
	AttnSoftCap, FinalSoftCap float32
	// SlidingWindow limits windowed layers to the last SlidingWindow
	// positions, the current one included; 0 means none.
	SlidingWindow int
	// SWAPattern says which layers are windowed: layer i is when
	// SWAPattern is 0 or i%SWAPattern < SWAPattern-1 (llama.cpp's rule:
	// gemma2 2, gemma3 6).
	SWAPattern int
	// RopeBaseSWA and RopeFreqScaleSWA are the windowed layers' rope
	// (gemma3: 10000 and 1; the same as RopeBase and RopeFreqScale otherwise).
	RopeBaseSWA, RopeFreqScaleSWA float32
}

// Windowed reports whether layer il attends through the sliding window.
func (c *Config) Windowed(il int) bool {
	if c.SlidingWindow <= 0 {
		return false
	}
	return c.SWAPattern == 0 || il%c.SWAPattern < c.SWAPattern-1
}

// Archs are the architectures ConfigFromGGUF accepts.
var Archs = []string{"llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3"}

// ConfigFromGGUF reads the hyperparameters of f's architecture.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	var c Config
	arch, ok := f.String("general.architecture")
	if !ok {
		return c, fmt.Errorf("%w: no general.architecture", ErrMetadata)
	}
	c.Arch = arch
	c.FFNAct = ActSiLU
	switch arch {
	case "llama":
	case "qwen2":
		c.RopeNeox, c.QKVBias = true, true
	case "qwen3":
		c.RopeNeox, c.QKNorm = true, true
	case "gemma":
		c.RopeNeox, c.FFNAct, c.QueryPreScale = true, ActGELU, true
	case "gemma2":
		c.RopeNeox, c.PostNorms, c.FFNAct, c.QueryPreScale = true, true, ActGELU, true
		c.AttnSoftCap, c.FinalSoftCap = 50, 30
		c.SlidingWindow, c.SWAPattern = 4096, 2
	case "gemma3":
		c.RopeNeox, c.PostNorms, c.FFNAct, c.QueryPreScale, c.QKNorm = true, true, ActGELU, true, true
		c.SWAPattern = 6
	case "phi3":
		c.RopeNeox, c.QueryPreScale = true, true
	default:
		return c, fmt.Errorf("%w: %q", ErrArch, arch)
	}
	ints := []struct {
		key      string
		dst      *int
		required bool
	}{
		{key: "context_length", dst: &c.ContextLength, required: true},
		{key: "embedding_length", dst: &c.Embedding, required: true},
		{key: "block_count", dst: &c.Blocks, required: true},
		{key: "feed_forward_length", dst: &c.FFN, required: true},
		{key: "attention.head_count", dst: &c.Heads, required: true},
		{key: "attention.head_count_kv", dst: &c.KVHeads},
		{key: "attention.key_length", dst: &c.HeadDim},
		{key: "rope.dimension_count", dst: &c.RopeDim},
		{key: "vocab_size", dst: &c.Vocab},
		{key: "rope.scaling.original_context_length", dst: &c.RopeOrigContext},
	}
	for _, it := range ints {
		v, ok := f.Uint32(arch + "." + it.key)
		if !ok {
			if it.required {
				return c, fmt.Errorf("%w: %s.%s missing or not an integer", ErrMetadata, arch, it.key)
			}
			continue
		}
		if v == 0 || v > 1<<30 {
			return c, fmt.Errorf("%w: %s.%s = %d", ErrMetadata, arch, it.key, v)
		}
		*it.dst = int(v)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Embedding%c.Heads != 0 && c.HeadDim == 0 {
		return c, fmt.Errorf("%w: embedding %d not divisible by %d heads", ErrMetadata, c.Embedding, c.Heads)
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Embedding / c.Heads
	}
	if v, ok := f.Uint32(arch + ".attention.value_length"); ok && int(v) != c.HeadDim {
		return c, fmt.Errorf("%w: value heads of %d for key heads of %d", ErrMetadata, v, c.HeadDim)
	}
	if c.Heads%c.KVHeads != 0 {
		return c, fmt.Errorf("%w: %d heads not a multiple of %d kv heads", ErrMetadata, c.Heads, c.KVHeads)
	}
	if c.RopeDim == 0 {
		c.RopeDim = c.HeadDim
	}
	if c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return c, fmt.Errorf("%w: rope dimension %d for head dimension %d", ErrMetadata, c.RopeDim, c.HeadDim)
	}
	var eps bool
	if c.NormEps, eps = f.Float32(arch + ".attention.layer_norm_rms_epsilon"); !eps || c.NormEps <= 0 {
		return c, fmt.Errorf("%w: %s.attention.layer_norm_rms_epsilon missing or not positive", ErrMetadata, arch)
	}
	c.RopeBase = 10000
	if v, ok := f.Float32(arch + ".rope.freq_base"); ok {
		if v <= 0 || math.IsNaN(float64(v)) {
			return c, fmt.Errorf("%w: rope.freq_base %g", ErrMetadata, v)
		}
		c.RopeBase = v
	}
	if err := c.ropeScaling(f); err != nil {
		return c, err
	}
	if err := c.attention(f); err != nil {
		return c, err
	}
	return c, nil
}

// ropeScaling reads the rope scaling keys as llama.cpp does: a factor
// scales frequencies by 1/factor for linear and YaRN scaling; YaRN also
// blends in the unscaled angles of the fast dimensions.
func (c *Config) ropeScaling(f *gguf.File) error {
	arch := c.Arch
	c.RopeScaling, c.RopeFreqScale = RopeScalingNone, 1
	c.YarnBetaFast, c.YarnBetaSlow, c.RopeAttnFactor = 32, 1, 1
	if c.RopeOrigContext == 0 {
		c.RopeOrigContext = c.ContextLength
	}
	factor, hasFactor := f.Float32(arch + ".rope.scaling.factor")
	if !hasFactor {
		factor, hasFactor = f.Float32(arch + ".rope.scale_linear")
	}
	if hasFactor && (factor < 0 || math.IsNaN(float64(factor)) || math.IsInf(float64(factor), 0)) {
		return fmt.Errorf("%w: rope scaling factor %g", ErrMetadata, factor)
	}
	s, ok := f.String(arch + ".rope.scaling.type")
	switch {
	case !ok || s == string(RopeScalingLinear):
		// llama.cpp's default type is linear: a factor alone scales.
		if hasFactor && factor > 0 && factor != 1 {
			c.RopeScaling, c.RopeFreqScale = RopeScalingLinear, 1/factor
		}
	case s == "" || s == string(RopeScalingNone):
	case s == string(RopeScalingYarn):
		if !hasFactor || factor <= 0 {
			return fmt.Errorf("%w: YaRN rope scaling without a positive factor", ErrMetadata)
		}
		c.RopeScaling, c.RopeFreqScale = RopeScalingYarn, 1/factor
		for _, b := range []struct {
			key string
			dst *float32
		}{{key: "yarn_beta_fast", dst: &c.YarnBetaFast}, {key: "yarn_beta_slow", dst: &c.YarnBetaSlow}} {
			if v, ok := f.Float32(arch + ".rope.scaling." + b.key); ok {
				if v <= 0 || math.IsNaN(float64(v)) {
					return fmt.Errorf("%w: rope.scaling.%s %g", ErrMetadata, b.key, v)
				}
				*b.dst = v
			}
		}
		if v, ok := f.Float32(arch + ".rope.scaling.yarn_log_multiplier"); ok && v != 0 {
			return fmt.Errorf("%w: YaRN log multiplier (DeepSeek's mscale) %g", ErrMetadata, v)
		}
	default:
		return fmt.Errorf("%w: rope scaling %q", ErrMetadata, s)
	}
	if v, ok := f.Float32(arch + ".rope.scaling.attn_factor"); ok {
		if v <= 0 || math.IsNaN(float64(v)) {
			return fmt.Errorf("%w: rope.scaling.attn_factor %g", ErrMetadata, v)
		}
		c.RopeAttnFactor = v
	}
	c.RopeBaseSWA, c.RopeFreqScaleSWA = c.RopeBase, c.RopeFreqScale
	if c.Arch == "gemma3" {
		c.RopeBaseSWA, c.RopeFreqScaleSWA = 10000, 1
	}
	return nil
}

// attention reads the attention scale, soft-capping and sliding window.
func (c *Config) attention(f *gguf.File) error {
	arch := c.Arch
	// As llama.cpp: 1.0f/sqrtf(float(n)), rounded twice in float32.
	c.AttnScale = 1 / float32(math.Sqrt(float64(c.HeadDim)))
	if arch == "gemma2" && c.Blocks == 46 || arch == "gemma3" && c.Blocks == 62 {
		// The 27B models scale by the model width per head, not the head
		// width (llama.cpp recognises them by their depth, as here).
		c.AttnScale = 1 / float32(math.Sqrt(float64(c.Embedding/c.Heads)))
	}
	if arch == "gemma" || arch == "gemma2" || arch == "gemma3" {
		c.EmbedScale = float32(math.Sqrt(float64(c.Embedding)))
	}
	for _, k := range []struct {
		key string
		dst *float32
	}{{key: "attn_logit_softcapping", dst: &c.AttnSoftCap}, {key: "final_logit_softcapping", dst: &c.FinalSoftCap}} {
		if arch != "gemma2" && !(arch == "gemma3" && k.key == "final_logit_softcapping") {
			continue
		}
		if v, ok := f.Float32(arch + "." + k.key); ok {
			if v < 0 || math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w: %s %g", ErrMetadata, k.key, v)
			}
			*k.dst = v
		}
	}
	switch arch {
	case "llama", "gemma2", "gemma3":
		if v, ok := f.Uint32(arch + ".attention.sliding_window"); ok {
			c.SlidingWindow = int(v)
		}
	}
	return nil
}
