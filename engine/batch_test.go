package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// runAll runs every request, all at once when together, else one after another.
func runAll[Q, R any](t *testing.T, reqs []Q, together bool, run func(Q) (R, error)) []R {
	t.Helper()
	out := make([]R, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, q := range reqs {
		if !together {
			out[i], errs[i] = run(q)
			continue
		}
		wg.Go(func() { out[i], errs[i] = run(q) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBatchedGenerateMatchesAlone runs requests concurrently, so they share decode steps (and
// a long prompt is read in chunks between them), and one at a time: greedy and seeded
// requests give the same text either way.
func TestBatchedGenerateMatchesAlone(t *testing.T) {
	long := "Once upon a time there was a story that went on and on, " +
		"longer than a single step of the scheduler takes while others decode, so it is read in chunks. "
	for _, tc := range []struct {
		name string
		m    *Model
	}{
		{name: "synthetic", m: newTestModel(t, WithSessions(4))},
		{name: "chorus-mini", m: loadShipped(t, WithSessions(4))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reqs []Request
			for i, p := range []string{"The cat", "A long time ago", long + long, "Hello"} {
				reqs = append(reqs, Request{Prompt: p, MaxTokens: 24},
					Request{Prompt: p, MaxTokens: 24, Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: uint64(i + 1)})
			}
			run := func(r Request) (Result, error) {
				return tc.m.Generate(context.Background(), r, func(string) error { return nil })
			}
			alone := runAll(t, reqs, false, run)
			together := runAll(t, reqs, true, run)
			tc.m.sched.mu.Lock()
			widest := tc.m.sched.widest
			tc.m.sched.mu.Unlock()
			if widest < 2 {
				t.Errorf("no step ran more than %d sequence: the requests were not batched", widest)
			}
			for i := range reqs {
				if alone[i] != together[i] {
					t.Errorf("request %d (%q, temperature %g): alone %+v, batched %+v", i, reqs[i].Prompt[:min(len(reqs[i].Prompt), 20)],
						reqs[i].Temperature, alone[i], together[i])
				}
				if alone[i].OutputTokens == 0 {
					t.Errorf("request %d generated nothing", i)
				}
			}
		})
	}
}

// TestBatchedGenerateTokensMatchesAlone does the same for token generation with an Allow mask
// and classifier-free guidance (two sequences per request in the batch).
func TestBatchedGenerateTokensMatchesAlone(t *testing.T) {
	m := newTestModel(t, WithSessions(3))
	var reqs []TokenRequest
	for i := range 3 {
		p := m.Encode(fmt.Sprintf("picture %d of", i))
		reqs = append(reqs, TokenRequest{Prompt: p, MaxTokens: 16, Temperature: 1, Seed: uint64(i), Allow: []int32{40, 41, 42, 43, 44, 45},
			Guidance: 3, Unconditional: p[:2]})
	}
	reqs[2].Guidance = 0
	run := func(r TokenRequest) ([]int32, error) {
		return m.GenerateTokens(context.Background(), r, func(int32) error { return nil })
	}
	alone := runAll(t, reqs, false, run)
	together := runAll(t, reqs, true, run)
	for i := range reqs {
		if !slices.Equal(alone[i], together[i]) || len(alone[i]) != 16 {
			t.Errorf("request %d: alone %v, batched %v", i, alone[i], together[i])
		}
	}
}

// TestCancelFreesSlot cancels a generation that shares the batch with another: its slot goes
// to a waiting caller while the other still holds its own.
func TestCancelFreesSlot(t *testing.T) {
	m := newTestModel(t, WithSessions(2))
	long := TokenRequest{Prompt: m.Encode("The"), MaxTokens: 300} // no end of text: only cancel ends it
	var wg sync.WaitGroup
	defer wg.Wait()
	// The other slot's generation stops in its emit until the test is done.
	hold, holding := make(chan struct{}), make(chan struct{})
	defer close(hold)
	wg.Go(func() {
		first := true
		if _, err := m.GenerateTokens(context.Background(), long, func(int32) error {
			if first {
				first = false
				close(holding)
				<-hold
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	wg.Go(func() {
		var once sync.Once
		_, err := m.GenerateTokens(ctx, long, func(int32) error {
			once.Do(func() { close(started) })
			return nil
		})
		cancelled <- err
	})
	<-holding
	<-started
	// Both slots are held: a third caller waits until cancel frees one.
	third := make(chan error, 1)
	wg.Go(func() {
		_, err := m.Generate(context.Background(), Request{Prompt: "Hi", MaxTokens: 2}, func(string) error { return nil })
		third <- err
	})
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled generation returned %v", err)
	}
	select {
	case err := <-third:
		if err != nil {
			t.Errorf("third generation: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("the cancelled generation's slot was not freed")
	}
}

func TestKVBudget(t *testing.T) {
	one := int64(2 * 256 * 64 * 2 * 2) // a slot's cache at context 256 (see TestInfo)
	for _, tc := range []struct {
		budget int64
		want   int
	}{{0, 8}, {3*one + 1, 3}, {one / 2, 1}, {100 * one, 8}} {
		m := newTestModel(t, WithContextSize(256), WithSessions(8), WithKVBudget(tc.budget))
		if got := m.Info().Slots; got != tc.want {
			t.Errorf("budget %d bytes: %d slots, want %d", tc.budget, got, tc.want)
		}
	}
}

// TestStepChunksPrompts runs scheduler steps by hand: a prompt shares a step with a decoding
// sequence only prefillChunk tokens at a time, and takes up to MaxBatch once none decodes.
func TestStepChunksPrompts(t *testing.T) {
	m := newTestModel(t)
	sc := &scheduler{b: m.net.NewBatch(), vocab: m.Info().Vocab}
	defer sc.b.Close()
	dec, pre := m.net.NewSession(512), m.net.NewSession(512)
	defer dec.Close()
	defer pre.Close()
	a, b := newStepReq(dec), newStepReq(pre)
	a.toks = []int32{1, 2, 3} // a's prompt, then one token a step
	prompt := make([]int32, 200)
	for i := range prompt {
		prompt[i] = int32(3 + i%300)
	}
	sc.pending = []*stepReq{a}
	sc.step()
	<-a.done
	a.toks = []int32{5}
	b.toks = prompt
	sc.pending = []*stepReq{a, b}
	sc.step()
	<-a.done
	if dec.Len() != 4 || pre.Len() != prefillChunk || len(b.toks) != 200-prefillChunk {
		t.Fatalf("beside a decode: %d and %d tokens in the caches, %d to go; want 4, %d, %d",
			dec.Len(), pre.Len(), len(b.toks), prefillChunk, 200-prefillChunk)
	}
	sc.step() // b alone: a full step
	if want := prefillChunk + 128; pre.Len() != want || len(b.toks) != 200-want {
		t.Fatalf("alone: %d tokens in the cache, %d to go; want %d, %d", pre.Len(), len(b.toks), want, 200-want)
	}
	sc.step()
	<-b.done
	if pre.Len() != 200 || len(b.logits) != sc.vocab || len(sc.pending) != 0 {
		t.Fatalf("after the prompt: %d tokens, %d logits, %d requests pending", pre.Len(), len(b.logits), len(sc.pending))
	}
	// The chunked prompt gives the logits reading it at once gives.
	s := m.net.NewSession(512)
	defer s.Close()
	want, err := s.Decode(prompt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(want, b.logits) {
		t.Error("a prompt read in chunks beside a decode ends with other logits than read at once")
	}
}
