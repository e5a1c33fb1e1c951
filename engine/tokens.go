package engine

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"

	"github.com/chorus-ai/chorus/engine/sample"
)

// TokenRequest is a generation over token ids, for models whose output is not text (the image
// model's palette tokens). Zero sampling fields mean "off", as in Request.
type TokenRequest struct {
	// Prompt is run as given: no BOS is added (Encode adds it).
	Prompt []int32
	// MaxTokens is how many tokens to generate; it must be positive and fit the context.
	MaxTokens   int
	Temperature float32 // <= 0: greedy
	TopK        int     // <= 0: off
	TopP        float32 // <= 0 or >= 1: off
	Seed        uint64  // with the same request and model, the same seed gives the same tokens
	// Allow restricts sampling to these token ids (every other logit is masked to -Inf);
	// empty allows every token.
	Allow []int32
	// Guidance, when above zero with Unconditional set, mixes the logits of a second pass
	// over Unconditional (the prompt without its condition) as classifier-free guidance:
	// logits = uncond + Guidance·(cond − uncond). Guidance 1 is the plain conditional model.
	// The second pass uses a KV cache of its own, built for the call.
	Guidance      float32
	Unconditional []int32
}

// Encode tokenizes text as a prompt: BOS first when the model adds one, and text taken
// literally (control-token names in it stay text).
func (m *Model) Encode(text string) []int32 { return m.tok.EncodeLiteral(text, true) }

// TokenID returns the id of the token spelt s (a control token such as "<|image|>").
func (m *Model) TokenID(s string) (int32, bool) { return m.tok.Lookup(s) }

// GenerateTokens runs req and calls emit with each sampled id. It returns the sampled ids;
// ctx is checked before every token, and a cancelled ctx returns ctx.Err() with the ids so
// far. It holds one of the model's sessions for its whole run, as Generate does.
func (m *Model) GenerateTokens(ctx context.Context, req TokenRequest, emit func(id int32) error) (out []int32, err error) {
	cfg, err := samplerConfig(Request{Temperature: req.Temperature, TopK: req.TopK, TopP: req.TopP, Seed: req.Seed})
	if err != nil {
		return nil, err
	}
	guided := req.Guidance > 0 && len(req.Unconditional) > 0
	switch {
	case len(req.Prompt) == 0:
		return nil, fmt.Errorf("%w: empty prompt", ErrInvalidRequest)
	case req.MaxTokens <= 0:
		return nil, fmt.Errorf("%w: max tokens %d <= 0", ErrInvalidRequest, req.MaxTokens)
	case len(req.Prompt)+req.MaxTokens-1 > m.opts.ctxSize ||
		guided && len(req.Unconditional)+req.MaxTokens-1 > m.opts.ctxSize:
		return nil, fmt.Errorf("%w: %d prompt tokens and %d to generate, context %d", ErrPromptTooLong,
			len(req.Prompt), req.MaxTokens, m.opts.ctxSize)
	case math.IsNaN(float64(req.Guidance)) || math.IsInf(float64(req.Guidance), 0):
		return nil, fmt.Errorf("%w: guidance %v", ErrInvalidRequest, req.Guidance)
	}
	vocab := m.net.Config().Vocab
	var allowed []bool
	if len(req.Allow) > 0 {
		allowed = make([]bool, vocab)
		for _, id := range req.Allow {
			if id < 0 || int(id) >= vocab {
				return nil, fmt.Errorf("%w: allowed token %d outside the vocabulary of %d", ErrInvalidRequest, id, vocab)
			}
			allowed[id] = true
		}
	}
	for _, ids := range [][]int32{req.Prompt, req.Unconditional} {
		for _, id := range ids {
			if id < 0 || int(id) >= vocab {
				return nil, fmt.Errorf("%w: prompt token %d outside the vocabulary of %d", ErrInvalidRequest, id, vocab)
			}
		}
	}
	smp, err := sample.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	sess, err := m.acquire(ctx)
	if err != nil {
		return nil, err
	}
	// The unconditional pass is a second sequence of the batch, with a cache of its own.
	var uncond *stepReq
	if guided {
		s := m.net.NewSession(m.opts.ctxSize)
		defer s.Close()
		uncond = newStepReq(s)
		m.sched.join(1)
		defer m.release(sess, 2, &err)
	} else {
		defer m.release(sess, 1, &err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var with []*stepReq
	if guided {
		uncond.toks = req.Unconditional
		with = append(with, uncond)
	}
	logits, err := m.prefill(ctx, sess, req.Prompt, with...)
	if err != nil {
		return nil, err
	}
	var ulogits []float32
	if guided {
		ulogits = uncond.logits
	}
	mixed := make([]float32, len(logits))
	negInf := float32(math.Inf(-1))
	out = make([]int32, 0, req.MaxTokens)
	tok := []int32{0}
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		for i, l := range logits {
			if guided {
				l = ulogits[i] + req.Guidance*(l-ulogits[i])
			}
			if allowed != nil && !allowed[i] {
				l = negInf
			}
			mixed[i] = l
		}
		id := smp.Sample(mixed)
		out = append(out, id)
		if err := emit(id); err != nil {
			return out, err
		}
		if len(out) == req.MaxTokens {
			return out, nil
		}
		tok[0] = id
		if !guided {
			if logits, err = m.decode(ctx, sess, tok); err != nil {
				return out, err
			}
			continue
		}
		// Both passes in the same step.
		sess.req.toks, uncond.toks = tok, tok
		if err := m.sched.decode(ctx, sess.req, uncond); err != nil {
			sess.tokens = sess.tokens[:0] // the cache may be ahead of them
			return out, err
		}
		sess.tokens = append(sess.tokens, id)
		logits, ulogits = sess.req.logits, uncond.logits
	}
}
