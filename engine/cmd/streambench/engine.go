package main

import (
	"context"
	"sync"
	"time"

	"github.com/chorus-ai/chorus/engine"
)

// engineRunner runs concurrent streams on the engine's scheduler, in this process.
type engineRunner struct{ m *engine.Model }

// round runs one greedy GenerateTokens call per prompt, all at once, each generating gen
// tokens (GenerateTokens stops only at MaxTokens, so end-of-text does not end a stream).
func (e *engineRunner) round(ctx context.Context, prompts [][]int32, gen int) (roundResult, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		tokens   int
		firstErr error
	)
	start := time.Now()
	for _, p := range prompts {
		wg.Go(func() {
			out, err := e.m.GenerateTokens(ctx, engine.TokenRequest{Prompt: p, MaxTokens: gen},
				func(int32) error { return nil })
			mu.Lock()
			defer mu.Unlock()
			tokens += len(out)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return roundResult{tokens: tokens, wall: time.Since(start)}, firstErr
}
