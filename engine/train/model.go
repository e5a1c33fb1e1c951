// Package train trains llama-architecture language models on the CPU (hand-written backward
// pass, AdamW) and exports them as GGUF files that the engine and llama.cpp run.
package train

import (
	"errors"
	"fmt"
	"math"
)

// ErrConfig reports an invalid model or training configuration.
var ErrConfig = errors.New("train: invalid configuration")

// Config is the model shape. It is the engine's llama architecture: RMSNorm, RoPE on adjacent
// pairs (llama.cpp's "normal" mode for arch llama), grouped-query causal attention, a SwiGLU
// feed-forward and an output layer tied to the token embedding.
type Config struct {
	Vocab    int     `json:"vocab"`
	Dim      int     `json:"dim"`
	Layers   int     `json:"layers"`
	Heads    int     `json:"heads"`
	KVHeads  int     `json:"kv_heads"`
	FFN      int     `json:"ffn"`
	Context  int     `json:"context"`
	NormEps  float32 `json:"norm_eps"`
	RopeBase float64 `json:"rope_base"`
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// Validate checks the shape, including what the exported GGUF needs: widths that are
// multiples of 32 so every matrix row fills whole Q8_0 blocks.
func (c Config) Validate() error {
	switch {
	case c.Vocab < 2 || c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.FFN <= 0 || c.Context < 2:
		return fmt.Errorf("%w: non-positive size in %+v", ErrConfig, c)
	case c.Dim%c.Heads != 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%w: %d heads, %d kv heads for width %d", ErrConfig, c.Heads, c.KVHeads, c.Dim)
	case c.HeadDim()%2 != 0:
		return fmt.Errorf("%w: odd head width %d", ErrConfig, c.HeadDim())
	case c.Dim%32 != 0 || c.FFN%32 != 0:
		return fmt.Errorf("%w: width %d and feed-forward %d must be multiples of 32", ErrConfig, c.Dim, c.FFN)
	case c.NormEps <= 0 || c.RopeBase <= 0:
		return fmt.Errorf("%w: norm epsilon and rope base must be positive", ErrConfig)
	}
	return nil
}

// Layer holds one block's weights; matrices are row-major [out][in], as GGUF stores them.
type Layer struct {
	AttnNorm, WQ, WK, WV, WO []float32
	FFNNorm, Gate, Up, Down  []float32
}

// Params views one flat vector as the model's tensors. The gradient and both optimizer moments
// share the layout, so clipping, AdamW and checkpoints work on flat slices.
type Params struct {
	Cfg     Config
	Data    []float32
	Embed   []float32 // [Vocab][Dim], also the output layer
	Layers  []Layer
	OutNorm []float32
	// matrices are the [offset, length] ranges of the attention and feed-forward matrices.
	matrices [][2]int
}

// NumParams is the number of weights of c.
func (c Config) NumParams() int {
	hd := c.HeadDim()
	qd, kd := c.Heads*hd, c.KVHeads*hd
	per := 2*c.Dim + qd*c.Dim + 2*kd*c.Dim + c.Dim*qd + 3*c.FFN*c.Dim
	return c.Vocab*c.Dim + c.Layers*per + c.Dim
}

// View lays c's tensors over data, which must hold c.NumParams() values.
func View(c Config, data []float32) *Params {
	p := &Params{Cfg: c, Data: data[:c.NumParams()]}
	off := 0
	take := func(n int) []float32 {
		s := data[off : off+n : off+n]
		off += n
		return s
	}
	hd := c.HeadDim()
	qd, kd := c.Heads*hd, c.KVHeads*hd
	p.Embed = take(c.Vocab * c.Dim)
	p.Layers = make([]Layer, c.Layers)
	for i := range p.Layers {
		l := &p.Layers[i]
		mat := func(n int) []float32 {
			p.matrices = append(p.matrices, [2]int{off, n})
			return take(n)
		}
		l.AttnNorm = take(c.Dim)
		l.WQ = mat(qd * c.Dim)
		l.WK = mat(kd * c.Dim)
		l.WV = mat(kd * c.Dim)
		l.WO = mat(c.Dim * qd)
		l.FFNNorm = take(c.Dim)
		l.Gate = mat(c.FFN * c.Dim)
		l.Up = mat(c.FFN * c.Dim)
		l.Down = mat(c.Dim * c.FFN)
	}
	p.OutNorm = take(c.Dim)
	return p
}

// decayMask marks the weights AdamW decays: the attention and feed-forward matrices. Norm
// gains pull towards 1, not 0, and the tied embedding's rare tokens would be shrunk for
// want of gradient, so neither is decayed.
func decayMask(c Config) []bool {
	m := make([]bool, c.NumParams())
	for _, r := range View(c, make([]float32, c.NumParams())).matrices {
		for i := range r[1] {
			m[r[0]+i] = true
		}
	}
	return m
}

// Init fills p with the usual small-model initialisation: N(0, 0.02) for matrices and the
// embedding, the residual projections (WO, Down) scaled by 1/sqrt(2·layers) so the residual
// stream's variance does not grow with depth, and unit norm gains.
func Init(p *Params, seed uint64) {
	r := NewRNG(seed)
	normal := func(s []float32, std float64) {
		for i := range s {
			s[i] = float32(r.Normal() * std)
		}
	}
	ones := func(s []float32) {
		for i := range s {
			s[i] = 1
		}
	}
	const std = 0.02
	normal(p.Embed, std)
	resid := std / math.Sqrt(2*float64(p.Cfg.Layers))
	for _, l := range p.Layers {
		ones(l.AttnNorm)
		ones(l.FFNNorm)
		normal(l.WQ, std)
		normal(l.WK, std)
		normal(l.WV, std)
		normal(l.WO, resid)
		normal(l.Gate, std)
		normal(l.Up, std)
		normal(l.Down, resid)
	}
	ones(p.OutNorm)
}

// RNG is splitmix64: a fully specified generator whose state is one word, so checkpoints
// resume the exact stream.
type RNG struct{ State uint64 }

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG { return &RNG{State: seed} }

// Uint64 returns the next value.
func (r *RNG) Uint64() uint64 {
	r.State += 0x9e3779b97f4a7c15
	z := r.State
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Float64 returns a value in [0, 1).
func (r *RNG) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// Normal returns a standard normal value (Box-Muller).
func (r *RNG) Normal() float64 {
	u := 1 - r.Float64() // (0, 1]
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*r.Float64())
}
