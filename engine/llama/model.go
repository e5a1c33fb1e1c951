package llama

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/quant"
)

// Matrix is a weight matrix of Rows rows of Cols values, each row RowBytes
// encoded bytes of Type, viewed in place in the file's mapping.
type Matrix struct {
	Type     quant.Type
	Rows     int
	Cols     int
	RowBytes int
	Data     []byte
	// Packed is a copy of Data packed for quant.MulRowsPacked (Q8_0, Q4_0,
	// IQ4_NL and Q5_0 on CPUs with its kernels), or nil.
	Packed []byte
}

func (m *Matrix) row(i int) []byte { return m.Data[i*m.RowBytes : (i+1)*m.RowBytes] }

func (m *Matrix) rows(r0, r1 int) Matrix {
	return Matrix{Type: m.Type, Rows: r1 - r0, Cols: m.Cols, RowBytes: m.RowBytes, Data: m.Data[r0*m.RowBytes : r1*m.RowBytes]}
}

// pack sets m.Packed where m's type has packed kernels on this CPU.
func (m *Matrix) pack() {
	m.Packed = quant.Pack(m.Type, m.Data, m.RowBytes, m.Rows)
}

type layer struct {
	attnNorm, ffnNorm []float32
	wq, wk, wv, wo    Matrix
	bq, bk, bv        []float32
	qNorm, kNorm      []float32 // per-head q/k norms (Config.QKNorm), HeadDim each
	postAttn, postFFN []float32 // post-norms (Config.PostNorms)
	gate, up, down    Matrix
	window            bool // attends through the sliding window
	rope              int  // index of the model's rope set
}

// ropeSet is one rotary embedding's parameters, as ggml_rope_ext takes
// them: layers with a sliding window may have their own (gemma3).
type ropeSet struct {
	thetaScale float32    // base^(-2/dims)
	freqScale  float32    // 1/factor
	extFactor  float32    // YaRN's blend: 1 for YaRN, else 0
	corr       [2]float32 // YaRN's ramp between these dimension pairs
	mscale     float32    // multiplies cos and sin
}

// Model is a loaded network. Its weights are views into the GGUF file's
// mapping, which must stay open while the model is used; on CPUs with
// AVX512-VNNI its Q8_0, Q4_0, IQ4_NL and Q5_0 matrices (the embeddings' lookups aside)
// are also copied packed sixteen rows at a time (quant.Pack), whose
// kernels run a batch of vectors about twice as fast, at the price of holding those
// matrices in memory beside the mapping (Options.NoPack turns it off). A Model is safe
// for concurrent use by several Sessions, each of which is not.
type Model struct {
	cfg       Config
	tokEmbd   Matrix
	layers    []layer
	outNorm   []float32
	output    Matrix
	ropeFreqs []float32 // optional per-pair frequency divisors (rope_freqs.weight)
	// LongRoPE's divisors (phi3's rope_factors_short/long.weight): a session
	// with a context above Config.RopeOrigContext takes the long ones, as
	// llama.cpp chooses by its context per sequence.
	ropeShort, ropeLong []float32
	ropes               []ropeSet
	params              int64
	threads             int
}

// Options tune a model; the zero value uses GOMAXPROCS threads.
type Options struct {
	// Threads is the number of goroutines the heavy loops are split over.
	Threads int
	// NoPack keeps every matrix in the file's layout only (see Model).
	NoPack bool
}

// New builds a model from f, checking every tensor's shape against the
// metadata.
func New(f *gguf.File, opts Options) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, threads: opts.Threads}
	if m.threads <= 0 {
		m.threads = runtime.GOMAXPROCS(0)
	}
	for _, t := range f.Tensors() {
		m.params += int64(t.Elements())
	}
	c := &m.cfg
	emb := c.Embedding

	info, _, err := f.Tensor("token_embd.weight")
	if err != nil {
		return nil, fmt.Errorf("%w: token_embd.weight: %w", ErrTensor, err)
	}
	if len(info.Dims) == 2 && c.Vocab == 0 {
		c.Vocab = int(info.Dims[1])
	}
	if c.Vocab <= 0 {
		return nil, fmt.Errorf("%w: vocabulary size unknown", ErrMetadata)
	}
	if m.tokEmbd, err = matrix(f, "token_embd.weight", emb, c.Vocab); err != nil {
		return nil, err
	}
	if m.outNorm, err = vector(f, "output_norm.weight", emb); err != nil {
		return nil, err
	}
	if _, _, err := f.Tensor("output.weight"); err == nil && c.Arch != "gemma" && c.Arch != "gemma2" {
		if m.output, err = matrix(f, "output.weight", emb, c.Vocab); err != nil {
			return nil, err
		}
	} else {
		m.output = m.tokEmbd // tied embeddings
	}
	for _, r := range []struct {
		name string
		dst  *[]float32
	}{{name: "rope_freqs.weight", dst: &m.ropeFreqs}, {name: "rope_factors_short.weight", dst: &m.ropeShort},
		{name: "rope_factors_long.weight", dst: &m.ropeLong}} {
		if r.name != "rope_freqs.weight" && c.Arch != "phi3" {
			continue // llama.cpp reads LongRoPE's factors for phi3 only
		}
		if _, _, err := f.Tensor(r.name); err == nil {
			if *r.dst, err = vector(f, r.name, c.RopeDim/2); err != nil {
				return nil, err
			}
		}
	}
	m.ropes = append(m.ropes, newRopeSet(c, c.RopeBase, c.RopeFreqScale))
	if c.RopeBaseSWA != c.RopeBase || c.RopeFreqScaleSWA != c.RopeFreqScale {
		m.ropes = append(m.ropes, newRopeSet(c, c.RopeBaseSWA, c.RopeFreqScaleSWA))
	}
	m.layers = make([]layer, c.Blocks)
	for i := range m.layers {
		l := &m.layers[i]
		l.window = c.Windowed(i)
		if l.window && len(m.ropes) > 1 {
			l.rope = 1
		}
		if err := m.loadLayer(f, i); err != nil {
			return nil, err
		}
	}
	if !opts.NoPack {
		m.pack()
	}
	return m, nil
}

// products lists the matrices a token's forward pass multiplies by: every
// layer's seven and the output (not the embeddings' lookup table).
func (m *Model) products() []*Matrix {
	mats := []*Matrix{&m.output}
	for i := range m.layers {
		l := &m.layers[i]
		mats = append(mats, &l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down)
	}
	return mats
}

// PackedBytes is the memory the packed copies of the weights take (see
// Model); 0 when none is packed.
func (m *Model) PackedBytes() int64 {
	var n int64
	for _, w := range m.products() {
		n += int64(len(w.Packed))
	}
	return n
}

// pack packs the matrices the products read (Matrix.pack), over the
// model's threads.
func (m *Model) pack() {
	mats := m.products()
	var wg sync.WaitGroup
	next := make(chan *Matrix)
	for range m.threads {
		wg.Go(func() {
			for w := range next {
				w.pack()
			}
		})
	}
	for _, w := range mats {
		next <- w
	}
	close(next)
	wg.Wait()
}

// loadLayer finds layer i's tensors. Fused matrices (phi3's attn_qkv, and
// its ffn_up holding the gate's rows before the up rows) are split into
// views of their rows, so the products are the same as separate ones.
func (m *Model) loadLayer(f *gguf.File, i int) error {
	c := &m.cfg
	emb, qDim, kvDim := c.Embedding, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	l := &m.layers[i]
	p := fmt.Sprintf("blk.%d.", i)
	has := func(name string) bool { _, _, err := f.Tensor(p + name); return err == nil }
	type mat struct {
		name       string
		dst        *Matrix
		cols, rows int
	}
	var mats []mat
	if has("attn_qkv.weight") {
		var qkv Matrix
		var err error
		if qkv, err = matrix(f, p+"attn_qkv.weight", emb, qDim+2*kvDim); err != nil {
			return err
		}
		l.wq, l.wk, l.wv = qkv.rows(0, qDim), qkv.rows(qDim, qDim+kvDim), qkv.rows(qDim+kvDim, qDim+2*kvDim)
	} else {
		mats = append(mats, mat{name: "attn_q.weight", dst: &l.wq, cols: emb, rows: qDim},
			mat{name: "attn_k.weight", dst: &l.wk, cols: emb, rows: kvDim},
			mat{name: "attn_v.weight", dst: &l.wv, cols: emb, rows: kvDim})
	}
	mats = append(mats, mat{name: "attn_output.weight", dst: &l.wo, cols: qDim, rows: emb},
		mat{name: "ffn_down.weight", dst: &l.down, cols: c.FFN, rows: emb})
	if !has("ffn_gate.weight") && c.Arch == "phi3" {
		var up Matrix
		var err error
		if up, err = matrix(f, p+"ffn_up.weight", emb, 2*c.FFN); err != nil {
			return err
		}
		l.gate, l.up = up.rows(0, c.FFN), up.rows(c.FFN, 2*c.FFN)
	} else {
		mats = append(mats, mat{name: "ffn_gate.weight", dst: &l.gate, cols: emb, rows: c.FFN},
			mat{name: "ffn_up.weight", dst: &l.up, cols: emb, rows: c.FFN})
	}
	for _, mt := range mats {
		var err error
		if *mt.dst, err = matrix(f, p+mt.name, mt.cols, mt.rows); err != nil {
			return err
		}
	}
	vecs := []struct {
		name     string
		dst      *[]float32
		n        int
		optional bool
	}{
		{name: "attn_norm.weight", dst: &l.attnNorm, n: emb},
		{name: "ffn_norm.weight", dst: &l.ffnNorm, n: emb},
		{name: "attn_q.bias", dst: &l.bq, n: qDim, optional: !c.QKVBias},
		{name: "attn_k.bias", dst: &l.bk, n: kvDim, optional: !c.QKVBias},
		{name: "attn_v.bias", dst: &l.bv, n: kvDim, optional: !c.QKVBias},
		{name: "attn_q_norm.weight", dst: &l.qNorm, n: c.HeadDim, optional: !c.QKNorm},
		{name: "attn_k_norm.weight", dst: &l.kNorm, n: c.HeadDim, optional: !c.QKNorm},
		{name: "post_attention_norm.weight", dst: &l.postAttn, n: emb, optional: !c.PostNorms},
		{name: "post_ffw_norm.weight", dst: &l.postFFN, n: emb, optional: !c.PostNorms},
	}
	for _, v := range vecs {
		if v.optional && !has(v.name) {
			continue
		}
		var err error
		if *v.dst, err = vector(f, p+v.name, v.n); err != nil {
			return err
		}
	}
	if (l.bq == nil) != (l.bk == nil) || (l.bq == nil) != (l.bv == nil) {
		return fmt.Errorf("%w: %sattn_q/k/v.bias: some but not all present", ErrTensor, p)
	}
	if (l.qNorm == nil) != (l.kNorm == nil) {
		return fmt.Errorf("%w: %sattn_q_norm/attn_k_norm: one without the other", ErrTensor, p)
	}
	return nil
}

// newRopeSet computes the constants ggml_rope_ext derives from its
// arguments for one rope base and frequency scale, with llama.cpp's
// choice of YaRN's ext_factor and attn_factor for the model's scaling.
func newRopeSet(c *Config, base, freqScale float32) ropeSet {
	r := ropeSet{freqScale: freqScale, mscale: c.RopeAttnFactor}
	r.thetaScale = float32(math.Pow(float64(base), -2/float64(c.RopeDim)))
	if c.RopeScaling != RopeScalingYarn {
		return r
	}
	logf := func(x float32) float32 { return float32(math.Log(float64(x))) }
	r.extFactor = 1
	// llama_context: attn_factor = mscale(factor) / (1 + 0.1·ln factor) ·
	// rope.scaling.attn_factor, the division cancelling the factor the
	// kernel applies; the kernel then multiplies by 1 + 0.1·ln(1/freqScale).
	factor := 1 / c.RopeFreqScale
	af := float32(1)
	if factor > 1 {
		af = 0.1*logf(factor) + 1
	}
	af *= 1 / (1 + 0.1*logf(factor))
	af *= c.RopeAttnFactor
	r.mscale = af * (1 + 0.1*logf(1/freqScale))
	// ggml_rope_yarn_corr_dims
	corr := func(beta float32) float32 {
		return float32(c.RopeDim) * logf(float32(c.RopeOrigContext)/(beta*2*math.Pi)) / (2 * logf(base))
	}
	r.corr[0] = max(0, float32(math.Floor(float64(corr(c.YarnBetaFast)))))
	r.corr[1] = min(float32(c.RopeDim-1), float32(math.Ceil(float64(corr(c.YarnBetaSlow)))))
	return r
}

// ropeFactors are the frequency divisors of a session with a context of
// ctx tokens (nil: none).
func (m *Model) ropeFactors(ctx int) []float32 {
	switch {
	case m.ropeFreqs != nil:
		return m.ropeFreqs
	case m.ropeLong != nil && ctx > m.cfg.RopeOrigContext:
		return m.ropeLong
	}
	return m.ropeShort
}

func matrix(f *gguf.File, name string, cols, rows int) (Matrix, error) {
	info, data, err := f.Tensor(name)
	if err != nil {
		return Matrix{}, fmt.Errorf("%w: %w", ErrTensor, err)
	}
	if len(info.Dims) != 2 || info.Dims[0] != uint64(cols) || info.Dims[1] != uint64(rows) {
		return Matrix{}, fmt.Errorf("%w: %s has shape %v, metadata implies [%d %d]", ErrTensor, name, info.Dims, cols, rows)
	}
	t := quant.Type(info.Type)
	if !t.Supported() {
		return Matrix{}, fmt.Errorf("%w: %s has type %v: %w", ErrTensor, name, info.Type, quant.ErrUnsupported)
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return Matrix{}, fmt.Errorf("%w: %s: %w", ErrTensor, name, err)
	}
	if len(data) != rb*rows {
		return Matrix{}, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrTensor, name, len(data), rb*rows)
	}
	return Matrix{Type: t, Rows: rows, Cols: cols, RowBytes: rb, Data: data}, nil
}

// vector decodes a small 1-D tensor (norm weights, biases) onto the heap.
func vector(f *gguf.File, name string, n int) ([]float32, error) {
	info, data, err := f.Tensor(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTensor, err)
	}
	if len(info.Dims) != 1 || info.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("%w: %s has shape %v, want [%d]", ErrTensor, name, info.Dims, n)
	}
	out := make([]float32, n)
	if err := quant.Dequantize(quant.Type(info.Type), data, out); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTensor, name, err)
	}
	return out, nil
}

// Config returns the model's hyperparameters.
func (m *Model) Config() Config { return m.cfg }

// Params is the number of weights in the file.
func (m *Model) Params() int64 { return m.params }

// WeightBytes is the number of weight bytes one token's forward pass reads
// (every matrix once, the embedding row aside).
func (m *Model) WeightBytes() int64 {
	var n int64
	for _, w := range m.products() {
		n += int64(len(w.Data))
	}
	return n
}
