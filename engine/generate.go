package engine

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/sample"
	"github.com/chorus-ai/chorus/engine/structured"
	"github.com/chorus-ai/chorus/engine/tokenizer"
)

// Message is one chat turn; Role is "system", "user" or "assistant".
type Message struct {
	Role    string
	Content string
}

// Request is one generation. Either Prompt (raw text, tokenized as is) or Messages (formatted
// with the model's chat template, ending with an open assistant turn) must be set; Messages
// wins when both are. Zero values of the sampling fields mean "off": greedy decoding, no
// top-k/top-p/min-p filtering, no repetition penalty.
type Request struct {
	Prompt   string
	Messages []Message
	// MaxTokens caps the generated tokens; <= 0 means until end of text or a full context.
	MaxTokens     int
	Temperature   float32 // <= 0: greedy
	TopK          int     // <= 0: off
	TopP          float32 // <= 0 or >= 1: off
	MinP          float32 // 0: off
	RepeatPenalty float32 // 0 or 1: off; applies to the last 64 tokens, prompt included
	Seed          uint64  // with the same request and model, the same seed gives the same text
	Stop          []string
	// Schema, when set, constrains the text to one compact JSON value that the schema
	// accepts: before each token every token that could not continue such a value, or
	// could not complete it within the tokens left (MaxTokens and the context), is masked,
	// and end of text is allowed only, and then forced, once the value is complete. Stop
	// strings do not apply: the schema decides where the text ends.
	Schema *structured.Schema
}

// FinishReason says why generation ended.
type FinishReason string

// The finish reasons, named as OpenAI's API names them.
const (
	FinishStop   FinishReason = "stop"   // end-of-text token or a stop string
	FinishLength FinishReason = "length" // MaxTokens reached or the context is full
)

// Result is a finished generation.
type Result struct {
	Text         string // everything emitted, stop string excluded
	InputTokens  int
	OutputTokens int
	FinishReason FinishReason
}

// repeatWindow is how many recent tokens the repetition penalty looks at (llama.cpp's default).
const repeatWindow = 64

// Generate runs req, calling emit with each piece of text as soon as it is known (a stop
// string, or the first bytes of a multi-byte character, is held back until settled). It
// returns when the text ends, a stop string or MaxTokens is reached, the context is full, emit
// returns an error (returned as is), or ctx is done (ctx.Err() is returned with the partial
// Result): ctx is checked before every token and between prompt batches.
func (m *Model) Generate(ctx context.Context, req Request, emit func(piece string) error) (res Result, err error) {
	cfg, err := samplerConfig(req)
	if err != nil {
		return res, err
	}
	// Control tokens come only from the chat template, never from what a
	// caller wrote: "<|im_end|>" in a message or a prompt is text.
	var ids []int32
	switch {
	case len(req.Messages) > 0:
		msgs := make([]tokenizer.Message, len(req.Messages))
		for i, msg := range req.Messages {
			msgs[i] = tokenizer.Message{Role: msg.Role, Content: msg.Content}
		}
		if ids, err = m.tok.EncodeChat(msgs, true); err != nil {
			return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	case req.Prompt == "":
		return res, fmt.Errorf("%w: neither prompt nor messages", ErrInvalidRequest)
	default:
		ids = m.tok.EncodeLiteral(req.Prompt, true)
	}
	res.InputTokens = len(ids)
	if len(ids) == 0 {
		return res, fmt.Errorf("%w: the prompt encodes to no tokens", ErrInvalidRequest)
	}
	if len(ids) >= m.opts.ctxSize {
		return res, fmt.Errorf("%w: %d prompt tokens, context %d", ErrPromptTooLong, len(ids), m.opts.ctxSize)
	}
	if req.Schema != nil && len(ids)+req.Schema.MinLength()-1 > m.opts.ctxSize {
		return res, fmt.Errorf("%w: %d prompt tokens leave less than the %d the shortest value of the schema may need, context %d",
			ErrPromptTooLong, len(ids), req.Schema.MinLength(), m.opts.ctxSize)
	}
	smp, err := sample.New(cfg)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}

	sess, err := m.acquire(ctx)
	if err != nil {
		return res, err
	}
	defer m.release(sess, 1, &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	logits, err := m.prefill(ctx, sess, ids)
	if err != nil {
		return res, err
	}
	for _, id := range ids {
		smp.Accept(id)
	}
	dec := m.tok.NewStreamDecoder()
	stop := sample.NewStopMatcher(req.Stop)
	var c *constraint
	if req.Schema != nil {
		stop = sample.NewStopMatcher(nil)
		c = m.newConstraint(req.Schema, len(logits))
	}
	var text strings.Builder
	send := func(s string) error {
		if s == "" {
			return nil
		}
		text.WriteString(s)
		return emit(s)
	}
	finish := func(reason FinishReason) (Result, error) {
		res.FinishReason = reason
		if !stop.Stopped() {
			if err := send(stop.Flush()); err != nil {
				res.Text = text.String()
				return res, err
			}
		}
		res.Text = text.String()
		return res, nil
	}
	tok := []int32{0}
	for {
		if err := ctx.Err(); err != nil {
			res.Text = text.String()
			return res, err
		}
		in := logits
		if c != nil {
			// Tokens the context can still take: the one sampled now and one per decode.
			budget := sess.s.Cap() - sess.s.Len() + 1
			if req.MaxTokens > 0 {
				budget = min(budget, req.MaxTokens-res.OutputTokens)
			}
			var done bool
			if in, done, err = c.mask(logits, budget); err != nil {
				res.Text = text.String()
				return res, err
			}
			if done {
				return finish(FinishStop)
			}
		}
		id := smp.Sample(in)
		if c != nil {
			c.match.Feed(m.tok.Piece(id)) // the mask allowed it: it cannot fail
		}
		if m.tok.IsEOG(id) {
			if s, _ := stop.Push(dec.Flush()); s != "" {
				if err := send(s); err != nil {
					res.Text = text.String()
					return res, err
				}
			}
			return finish(FinishStop)
		}
		res.OutputTokens++
		piece, stopped := stop.Push(dec.Next(id))
		if err := send(piece); err != nil {
			res.Text = text.String()
			return res, err
		}
		if stopped {
			return finish(FinishStop)
		}
		if req.MaxTokens > 0 && res.OutputTokens >= req.MaxTokens || sess.s.Len() >= sess.s.Cap() {
			if s, _ := stop.Push(dec.Flush()); s != "" {
				if err := send(s); err != nil {
					res.Text = text.String()
					return res, err
				}
			}
			return finish(FinishLength)
		}
		tok[0] = id
		if logits, err = m.decode(ctx, sess, tok); err != nil {
			res.Text = text.String()
			return res, err
		}
	}
}

func samplerConfig(req Request) (sample.Config, error) {
	c := sample.Config{Temperature: req.Temperature, TopK: req.TopK, TopP: req.TopP, MinP: req.MinP,
		RepeatPenalty: req.RepeatPenalty, Seed: req.Seed}
	if c.TopP <= 0 {
		c.TopP = 1 // the sampler reads 0 as "keep one token"; a zero-valued request means off
	}
	if c.RepeatPenalty != 0 && c.RepeatPenalty != 1 {
		c.RepeatLastN = repeatWindow
	}
	if req.MaxTokens < 0 {
		return c, fmt.Errorf("%w: max tokens %d < 0", ErrInvalidRequest, req.MaxTokens)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return c, nil
}

// release gives sess back after a call, leaving the scheduler's running sequences (n: the
// call's, one or two). It is deferred by the call itself, so it recovers the call's panics
// (its own, its emit's): the call fails with ErrInternal, and the session, whose cache and
// tokens are in an unknown state, is closed, its slot left for a fresh one. A panic in a
// forward pass (a worker's, or a fault reading a model file that shrank while mapped) fails
// the requests of that step instead, in the scheduler (see scheduler.run).
func (m *Model) release(sess *session, n int, err *error) {
	m.sched.leave(n)
	p := recover()
	if p == nil {
		m.slots <- sess
		return
	}
	sess.s.Close()
	m.slots <- nil
	*err = panicError(p)
}

// panicError is the error of a call that panicked with p.
func panicError(p any) error {
	if wp, ok := p.(*llama.WorkerPanic); ok {
		p = wp.Value
	}
	if err := gguf.Fault(p); err != nil {
		return fmt.Errorf("%w: %w", ErrInternal, err)
	}
	return fmt.Errorf("%w: recovered panic: %v", ErrInternal, p)
}

// acquire takes a free session, building it on first use, and joins the scheduler's running
// sequences; release gives it back.
func (m *Model) acquire(ctx context.Context) (*session, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	select {
	case s := <-m.slots:
		if s == nil {
			ls := m.net.NewSession(m.opts.ctxSize)
			s = &session{s: ls, req: newStepReq(ls)}
		}
		m.sched.join(1)
		return s, nil
	case <-m.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// prefill brings the session's cache to ids, reusing the longest prefix it already holds
// (at least the last token is always run again, since its logits are needed), and returns the
// logits after the last token. The scheduler feeds the rest in chunks, beside other sequences;
// with, requests of the same generation (guidance's second pass), run alongside.
func (m *Model) prefill(ctx context.Context, s *session, ids []int32, with ...*stepReq) ([]float32, error) {
	keep := 0
	for keep < len(s.tokens) && keep < len(ids)-1 && s.tokens[keep] == ids[keep] {
		keep++
	}
	s.s.Truncate(keep)
	s.tokens = append(s.tokens[:keep], ids[keep:]...)
	s.req.toks = ids[keep:]
	if err := m.sched.decode(ctx, append([]*stepReq{s.req}, with...)...); err != nil {
		s.tokens = s.tokens[:min(len(s.tokens), s.s.Len())]
		return nil, err
	}
	return s.req.logits, nil
}

// decode feeds tokens after what the session holds and returns the logits after the last.
func (m *Model) decode(ctx context.Context, s *session, tokens []int32) ([]float32, error) {
	s.req.toks = tokens
	if err := m.sched.decode(ctx, s.req); err != nil {
		// The cache may or may not hold tokens (a step can finish as ctx ends); s.tokens
		// stays a prefix of it.
		return nil, err
	}
	s.tokens = append(s.tokens, tokens...)
	return s.req.logits, nil
}
