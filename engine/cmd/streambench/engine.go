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
// tokens (GenerateTokens stops only at MaxTokens, so end-of-text does not end a stream). Its
// CPU time is this process's, which is the engine's and the streams' goroutines.
func (e *engineRunner) round(ctx context.Context, prompts [][]int32, gen int) (roundResult, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		tokens   int
		firstErr error
	)
	start, cpu0 := time.Now(), selfCPU()
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
	wall := time.Since(start)
	return roundResult{tokens: tokens, wall: wall, cpu: selfCPU() - cpu0}, firstErr
}
