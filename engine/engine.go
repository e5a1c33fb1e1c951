package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/engine/structured"
	"github.com/chorus-ai/chorus/engine/tokenizer"
)

// Sentinel errors; returned errors wrap them with detail.
var (
	// ErrClosed reports use of a closed Model.
	ErrClosed = errors.New("engine: model is closed")
	// ErrInvalidRequest reports a request that cannot be run: sampling values out of range,
	// neither prompt nor messages, a chat template the engine does not know.
	ErrInvalidRequest = errors.New("engine: invalid request")
	// ErrPromptTooLong reports a prompt that leaves no room in the context to generate.
	ErrPromptTooLong = errors.New("engine: prompt does not fit the context")
	// ErrInternal reports a call that panicked (a bug, or a read of a model file that was
	// truncated or rewritten while loaded, which wraps gguf.ErrFault): the call fails, its
	// session is discarded, and the model goes on serving other calls.
	ErrInternal = errors.New("engine: internal error")
)

// DefaultContextSize caps each session's KV cache when no WithContextSize is given; models
// declare contexts (8k to 128k) whose caches would not fit a small machine.
const DefaultContextSize = 2048

type options struct {
	threads  int
	ctxSize  int
	sessions int
	kvBudget int64
	noPack   bool
}

// Option configures Load.
type Option func(*options)

// WithThreads sets how many goroutines the forward passes use (default GOMAXPROCS): the
// model's one batch of running generations steps on them.
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// WithContextSize sets the tokens each session holds, prompt and output together (default
// DefaultContextSize, never more than the model's own context length).
func WithContextSize(n int) Option { return func(o *options) { o.ctxSize = n } }

// WithSessions sets how many generations may run at once (default 1): the slots of continuous
// batching, each a KV cache of WithContextSize tokens. Further callers of Generate wait for a
// free slot.
func WithSessions(n int) Option { return func(o *options) { o.sessions = n } }

// WithKVBudget caps the memory the slots' KV caches take together, in bytes: Load keeps
// fewer slots than WithSessions asks when they would not fit (never fewer than one). 0 means
// no cap.
func WithKVBudget(bytes int64) Option { return func(o *options) { o.kvBudget = bytes } }

// WithoutPacking keeps the weights in the file's layout only: no packed copies of the Q8_0,
// Q4_0, Q5_0 and IQ4_NL matrices (see llama.Model), less memory, and products summed in
// ggml's order, at about half the speed for batches of several sequences and for prompts
// (Q5_0 and IQ4_NL: a seventh, and half for one sequence's generation).
func WithoutPacking() Option { return func(o *options) { o.noPack = true } }

// Model is a loaded GGUF model with its tokenizer. Generate is safe for concurrent use: each
// call takes one of the model's slots (WithSessions, default 1) for its whole run, and waits,
// honouring its context, while none is free. The generations that hold slots are decoded
// together, continuously batched: each forward step feeds the next token of every sequence
// that is decoding, and a chunk of a prompt being read, through one pass over the weights;
// a generation joins the running batch at the next step and leaves it when it ends or its
// context is cancelled. Close must not race with Load's return.
type Model struct {
	file   *gguf.File
	net    *llama.Model
	tok    *tokenizer.Tokenizer
	info   Info
	opts   options
	slots  chan *session
	sched  *scheduler
	done   chan struct{} // closed by Close, wakes callers waiting for a session
	mu     sync.Mutex    // guards closed
	closed bool

	vocabOnce sync.Once
	vocab     *structured.Vocab // the token trie of structured output, built on first use
}

// session is one KV cache plus the tokens it holds, so a following request that shares a
// prefix (a chat's earlier turns) skips recomputing it.
type session struct {
	s      *llama.Session
	tokens []int32
	req    *stepReq // its requests to the scheduler
}

// Info describes a loaded model.
type Info struct {
	Name          string // general.name, or the file name's stem when absent
	Arch          string // "llama", "qwen2"
	ContextLength int    // the model's trained context
	ContextSize   int    // tokens a session holds (prompt plus output)
	Slots         int    // generations decoded at once (WithSessions, within WithKVBudget)
	KVBytes       int64  // the KV cache of one slot
	PackedBytes   int64  // the packed copies of the weights in memory (see WithoutPacking); 0: none
	FileType      string // quantisation, e.g. "Q8_0", "Q4_K_M", "F16"
	Params        int64  // weights in the file
	Vocab         int
	Embedding     int
	Layers        int
	Heads         int
	KVHeads       int
	ChatTemplate  string // family name, e.g. "chatml"; "plain" without a template
	// Pooling is the embedding model's pooling type (<arch>.pooling_type); PoolingNone for a
	// generative model.
	Pooling Pooling
}

// Load opens a GGUF model. The weights stay in the file's memory mapping; on CPUs with
// AVX512-VNNI the Q8_0, Q4_0, Q5_0 and IQ4_NL matrices are also copied packed (Info().PackedBytes), unless
// WithoutPacking.
func Load(path string, opts ...Option) (*Model, error) {
	o := options{ctxSize: DefaultContextSize, sessions: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.sessions <= 0 {
		o.sessions = 1
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	net, err := llama.New(f, llama.Options{Threads: o.threads, NoPack: o.noPack})
	if err != nil {
		f.Close()
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	pooling, err := poolingOf(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	cfg := net.Config()
	if tok.VocabSize() > cfg.Vocab {
		f.Close()
		return nil, fmt.Errorf("%w: tokenizer has %d tokens, the output layer %d", llama.ErrMetadata, tok.VocabSize(), cfg.Vocab)
	}
	if o.ctxSize <= 0 || o.ctxSize > cfg.ContextLength {
		o.ctxSize = cfg.ContextLength
	}
	// K and V, F16, per layer and position.
	kvBytes := int64(cfg.Blocks) * int64(o.ctxSize) * int64(cfg.KVHeads*cfg.HeadDim) * 2 * 2
	if o.kvBudget > 0 {
		o.sessions = max(1, min(o.sessions, int(o.kvBudget/kvBytes)))
	}
	m := &Model{file: f, net: net, tok: tok, opts: o, slots: make(chan *session, o.sessions),
		done: make(chan struct{}), sched: newScheduler(net)}
	for range o.sessions {
		m.slots <- nil // sessions are built on first use
	}
	name, _ := f.String("general.name")
	m.info = Info{Name: name, Arch: cfg.Arch, ContextLength: cfg.ContextLength, ContextSize: o.ctxSize,
		Slots: o.sessions, KVBytes: kvBytes, PackedBytes: net.PackedBytes(),
		FileType: fileType(f), Params: net.Params(), Vocab: cfg.Vocab, Embedding: cfg.Embedding,
		Layers: cfg.Blocks, Heads: cfg.Heads, KVHeads: cfg.KVHeads,
		ChatTemplate: tokenizer.DetectTemplate(tok.ChatTemplate()).String(), Pooling: pooling}
	return m, nil
}

// fileTypes are llama.cpp's LLAMA_FTYPE names for general.file_type.
var fileTypes = map[uint32]string{0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
	17: "Q5_K_M", 18: "Q6_K", 25: "IQ4_NL", 30: "IQ4_XS", 32: "BF16"}

// fileType names the quantisation from general.file_type, or else from the type holding the
// most weight bytes.
func fileType(f *gguf.File) string {
	if v, ok := f.Uint32("general.file_type"); ok {
		if s, ok := fileTypes[v]; ok {
			return s
		}
	}
	bytes := map[gguf.Type]uint64{}
	var best gguf.Type
	for _, t := range f.Tensors() {
		bytes[t.Type] += t.Size
		if bytes[t.Type] > bytes[best] {
			best = t.Type
		}
	}
	return quant.Type(best).String()
}

// Info describes the model.
func (m *Model) Info() Info { return m.info }

// Close waits for running generations to finish (cancel their contexts first to hurry them),
// then releases the sessions and the file mapping.
func (m *Model) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	m.mu.Unlock()
	for range m.opts.sessions {
		if s := <-m.slots; s != nil {
			s.s.Close()
		}
	}
	m.sched.close()
	return m.file.Close()
}
