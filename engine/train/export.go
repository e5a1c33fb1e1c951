package train

import (
	"fmt"

	"github.com/chorus-ai/chorus/engine/bpe"
	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/quant"
)

// ExportOptions names and describes the exported file.
type ExportOptions struct {
	Name        string
	Description string
	License     string
	// Type is the type of the 2-D weights (F32, F16 or Q8_0); norms are always F32, as in
	// llama.cpp's own conversions.
	Type quant.Type
	// Pooling, when set, marks an embedding model: llama.<pooling_type> as llama.cpp reads
	// it (PoolingMean for ObjectiveContrastive's models).
	Pooling Pooling
}

// Pooling is llama.cpp's LLAMA_POOLING_TYPE, how an embedding model's final hidden states
// become one vector.
type Pooling uint32

// The pooling types llama.cpp writes as <arch>.pooling_type.
const (
	PoolingNone Pooling = 0
	PoolingMean Pooling = 1
	PoolingCLS  Pooling = 2
	PoolingLast Pooling = 3
)

// fileType is llama.cpp's general.file_type (LLAMA_FTYPE_*) for the matrix type.
func fileType(t quant.Type) (uint32, error) {
	switch t {
	case quant.F32:
		return 0, nil
	case quant.F16:
		return 1, nil
	case quant.Q8_0:
		return 7, nil
	}
	return 0, fmt.Errorf("%w: export type %v (want F32, F16 or Q8_0)", ErrConfig, t)
}

// Export builds a GGUF file of the model under llama.cpp's names for arch "llama". RoPE needs
// no permutation: the trainer already rotates adjacent pairs, which is what llama.cpp does
// for this architecture once its converter has permuted Hugging Face weights.
func Export(c Config, params []float32, v *bpe.Vocab, o ExportOptions) (*gguf.Writer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(v.Tokens) != c.Vocab {
		return nil, fmt.Errorf("%w: tokenizer has %d tokens, model %d", ErrConfig, len(v.Tokens), c.Vocab)
	}
	ft, err := fileType(o.Type)
	if err != nil {
		return nil, err
	}
	w := gguf.NewWriter()
	hd := c.HeadDim()
	kv := []struct {
		k string
		v any
	}{
		{k: "general.architecture", v: "llama"},
		{k: "general.name", v: o.Name},
		{k: "general.file_type", v: ft},
		{k: "general.quantization_version", v: uint32(2)},
		{k: "llama.context_length", v: uint32(c.Context)},
		{k: "llama.embedding_length", v: uint32(c.Dim)},
		{k: "llama.block_count", v: uint32(c.Layers)},
		{k: "llama.feed_forward_length", v: uint32(c.FFN)},
		{k: "llama.attention.head_count", v: uint32(c.Heads)},
		{k: "llama.attention.head_count_kv", v: uint32(c.KVHeads)},
		{k: "llama.attention.key_length", v: uint32(hd)},
		{k: "llama.attention.value_length", v: uint32(hd)},
		{k: "llama.attention.layer_norm_rms_epsilon", v: c.NormEps},
		{k: "llama.rope.freq_base", v: float32(c.RopeBase)},
		{k: "llama.rope.dimension_count", v: uint32(hd)},
		{k: "llama.vocab_size", v: uint32(c.Vocab)},
	}
	if o.Description != "" {
		kv = append(kv, struct {
			k string
			v any
		}{k: "general.description", v: o.Description})
	}
	if o.License != "" {
		kv = append(kv, struct {
			k string
			v any
		}{k: "general.license", v: o.License})
	}
	if o.Pooling != PoolingNone {
		kv = append(kv, struct {
			k string
			v any
		}{k: "llama.pooling_type", v: uint32(o.Pooling)})
	}
	for _, e := range kv {
		if err := w.Set(e.k, e.v); err != nil {
			return nil, err
		}
	}
	if err := v.SetGGUF(w); err != nil {
		return nil, err
	}
	p := View(c, params)
	add := func(name string, t quant.Type, x []float32, cols, rows int) error {
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
	qd, kd := c.Heads*hd, c.KVHeads*hd
	if err := add("token_embd.weight", o.Type, p.Embed, c.Dim, c.Vocab); err != nil {
		return nil, err
	}
	for i, l := range p.Layers {
		pre := fmt.Sprintf("blk.%d.", i)
		for _, t := range []struct {
			name       string
			typ        quant.Type
			x          []float32
			cols, rows int
		}{
			{name: "attn_norm.weight", typ: quant.F32, x: l.AttnNorm, cols: c.Dim, rows: 1},
			{name: "attn_q.weight", typ: o.Type, x: l.WQ, cols: c.Dim, rows: qd},
			{name: "attn_k.weight", typ: o.Type, x: l.WK, cols: c.Dim, rows: kd},
			{name: "attn_v.weight", typ: o.Type, x: l.WV, cols: c.Dim, rows: kd},
			{name: "attn_output.weight", typ: o.Type, x: l.WO, cols: qd, rows: c.Dim},
			{name: "ffn_norm.weight", typ: quant.F32, x: l.FFNNorm, cols: c.Dim, rows: 1},
			{name: "ffn_gate.weight", typ: o.Type, x: l.Gate, cols: c.Dim, rows: c.FFN},
			{name: "ffn_up.weight", typ: o.Type, x: l.Up, cols: c.Dim, rows: c.FFN},
			{name: "ffn_down.weight", typ: o.Type, x: l.Down, cols: c.FFN, rows: c.Dim},
		} {
			if err := add(pre+t.name, t.typ, t.x, t.cols, t.rows); err != nil {
				return nil, err
			}
		}
	}
	if err := add("output_norm.weight", quant.F32, p.OutNorm, c.Dim, 1); err != nil {
		return nil, err
	}
	return w, nil
}
