package llama

import (
	"fmt"
	"runtime"

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
}

func (m *Matrix) row(i int) []byte { return m.Data[i*m.RowBytes : (i+1)*m.RowBytes] }

type layer struct {
	attnNorm, ffnNorm []float32
	wq, wk, wv, wo    Matrix
	bq, bk, bv        []float32
	gate, up, down    Matrix
}

// Model is a loaded network. Its weights are views into the GGUF file's
// mapping, which must stay open while the model is used. A Model is safe
// for concurrent use by several Sessions, each of which is not.
type Model struct {
	cfg       Config
	tokEmbd   Matrix
	layers    []layer
	outNorm   []float32
	output    Matrix
	ropeFreqs []float32 // optional per-pair frequency divisors (rope_freqs.weight)
	params    int64
	threads   int
}

// Options tune a model; the zero value uses GOMAXPROCS threads.
type Options struct {
	// Threads is the number of goroutines the heavy loops are split over.
	Threads int
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
	emb, qDim, kvDim := c.Embedding, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim

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
	if _, _, err := f.Tensor("output.weight"); err == nil {
		if m.output, err = matrix(f, "output.weight", emb, c.Vocab); err != nil {
			return nil, err
		}
	} else {
		m.output = m.tokEmbd // tied embeddings
	}
	if _, _, err := f.Tensor("rope_freqs.weight"); err == nil {
		if m.ropeFreqs, err = vector(f, "rope_freqs.weight", c.RopeDim/2); err != nil {
			return nil, err
		}
	}
	m.layers = make([]layer, c.Blocks)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		mats := []struct {
			name       string
			dst        *Matrix
			cols, rows int
		}{
			{name: "attn_q.weight", dst: &l.wq, cols: emb, rows: qDim},
			{name: "attn_k.weight", dst: &l.wk, cols: emb, rows: kvDim},
			{name: "attn_v.weight", dst: &l.wv, cols: emb, rows: kvDim},
			{name: "attn_output.weight", dst: &l.wo, cols: qDim, rows: emb},
			{name: "ffn_gate.weight", dst: &l.gate, cols: emb, rows: c.FFN},
			{name: "ffn_up.weight", dst: &l.up, cols: emb, rows: c.FFN},
			{name: "ffn_down.weight", dst: &l.down, cols: c.FFN, rows: emb},
		}
		for _, mt := range mats {
			if *mt.dst, err = matrix(f, p+mt.name, mt.cols, mt.rows); err != nil {
				return nil, err
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
		}
		for _, v := range vecs {
			if _, _, err := f.Tensor(p + v.name); err != nil && v.optional {
				continue
			}
			if *v.dst, err = vector(f, p+v.name, v.n); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
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
	for i := range m.layers {
		l := &m.layers[i]
		for _, w := range []*Matrix{&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down} {
			n += int64(len(w.Data))
		}
	}
	return n + int64(len(m.output.Data))
}
