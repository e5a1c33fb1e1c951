package engine

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// Pooling is how an embedding model turns its final hidden states into one vector: llama.cpp's
// LLAMA_POOLING_TYPE, read from the GGUF key <arch>.pooling_type.
type Pooling uint32

// The pooling types the engine runs (llama.cpp's values).
const (
	PoolingNone Pooling = 0 // not an embedding model
	PoolingMean Pooling = 1 // the mean over every token, BOS included
	PoolingCLS  Pooling = 2 // the first token's state
	PoolingLast Pooling = 3 // the last token's state (decoder embedding models)
)

func (p Pooling) String() string {
	switch p {
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	}
	return fmt.Sprintf("pooling(%d)", uint32(p))
}

// ErrNotEmbedding reports Embed on a model with no pooling type: a generative model.
var ErrNotEmbedding = errors.New("engine: not an embedding model (no pooling type)")

// ErrInputTooLong reports an Embed input longer than the context without truncation.
var ErrInputTooLong = errors.New("engine: input does not fit the context")

// poolingOf reads <arch>.pooling_type; a model without it pools nothing.
func poolingOf(f *gguf.File) (Pooling, error) {
	arch, _ := f.String("general.architecture")
	v, ok := f.Uint32(arch + ".pooling_type")
	if !ok {
		return PoolingNone, nil
	}
	switch p := Pooling(v); p {
	case PoolingNone, PoolingMean, PoolingCLS, PoolingLast:
		return p, nil
	default:
		return 0, fmt.Errorf("engine: %s.pooling_type %d is not one the engine runs (none, mean, cls, last)", arch, v)
	}
}

// IsEmbeddingModel reports whether the GGUF file at path is an embedding model (it names a
// pooling type). Services that serve every GGUF file in a directory use it to leave embedding
// models to the embedding service.
func IsEmbeddingModel(path string) (bool, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	p, err := poolingOf(f)
	return p != PoolingNone, err
}

// Embedding is one text's vector.
type Embedding struct {
	// Vector is L2-normalised (unit length, unless every state was zero), Info().Embedding
	// values.
	Vector []float32
	// Tokens is how many tokens were read, BOS included.
	Tokens int
	// Truncated reports that the text was cut to the context size.
	Truncated bool
}

// Embed runs text through the model and pools its final hidden states as the model's pooling
// type says, then L2-normalises the result. A text longer than the context size (Info's
// ContextSize) is cut to it when truncate is set, and refused with ErrInputTooLong otherwise.
func (m *Model) Embed(ctx context.Context, text string, truncate bool) (_ Embedding, err error) {
	if m.info.Pooling == PoolingNone {
		return Embedding{}, ErrNotEmbedding
	}
	ids := m.Encode(text)
	var out Embedding
	if len(ids) > m.opts.ctxSize {
		if !truncate {
			return Embedding{}, fmt.Errorf("%w: %d tokens, the context holds %d", ErrInputTooLong, len(ids), m.opts.ctxSize)
		}
		ids, out.Truncated = ids[:m.opts.ctxSize], true
	}
	if len(ids) == 0 {
		return Embedding{}, fmt.Errorf("%w: nothing to embed", ErrInvalidRequest)
	}
	sess, err := m.acquire(ctx)
	if err != nil {
		return Embedding{}, err
	}
	// The text runs on the session directly, not through the scheduler's batched steps (which
	// run the output layer), so it does not count as a running sequence there.
	m.sched.leave(1)
	defer m.release(sess, 0, &err)
	// The cache is rebuilt: generation's prefix reuse does not apply to a text read once.
	sess.s.Reset()
	sess.tokens = sess.tokens[:0]
	if err := ctx.Err(); err != nil {
		return Embedding{}, err
	}
	hidden, err := sess.s.DecodeHidden(ids)
	if err != nil {
		return Embedding{}, err
	}
	sess.s.Reset()
	D := m.info.Embedding
	out.Vector = make([]float32, D)
	out.Tokens = len(ids)
	switch m.info.Pooling {
	case PoolingMean:
		for t := range ids {
			for i, v := range hidden[t*D : (t+1)*D] {
				out.Vector[i] += v
			}
		}
		for i := range out.Vector {
			out.Vector[i] /= float32(len(ids))
		}
	case PoolingCLS:
		copy(out.Vector, hidden[:D])
	case PoolingLast:
		copy(out.Vector, hidden[(len(ids)-1)*D:])
	}
	Normalize(out.Vector)
	return out, nil
}

// Normalize scales v to unit length in place (a zero vector stays zero).
func Normalize(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= inv
	}
}
