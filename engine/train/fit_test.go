package train

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Fit runs the schedule to its end, saving every Every steps and at the
// end with a validation line after each save; stopped early, it saves
// where it is so that a later Fit resumes there.
func TestFit(t *testing.T) {
	h := tinyHyper
	h.Steps = 5
	tr, d := newTiny(t, h)
	ckpt := filepath.Join(t.TempDir(), "checkpoint.bin")
	var log bytes.Buffer
	evals := 0
	opts := FitOptions{Checkpoint: ckpt, Every: 2, Log: &log, EvalUnit: " (per token)",
		Eval: func() float64 { evals++; return 1 }}

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stopped before it starts: one step, then save and stop
	if err := tr.Fit(ctx, d, opts); err == nil || !strings.Contains(err.Error(), "stopped at step 1") {
		t.Fatalf("Fit with ctx done: %v, want stopped at step 1", err)
	}
	s, err := LoadState(ckpt)
	if err != nil || s.Step != 1 {
		t.Fatalf("checkpoint at step %v (%v), want 1", s, err)
	}

	if err := tr.Fit(context.Background(), d, opts); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadState(ckpt); err != nil || s.Step != 5 {
		t.Fatalf("checkpoint after Fit: %v, %v; want step 5", s, err)
	}
	// Saves: step 1 (stopped), 2, 4 and 5 (the end).
	if got := strings.Count(log.String(), "eval step"); got != 4 || evals != 4 || !strings.Contains(log.String(), "val_ppl 2.72 (per token)") {
		t.Errorf("%d eval lines, %d evaluations, want 4:\n%s", got, evals, log.String())
	}
	if !strings.Contains(log.String(), "step 5 loss ") {
		t.Errorf("no line for the last step:\n%s", log.String())
	}
}
