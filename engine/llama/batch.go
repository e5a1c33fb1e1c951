package llama

import "fmt"

// Batch runs forward steps that serve several sessions at once: the rows
// of a step are the tokens of every sequence in it, so each weight matrix
// is read from memory once per step however many sequences decode, while
// each row keeps to its own session's KV cache and positions. Its scratch
// and workers are its own; the sessions it steps lend only their caches.
// A Batch is not safe for concurrent use, and a session must not be
// decoded on its own while a Batch step holds it.
//
// A row's logits do not depend on the other rows of its step: the
// quantised kernels are exact per row, and float weights are taken one row
// at a time (see fourAtOnce), so a sequence decoded in a batch gives the
// same tokens as it does alone in one.
type Batch struct {
	w      *Session // the workspace: scratch, workers; its own cache is unused
	tokens []int32  // the step's rows
}

// BatchSeq is one sequence's part of a step.
type BatchSeq struct {
	Session *Session
	// Tokens are fed at the session's next positions.
	Tokens []int32
	// Logits asks for the logits after the last of Tokens.
	Logits bool
}

// NewBatch returns a Batch for steps over m's sessions.
func (m *Model) NewBatch() *Batch {
	w := m.NewSession(1)
	w.mj.exact, w.fj.exact = true, true
	return &Batch{w: w, tokens: make([]int32, 0, MaxBatch)}
}

// Close stops the batch's workers.
func (b *Batch) Close() { b.w.Close() }

// Step runs every sequence's tokens (MaxBatch in all at most, each session
// at most once) as one forward step and advances the sessions. It returns
// the logits of the sequences that asked for them, vocabulary-sized and in
// the order of seqs, valid until the next Step. An invalid step changes
// nothing.
func (b *Batch) Step(seqs []BatchSeq) ([]float32, error) {
	w := b.w
	c := &w.m.cfg
	total, nl := 0, 0
	for i, sq := range seqs {
		s := sq.Session
		switch {
		case s == nil || s.m != w.m:
			return nil, fmt.Errorf("%w: sequence %d has no session of this model", ErrToken, i)
		case len(sq.Tokens) == 0:
			return nil, fmt.Errorf("%w: sequence %d has no tokens", ErrToken, i)
		case s.n+len(sq.Tokens) > s.cap:
			return nil, fmt.Errorf("%w: sequence %d: %d + %d tokens > %d", ErrContextFull, i, s.n, len(sq.Tokens), s.cap)
		}
		for _, prev := range seqs[:i] {
			if prev.Session == s {
				return nil, fmt.Errorf("%w: sequence %d repeats a session", ErrToken, i)
			}
		}
		for _, t := range sq.Tokens {
			if t < 0 || int(t) >= c.Vocab {
				return nil, fmt.Errorf("%w: %d (vocabulary %d)", ErrToken, t, c.Vocab)
			}
		}
		total += len(sq.Tokens)
		if sq.Logits {
			nl++
		}
	}
	if total == 0 || total > MaxBatch {
		return nil, fmt.Errorf("%w: %d tokens in a step, 1 to %d allowed", ErrToken, total, MaxBatch)
	}
	tokens := b.tokens[:0]
	w.rows, w.outRows = w.rows[:0], w.outRows[:0]
	for _, sq := range seqs {
		s := sq.Session
		for i, t := range sq.Tokens {
			tokens = append(tokens, t)
			w.rows = append(w.rows, rowRef{kv: s, pos: s.n + i})
		}
		if sq.Logits {
			w.outRows = append(w.outRows, len(w.rows)-1)
		}
		// Attention scores are scratch per worker, one per cached position
		// and query head of a KV head.
		for i := range w.scores {
			if n := w.m.scoresLen(s.cap); len(w.scores[i]) < n {
				w.scores[i] = make([]float32, n)
			}
		}
	}
	w.logits = growF(w.logits, nl*c.Vocab)
	w.forward(tokens, w.logits)
	for _, sq := range seqs {
		sq.Session.n += len(sq.Tokens)
	}
	return w.logits, nil
}
