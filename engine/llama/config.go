// Package llama runs the llama-family transformer (llama, qwen2) forward
// pass over weights held in a GGUF file's memory mapping: a Session decodes
// one sequence with its own KV cache, a Batch steps several sessions in one
// pass over the weights (continuous batching).
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

// The rope scaling types in GGUF metadata; yarn is not supported.
const (
	RopeScalingNone   RopeScaling = "none"
	RopeScalingLinear RopeScaling = "linear"
)

// Config holds the hyperparameters read from GGUF metadata.
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
	RopeFreqScale float32 // 1/factor for linear scaling, else 1
	// RopeNeox rotates pairs (i, i+dim/2) instead of adjacent pairs (qwen2).
	RopeNeox bool
	// QKVBias: the attention projections carry biases (qwen2).
	QKVBias bool
}

// ConfigFromGGUF reads the hyperparameters of f's architecture.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	var c Config
	arch, ok := f.String("general.architecture")
	if !ok {
		return c, fmt.Errorf("%w: no general.architecture", ErrMetadata)
	}
	c.Arch = arch
	switch arch {
	case "llama":
	case "qwen2":
		c.RopeNeox, c.QKVBias = true, true
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
	c.RopeScaling, c.RopeFreqScale = RopeScalingNone, 1
	if s, ok := f.String(arch + ".rope.scaling.type"); ok && s != "" && s != "none" {
		if s != string(RopeScalingLinear) {
			return c, fmt.Errorf("%w: rope scaling %q", ErrMetadata, s)
		}
		factor, ok := f.Float32(arch + ".rope.scaling.factor")
		if !ok || factor <= 0 {
			return c, fmt.Errorf("%w: linear rope scaling without a positive factor", ErrMetadata)
		}
		c.RopeScaling, c.RopeFreqScale = RopeScalingLinear, 1/factor
	} else if factor, ok := f.Float32(arch + ".rope.scale_linear"); ok && factor > 0 && factor != 1 {
		c.RopeScaling, c.RopeFreqScale = RopeScalingLinear, 1/factor
	}
	return c, nil
}
