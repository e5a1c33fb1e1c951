package llama

import (
	"fmt"
	"math"

	"github.com/chorus-ai/chorus/engine/quant"
)

// MaxBatch is the most tokens one forward step processes together; longer
// prompts are fed in steps of this size. Each weight matrix is read once
// per step, so larger steps save memory traffic at the cost of scratch space.
const MaxBatch = 128

// rowsPerChunk is the number of output rows a worker takes at a time in a
// product of many vectors (a prompt): small enough to balance two busy
// cores, large enough that the atomic counter is noise, and a batch's tile
// of weight rows stays in L1.
const rowsPerChunk = 16

// decodeRowsPerChunk is the same for up to decodeVecs vectors (decoding
// steps): the rows come from memory, and the kernels prefetch rows ahead of
// the ones they work on, which a chunk's end cuts short when the next chunk
// goes to the other worker. On a 2-vCPU Xeon with AVX-512 (2026-11-30, six
// interleaved rounds of streambench), 32 rows rather than 16 gave one
// stream 102 against 96 tokens/s and eight 283 against 273, with less CPU.
const (
	decodeRowsPerChunk = 32
	decodeVecs         = 16
)

// chunkRows is the rows a worker takes at a time in a product of n vectors.
// The FFN's per-worker scratch holds n times as many floats for each of
// gate and up: at most MaxBatch*rowsPerChunk.
func chunkRows(n int) int {
	if n <= decodeVecs {
		return decodeRowsPerChunk
	}
	return rowsPerChunk
}

// Session is one sequence being decoded: its KV cache, positions and
// scratch space. A Session is not safe for concurrent use; several
// Sessions may share a Model.
type Session struct {
	m    *Model
	pool *pool
	cap  int // context capacity in tokens
	n    int // tokens in the cache

	kc, vc [][]uint16 // per layer: cap × kvDim halves, as ggml's default F16 cache
	// ropeFreqs are the rope's frequency divisors for this context (nil: none).
	ropeFreqs []float32

	// Scratch, MaxBatch rows each.
	x, xb, xb2, q, k, v, att, hb []float32
	cos, sin                     []float32 // per rope set, MaxBatch × RopeDim/2
	logits                       []float32
	hidden                       []float32
	scores                       [][]float32 // per worker, cap
	ffnTmp                       [][]float32 // per worker, gate and up tiles: 2 × MaxBatch × rowsPerChunk
	vecs                         [][]quant.Vec
	mj                           matJob
	fj                           ffnJob
	aj                           attnJob
	rj                           rowJob

	// The rows of the step being run: whose cache each extends and where,
	// and which rows' logits are wanted (a Batch fills them from several
	// sessions; a session's own step, from itself).
	rows    []rowRef
	outRows []int
}

// rowRef places one row of a step: the session whose KV cache it extends
// and its position there.
type rowRef struct {
	kv  *Session
	pos int
}

// NewSession returns a session with room for ctx tokens (the model's
// context length when ctx <= 0 or larger).
func (m *Model) NewSession(ctx int) *Session {
	c := &m.cfg
	if ctx <= 0 || ctx > c.ContextLength {
		ctx = c.ContextLength
	}
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	s := &Session{m: m, pool: newPool(m.threads), cap: ctx, ropeFreqs: m.ropeFactors(ctx)}
	s.kc = make([][]uint16, c.Blocks)
	s.vc = make([][]uint16, c.Blocks)
	for i := range s.kc {
		s.kc[i] = make([]uint16, ctx*kvDim)
		s.vc[i] = make([]uint16, ctx*kvDim)
	}
	B := MaxBatch
	s.x = make([]float32, B*c.Embedding)
	s.xb = make([]float32, B*max(c.Embedding, qDim))
	s.xb2 = make([]float32, B*c.Embedding)
	s.q = make([]float32, B*qDim)
	s.k = make([]float32, B*kvDim)
	s.v = make([]float32, B*kvDim)
	s.att = make([]float32, B*qDim)
	s.hb = make([]float32, B*c.FFN)
	s.cos = make([]float32, len(m.ropes)*B*c.RopeDim/2)
	s.sin = make([]float32, len(m.ropes)*B*c.RopeDim/2)
	s.scores = make([][]float32, m.threads)
	for i := range s.scores {
		s.scores[i] = make([]float32, m.scoresLen(ctx))
	}
	s.ffnTmp = make([][]float32, m.threads)
	for i := range s.ffnTmp {
		s.ffnTmp[i] = make([]float32, 2*MaxBatch*rowsPerChunk)
	}
	s.vecs = make([][]quant.Vec, quant.NumTypes)
	s.aj.s, s.fj.s = s, s
	s.rows = make([]rowRef, 0, MaxBatch)
	s.outRows = make([]int, 0, MaxBatch)
	return s
}

// Close stops the session's workers.
func (s *Session) Close() { s.pool.close() }

// Len is the number of tokens in the cache.
func (s *Session) Len() int { return s.n }

// Cap is the session's context capacity.
func (s *Session) Cap() int { return s.cap }

// Reset empties the cache.
func (s *Session) Reset() { s.n = 0 }

// Truncate drops cached tokens from position n on, so a new prompt sharing
// a prefix can reuse it.
func (s *Session) Truncate(n int) {
	if n >= 0 && n < s.n {
		s.n = n
	}
}

// Decode feeds tokens at the next positions and returns the logits after
// the last one (vocabulary-sized, valid until the next call).
func (s *Session) Decode(tokens []int32) ([]float32, error) {
	return s.decode(tokens, false)
}

// DecodeAll is Decode returning the logits after every token, token-major.
func (s *Session) DecodeAll(tokens []int32) ([]float32, error) {
	return s.decode(tokens, true)
}

// DecodeHidden feeds tokens at the next positions and returns the final
// hidden state of every token (after the output norm, before the output
// layer: what llama.cpp pools into an embedding), token-major, Embedding
// values each, valid until the next call. The output layer is not run.
func (s *Session) DecodeHidden(tokens []int32) ([]float32, error) {
	c := &s.m.cfg
	if err := s.check(tokens); err != nil {
		return nil, err
	}
	s.hidden = growF(s.hidden, len(tokens)*c.Embedding)
	for start := 0; start < len(tokens); start += MaxBatch {
		end := min(start+MaxBatch, len(tokens))
		s.step(tokens[start:end], nil)
		for b := range end - start {
			rmsNorm(s.hidden[(start+b)*c.Embedding:(start+b+1)*c.Embedding], s.x[b*c.Embedding:(b+1)*c.Embedding], s.m.outNorm, c.NormEps)
		}
	}
	return s.hidden, nil
}

// check refuses tokens that Decode cannot run: none, more than the context
// has room for, or ids outside the vocabulary.
func (s *Session) check(tokens []int32) error {
	c := &s.m.cfg
	if len(tokens) == 0 {
		return fmt.Errorf("%w: no tokens", ErrToken)
	}
	if s.n+len(tokens) > s.cap {
		return fmt.Errorf("%w: %d + %d tokens > %d", ErrContextFull, s.n, len(tokens), s.cap)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= c.Vocab {
			return fmt.Errorf("%w: %d (vocabulary %d)", ErrToken, t, c.Vocab)
		}
	}
	return nil
}

func (s *Session) decode(tokens []int32, all bool) ([]float32, error) {
	c := &s.m.cfg
	if err := s.check(tokens); err != nil {
		return nil, err
	}
	nl := len(tokens)
	if !all {
		nl = 1
	}
	s.logits = growF(s.logits, nl*c.Vocab)
	for start := 0; start < len(tokens); start += MaxBatch {
		end := min(start+MaxBatch, len(tokens))
		var out []float32
		if all {
			out = s.logits[start*c.Vocab : end*c.Vocab]
		} else if end == len(tokens) {
			out = s.logits
		}
		s.step(tokens[start:end], out)
	}
	return s.logits, nil
}

func growF(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// step runs one batch; out receives logits for every token of the batch
// when it has room for them all, for the last token when it has room for
// one, and none when nil.
func (s *Session) step(tokens []int32, out []float32) {
	n := len(tokens)
	s.rows = s.rows[:0]
	for b := range n {
		s.rows = append(s.rows, rowRef{kv: s, pos: s.n + b})
	}
	s.outRows = s.outRows[:0]
	if out != nil {
		first := 0
		if len(out) < n*s.m.cfg.Vocab {
			first = n - 1
		}
		for b := first; b < n; b++ {
			s.outRows = append(s.outRows, b)
		}
	}
	s.forward(tokens, out)
	s.n += n
}

// forward runs one step over tokens, row b extending the cache of
// s.rows[b] at its position, and writes the logits of s.outRows, in order,
// to out. It uses s's scratch and workers; the caller advances the caches'
// lengths.
func (s *Session) forward(tokens []int32, out []float32) {
	m, c := s.m, &s.m.cfg
	n, emb := len(tokens), c.Embedding
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	for b, t := range tokens {
		x := s.x[b*emb : (b+1)*emb]
		// The rows were validated at load; a decode error cannot happen.
		_ = quant.Dequantize(m.tokEmbd.Type, m.tokEmbd.row(int(t)), x)
		if c.EmbedScale != 0 {
			scale(x, c.EmbedScale)
		}
		for set := range m.ropes {
			s.ropeAngles(set, s.rows[b].pos, b)
		}
	}
	// The per-token work between the products (norms, residuals, rope, the
	// cache's conversion to half, the activations' quantisation) runs as
	// row jobs on all workers, one token a chunk.
	rj := &s.rj
	rj.s, rj.n = s, n
	for li := range m.layers {
		l := &m.layers[li]
		rj.l, rj.li = l, li
		if li == 0 {
			rj.do(rowAttnIn, nil, &l.wq, &l.wk, &l.wv)
		} else {
			rj.do(rowAttnIn, m.layers[li-1].postFFN, &l.wq, &l.wk, &l.wv)
		}
		s.matmulPrepared(n,
			matTask{w: &l.wq, out: s.q, stride: qDim},
			matTask{w: &l.wk, out: s.k, stride: kvDim},
			matTask{w: &l.wv, out: s.v, stride: kvDim})
		rj.do(rowQKV, nil)
		s.aj.layer, s.aj.n, s.aj.group = li, n, s.attnGroup(n)
		s.pool.do(&s.aj, n*c.Heads/s.aj.group)
		rj.do(rowQuantAttn, nil, &l.wo)
		s.matmulPrepared(n, matTask{w: &l.wo, out: s.xb2, stride: emb})
		rj.do(rowFFNIn, l.postAttn, &l.gate, &l.up)
		s.ffn(n, l)
		rj.do(rowQuantFFN, nil, &l.down)
		s.matmulPrepared(n, matTask{w: &l.down, out: s.xb2, stride: emb})
	}
	rj.do(rowResidual, m.layers[len(m.layers)-1].postFFN)
	rj.l = nil
	if len(s.outRows) == 0 {
		return
	}
	for i, b := range s.outRows {
		rmsNorm(s.xb[i*emb:(i+1)*emb], s.x[b*emb:(b+1)*emb], m.outNorm, c.NormEps)
	}
	s.matmul(len(s.outRows), s.xb, emb, matTask{w: &m.output, out: out, stride: c.Vocab})
	if c.FinalSoftCap != 0 {
		softCap(out[:len(s.outRows)*c.Vocab], c.FinalSoftCap)
	}
}

// What a rowJob does to each token's row.
const (
	// rowAttnIn adds the previous block's output (post-normed) to the
	// residual stream, unless this is the first layer, then norms it for
	// attention and quantises it for the Q/K/V weights.
	rowAttnIn = iota
	// rowQKV finishes the token's query, key and value (biases, q/k norms,
	// rope, the query's rounding to half) and writes key and value to the
	// cache in half precision.
	rowQKV
	// rowQuantAttn quantises the attention output for wo.
	rowQuantAttn
	// rowQuantFFN quantises the FFN's hidden row for down.
	rowQuantFFN
	// rowFFNIn adds the attention output to the residual stream and norms
	// and quantises it for the FFN.
	rowFFNIn
	// rowResidual adds the last block's output to the residual stream.
	rowResidual
)

// rowJob runs one kind of per-token work over a step's rows, a row a chunk.
type rowJob struct {
	s     *Session
	l     *layer
	li, n int
	kind  int
	post  []float32  // the post-norm of the output being added (rowAttnIn, rowFFNIn, rowResidual)
	ws    [3]*Matrix // the weights the row is quantised for
	nw    int
}

// do runs kind over the step's rows, quantising for the weights ws.
func (j *rowJob) do(kind int, post []float32, ws ...*Matrix) {
	j.kind, j.post, j.nw = kind, post, 0
	for _, w := range ws {
		dup := false
		for _, p := range j.ws[:j.nw] {
			dup = dup || p.Type == w.Type
		}
		if !dup {
			j.ws[j.nw] = w
			j.nw++
			j.s.ensureVecs(w.Type)
		}
	}
	j.s.pool.do(j, j.n)
	j.post = nil
	j.ws = [3]*Matrix{}
}

func (j *rowJob) run(_, b int) {
	s := j.s
	c := &s.m.cfg
	emb := c.Embedding
	switch j.kind {
	case rowAttnIn, rowFFNIn, rowResidual:
		x := s.x[b*emb : (b+1)*emb]
		if j.kind != rowAttnIn || j.li > 0 {
			r := s.xb2[b*emb : (b+1)*emb]
			if j.post != nil {
				rmsNorm(r, r, j.post, c.NormEps)
			}
			addTo(x, r)
		}
		if j.kind == rowResidual {
			return
		}
		norm := j.l.attnNorm
		if j.kind == rowFFNIn {
			norm = j.l.ffnNorm
		}
		xb := s.xb[b*emb : (b+1)*emb]
		rmsNorm(xb, x, norm, c.NormEps)
		j.quant(b, xb)
	case rowQuantAttn:
		qDim := c.Heads * c.HeadDim
		j.quant(b, s.att[b*qDim:(b+1)*qDim])
	case rowQuantFFN:
		j.quant(b, s.hb[b*c.FFN:(b+1)*c.FFN])
	case rowQKV:
		s.finishQKV(j.l, j.li, b)
	}
}

// quant prepares row b's vectors for the job's weight types.
func (j *rowJob) quant(b int, in []float32) {
	for _, w := range j.ws[:j.nw] {
		// Shapes were validated at load, so this cannot fail.
		_ = j.s.vecs[w.Type][b].Prepare(w.Type, in)
	}
}

// finishQKV applies row b's biases, q/k norms and rope, rounds its query
// to half as ggml does for the product with the F16 key cache, and writes
// its key and value to the cache.
func (s *Session) finishQKV(l *layer, li, b int) {
	c := &s.m.cfg
	qDim, kvDim, hd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.HeadDim
	q, k, v := s.q[b*qDim:(b+1)*qDim], s.k[b*kvDim:(b+1)*kvDim], s.v[b*kvDim:(b+1)*kvDim]
	if l.bq != nil {
		addTo(q, l.bq)
		addTo(k, l.bk)
		addTo(v, l.bv)
	}
	for h := range c.Heads {
		qh := q[h*hd : (h+1)*hd]
		if l.qNorm != nil {
			rmsNorm(qh, qh, l.qNorm, c.NormEps)
		}
		s.rope(qh, l.rope, b)
	}
	for h := range c.KVHeads {
		kh := k[h*hd : (h+1)*hd]
		if l.kNorm != nil {
			rmsNorm(kh, kh, l.kNorm, c.NormEps)
		}
		s.rope(kh, l.rope, b)
	}
	if c.QueryPreScale {
		scale(q, c.AttnScale)
	}
	quant.RoundF16s(q)
	r := s.rows[b]
	kc, vc, pos := r.kv.kc[li], r.kv.vc[li], r.pos
	quant.ToF16(kc[pos*kvDim:(pos+1)*kvDim], k)
	quant.ToF16(vc[pos*kvDim:(pos+1)*kvDim], v)
}

// ropeAngles fills rope set set's cos/sin tables of batch row b for
// position pos the way ggml's rope cache does: theta advances by repeated
// float32 multiplication, is divided by the optional frequency factors,
// then scaled (linearly, or YaRN's blend of the scaled and unscaled
// angles), and cos and sin are multiplied by the set's magnitude scale.
func (s *Session) ropeAngles(set, pos, b int) {
	c := &s.m.cfg
	r := &s.m.ropes[set]
	half := c.RopeDim / 2
	o := (set*MaxBatch + b) * half
	cs, sn := s.cos[o:o+half], s.sin[o:o+half]
	ff := s.rows[b].kv.ropeFreqs
	theta := float32(pos)
	for i := range half {
		extrap := theta
		if ff != nil {
			extrap /= ff[i]
		}
		t := r.freqScale * extrap
		if r.extFactor != 0 {
			// rope_yarn_ramp
			y := (float32(i) - r.corr[0]) / max(0.001, r.corr[1]-r.corr[0])
			mix := (1 - min(1, max(0, y))) * r.extFactor
			t = t*(1-mix) + extrap*mix
		}
		cs[i] = float32(math.Cos(float64(t))) * r.mscale
		sn[i] = float32(math.Sin(float64(t))) * r.mscale
		theta *= r.thetaScale
	}
}

// rope rotates one head in place with rope set set: adjacent pairs for
// llama (whose Q/K weights the converter permuted), pairs (i, i+dim/2)
// for NEOX models.
func (s *Session) rope(x []float32, set, b int) {
	c := &s.m.cfg
	half := c.RopeDim / 2
	o := (set*MaxBatch + b) * half
	cs, sn := s.cos[o:o+half], s.sin[o:o+half]
	if c.RopeNeox {
		for i := range half {
			x0, x1 := x[i], x[i+half]
			x[i] = x0*cs[i] - x1*sn[i]
			x[i+half] = x0*sn[i] + x1*cs[i]
		}
		return
	}
	for i := range half {
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = x0*cs[i] - x1*sn[i]
		x[2*i+1] = x0*sn[i] + x1*cs[i]
	}
}

func scale(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}

// rmsNorm is ggml's rms_norm (sum of squares in float64) followed by the
// elementwise weight.
func rmsNorm(dst, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	for i, v := range x {
		dst[i] = (v * scale) * w[i]
	}
}

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// ensureVecs makes room for a step's vectors for weights of type t.
func (s *Session) ensureVecs(t quant.Type) {
	if len(s.vecs[t]) < MaxBatch {
		s.vecs[t] = make([]quant.Vec, MaxBatch)
	}
}

// prepare converts the n input rows (cols wide) for weights of type t.
func (s *Session) prepare(t quant.Type, n int, in []float32, cols int) []quant.Vec {
	s.ensureVecs(t)
	vs := s.vecs[t][:n]
	for b := range vs {
		// Shapes were validated at load, so this cannot fail.
		_ = vs[b].Prepare(t, in[b*cols:(b+1)*cols])
	}
	return vs
}

// matTask is one matrix product of a batch: out[b*stride+i] = row i · input b.
type matTask struct {
	w      *Matrix
	out    []float32
	stride int
	vecs   []quant.Vec
}

// matJob runs up to three products sharing one input in one parallel step.
type matJob struct {
	rows  int // per chunk
	tasks [3]matTask
	ends  [3]int // cumulative chunk counts
	nt    int
	exact bool // rows of float weights one at a time (see fourAtOnce)
}

// fourAtOnce reports whether a step may take rows four at a time against
// weights of type t. The quantised kernels give each row bit for bit what
// the one-row kernel gives; the float ones sum in another order. A Batch's
// steps (exact) keep float weights to the one-row kernel, so a sequence's
// logits do not depend on which other sequences share its step.
func fourAtOnce(t quant.Type, exact bool) bool {
	return !exact || t != quant.F32 && t != quant.F16
}

// matmulPrepared is matmul on inputs a row job already prepared in s.vecs.
func (s *Session) matmulPrepared(n int, tasks ...matTask) {
	for i := range tasks {
		tasks[i].vecs = s.vecs[tasks[i].w.Type][:n]
	}
	s.runTasks(tasks)
}

func (s *Session) matmul(n int, in []float32, cols int, tasks ...matTask) {
	for i := range tasks {
		tasks[i].vecs = nil
		for _, prev := range tasks[:i] {
			if prev.w.Type == tasks[i].w.Type {
				tasks[i].vecs = prev.vecs
			}
		}
		if tasks[i].vecs == nil {
			tasks[i].vecs = s.prepare(tasks[i].w.Type, n, in, cols)
		}
	}
	s.runTasks(tasks)
}

// runTasks runs up to three products whose vectors are prepared as one
// parallel step.
func (s *Session) runTasks(tasks []matTask) {
	j := &s.mj
	j.nt = len(tasks)
	j.rows = chunkRows(len(tasks[0].vecs))
	total := 0
	for i, t := range tasks {
		total += (t.w.Rows + j.rows - 1) / j.rows
		j.tasks[i], j.ends[i] = t, total
	}
	s.pool.do(j, total)
	for i := range j.tasks[:j.nt] {
		j.tasks[i] = matTask{}
	}
}

func (j *matJob) run(_, c int) {
	ti := 0
	for c >= j.ends[ti] {
		ti++
	}
	if ti > 0 {
		c -= j.ends[ti-1]
	}
	t := &j.tasks[ti]
	r0 := c * j.rows
	r1 := min(r0+j.rows, t.w.Rows)
	mulRows(t.w, r0, r1, t.vecs, t.out[r0:], t.stride, j.exact)
}

// mulRows sets out[b*stride+i-r0] to row i of w times vecs[b], for i in
// [r0, r1): quant.MulRowsPacked where w is packed (the chunks are whole
// groups of sixteen rows), else quant.MulRows. Both keep a chunk of weight
// rows in L1 while the batch's vectors stream past it, so weights come
// from memory once per step; float weights in exact steps go one vector at a time (see
// fourAtOnce).
func mulRows(w *Matrix, r0, r1 int, vecs []quant.Vec, out []float32, stride int, exact bool) {
	if w.Packed != nil && quant.MulRowsPacked(w.Packed, w.RowBytes, r0, r1, vecs, out, stride) {
		return
	}
	if fourAtOnce(w.Type, exact) {
		quant.MulRows(w.Data, w.RowBytes, r0, r1, vecs, out, stride)
		return
	}
	for b := range vecs {
		vecs[b].DotRows(w.Data, w.RowBytes, r0, r1, out[b*stride:b*stride+r1-r0])
	}
}

// ffnJob computes act(gate·x) * (up·x) row by row, so the activation runs
// in parallel with the products.
type ffnJob struct {
	s      *Session
	l      *layer
	gv, uv []quant.Vec
	nrows  int
	rows   int  // per chunk
	exact  bool // as matJob's
	gelu   bool // the gate activation is GELU, not SiLU
}

// act sets dst to act(g)·u. (A switch, not a func value: an indirect call
// would move run's stack tiles to the heap.)
func (j *ffnJob) act(dst, g, u []float32) {
	if j.gelu {
		geluMul(dst, g, u)
	} else {
		siluMul(dst, g, u)
	}
}

func (s *Session) ffn(n int, l *layer) {
	c := &s.m.cfg
	j := &s.fj
	j.l, j.nrows = l, c.FFN
	j.gelu = c.FFNAct == ActGELU
	// The row job before prepared the vectors for both.
	j.gv = s.vecs[l.gate.Type][:n]
	j.uv = s.vecs[l.up.Type][:n]
	j.rows = chunkRows(n)
	s.pool.do(j, (c.FFN+j.rows-1)/j.rows)
	j.l, j.gv, j.uv = nil, nil, nil
}

func (j *ffnJob) run(w, c int) {
	cr := j.rows
	r0 := c * cr
	r1 := min(r0+cr, j.nrows)
	hb := j.s.hb
	nr, n := r1-r0, len(j.gv)
	g := j.s.ffnTmp[w][:n*cr]
	u := j.s.ffnTmp[w][MaxBatch*rowsPerChunk:][:n*cr]
	mulRows(&j.l.gate, r0, r1, j.gv, g, cr, j.exact)
	mulRows(&j.l.up, r0, r1, j.uv, u, cr, j.exact)
	// The activation runs over the whole tile in one call (in place in g;
	// the rows of a short last chunk past nr are computed and not used),
	// then each token's part goes to its row of hb.
	j.act(g, g, u)
	for b := range n {
		o := b * cr
		copy(hb[b*j.nrows+r0:b*j.nrows+r1], g[o:o+nr])
	}
}

// attnJob is causal grouped-query attention for one batch, one chunk per
// token and group of query heads: the heads that share a KV head, so that
// their scores and weighted sums take one pass over its cached keys and
// values (quant.DotsF16Heads), or one head (see attnGroup).
type attnJob struct {
	s        *Session
	layer, n int
	group    int // query heads a chunk takes
}

// attnGroup is the query heads an attention chunk of n tokens takes: all
// that share a KV head, unless that leaves the workers fewer than four
// chunks each (one decoding sequence on two threads has three KV heads to
// share out); then one.
func (s *Session) attnGroup(n int) int {
	cfg := &s.m.cfg
	if s.pool.n > 1 && n*cfg.KVHeads < 4*s.pool.n {
		return 1
	}
	return cfg.headsPerKV()
}

// headsPerKV is the number of query heads that share each KV head.
func (c *Config) headsPerKV() int { return c.Heads / c.KVHeads }

// scoresLen is the attention scores a worker keeps for a context of ctx
// positions: a row for each query head of a KV head (see attnJob).
func (m *Model) scoresLen(ctx int) int { return ctx * m.cfg.headsPerKV() }

func (j *attnJob) run(w, c int) {
	s := j.s
	cfg := &s.m.cfg
	groups := cfg.Heads / j.group // chunks per token
	b, h0 := c/groups, c%groups*j.group
	hd, qDim, kvDim := cfg.HeadDim, cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	kvh := h0 / cfg.headsPerKV()
	q := s.q[b*qDim+h0*hd : b*qDim+(h0+j.group)*hd]
	r := s.rows[b]
	kc, vc := r.kv.kc[j.layer], r.kv.vc[j.layer]
	npos := r.pos + 1
	// A windowed layer sees the last SlidingWindow positions; the ones
	// before are masked (zero probability). Scores start at a multiple of
	// 16 so that the sums below group positions as they would unmasked.
	lo := 0
	if s.m.layers[j.layer].window {
		lo = max(0, npos-cfg.SlidingWindow)
	}
	g0 := lo &^ 15
	// Each head's scores are a row of span floats, for positions g0 on.
	span := npos - g0
	scores := s.scores[w][:j.group*span]
	quant.DotsF16Heads(scores[lo-g0:], span, npos-lo, kc[lo*kvDim+kvh*hd:], kvDim, q, hd, j.group)
	scale := cfg.AttnScale
	if cfg.QueryPreScale {
		scale = 1 // q was scaled before rounding
	}
	for k := range j.group {
		sc := scores[k*span : (k+1)*span]
		clear(sc[:lo-g0])
		win := sc[lo-g0:]
		if cfg.AttnSoftCap != 0 {
			softCap(win, cfg.AttnSoftCap)
		}
		mx := float32(math.Inf(-1))
		for i, v := range win {
			v *= scale
			win[i] = v
			mx = max(mx, v)
		}
		// ggml sums the exponentials 16 at a time (the cache is padded with
		// masked, zero-probability positions) into a float64.
		expSub(win, win, mx)
		var sum float64
		var grp [16]float32
		for g := 0; g < len(sc); g += 16 {
			grp = [16]float32{}
			copy(grp[:], sc[g:min(g+16, len(sc))])
			sum += float64(sum16(&grp))
		}
		inv := float32(1 / sum)
		// ggml multiplies the probabilities, rounded to half, by the F16 V cache.
		for i, e := range win {
			win[i] = e * inv
		}
		quant.RoundF16s(win)
	}
	out := s.att[b*qDim+h0*hd : b*qDim+(h0+j.group)*hd]
	clear(out)
	quant.AxpysF16Heads(out, hd, vc[lo*kvDim+kvh*hd:], kvDim, scores[lo-g0:], span, npos-lo, j.group)
}
