package runner

import (
	"errors"
	"testing"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// A step whose output passes -max-step-bytes, or a run whose steps' output
// passes -max-run-bytes, fails the run RESOURCE_EXHAUSTED naming the step
// (a streamed text and a step of voiced items alike), and the runner serves
// the next run within its bounds.
func TestOutputIsBounded(t *testing.T) {
	const script = "One. Two. Three." // 16 bytes; each voiced sentence a WAV of a few hundred bytes
	reg, err := pipeline.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	p := reg.Get("script-then-voiceover")
	inputs, err := p.ResolveInputs(map[string]string{"topic": "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		maxStep, maxRun   int64
		wantStep, subject string
	}{
		{name: "the streamed script passes the step bound", maxStep: 10, maxRun: 1 << 20, wantStep: "script", subject: "step_output_bytes"},
		{name: "the voiced items pass the run bound", maxStep: 1 << 20, maxRun: 40, wantStep: "voiceover", subject: "run_output_bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn := newTestRunner(t, 4, script)
			rn.cfg.MaxStepBytes, rn.cfg.MaxRunBytes = tc.maxStep, tc.maxRun
			var failed *orchestratorv1.RunFailed
			err := rn.Run(t.Context(), p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
				if f := ev.GetRunFailed(); f != nil {
					failed = f
				}
				return nil
			})
			var re *rpcerr.Error
			if !errors.As(err, &re) || re.Code != codes.ResourceExhausted || re.Reason != ReasonOutputTooLarge || re.Metadata["subject"] != tc.subject {
				t.Fatalf("Run = %v, want RESOURCE_EXHAUSTED %s (%s)", err, ReasonOutputTooLarge, tc.subject)
			}
			if failed.GetStep() != tc.wantStep || failed.GetCode() != "RESOURCE_EXHAUSTED" {
				t.Errorf("RunFailed = %v, want RESOURCE_EXHAUSTED at step %s", failed, tc.wantStep)
			}

			rn.cfg.MaxStepBytes, rn.cfg.MaxRunBytes = DefaultMaxStepBytes, DefaultMaxRunBytes
			if err := rn.Run(t.Context(), p, inputs, func(*orchestratorv1.RunPipelineResponse) error { return nil }); err != nil {
				t.Fatalf("a run within the bounds: %v", err)
			}
		})
	}
}
