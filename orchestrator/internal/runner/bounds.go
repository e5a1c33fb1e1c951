package runner

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Default bounds on what a run holds in memory: a service's output is not
// trusted to be small (one call is bounded by genai.MaxArtifactBytes, but a
// text stream or a step of many items is not).
const (
	DefaultMaxStepBytes = 256 << 20
	DefaultMaxRunBytes  = 512 << 20
)

// outputBytes counts the bytes a run's steps produced (text and artifacts)
// against Config.MaxStepBytes and Config.MaxRunBytes.
type outputBytes struct {
	mu     sync.Mutex
	run    int64
	steps  map[string]int64
	maxRun int64
	maxOne int64
}

// charge adds n bytes of step's output, or fails with RESOURCE_EXHAUSTED
// naming the step once a bound is passed.
func (b *outputBytes) charge(step string, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.steps == nil {
		b.steps = map[string]int64{}
	}
	b.steps[step] += int64(n)
	b.run += int64(n)
	switch {
	case b.steps[step] > b.maxOne:
		return rpcerr.New(codes.ResourceExhausted, ReasonOutputTooLarge, fmt.Sprintf(
			"step %s produced more than %d bytes, the most one step may (-max-step-bytes)", step, b.maxOne)).
			WithMetadata("subject", "step_output_bytes")
	case b.run > b.maxRun:
		return rpcerr.New(codes.ResourceExhausted, ReasonOutputTooLarge, fmt.Sprintf(
			"the run's steps produced more than %d bytes, the most one run may (-max-run-bytes), when step %s added its output", b.maxRun, step)).
			WithMetadata("subject", "run_output_bytes")
	}
	return nil
}
