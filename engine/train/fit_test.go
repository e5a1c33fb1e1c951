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

// Resume starts a run without a checkpoint, and continues one that has
// one, its schedule changed only when the caller set the steps.
func TestResume(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "checkpoint.bin")
	fresh := func() (Config, Hyper, error) { return tinyConfig, tinyHyper, nil }
	var log bytes.Buffer
	s, err := Resume(ckpt, 7, false, &log, fresh)
	if err != nil || s.Step != 0 || s.Hyper.Steps != 7 || log.Len() != 0 {
		t.Fatalf("new run: step %d of %d, %v, log %q", s.Step, s.Hyper.Steps, err, log.String())
	}
	s.Step = 3
	if err := s.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	if s, err = Resume(ckpt, 99, false, &log, fresh); err != nil || s.Step != 3 || s.Hyper.Steps != 7 {
		t.Fatalf("resumed without -steps: step %d of %d, %v", s.Step, s.Hyper.Steps, err)
	}
	if s, err = Resume(ckpt, 9, true, &log, fresh); err != nil || s.Hyper.Steps != 9 || !strings.Contains(log.String(), "schedule now ends at step 9") {
		t.Fatalf("resumed with -steps 9: %d steps, %v, log %q", s.Hyper.Steps, err, log.String())
	}
}

// FitUntilSignal runs a fresh trainer to the schedule's end, printing the
// model first; HeldOutLoss is the mean loss per scored token.
func TestFitUntilSignal(t *testing.T) {
	h := tinyHyper
	h.Steps = 3
	tr, d := newTiny(t, h)
	s := tr.S
	seqs := [][]int32{d.Tokens[:s.Cfg.Context+1], d.Tokens[1 : s.Cfg.Context+2]}
	if HeldOutLoss(s, nil, s.Cfg.Context) != nil {
		t.Error("HeldOutLoss with no sequences is not nil")
	}
	eval := HeldOutLoss(s, seqs, s.Cfg.Context)
	want := (Loss(s.Cfg, s.Params, seqs[0]) + Loss(s.Cfg, s.Params, seqs[1])) / float64(2*s.Cfg.Context)
	if got := eval(); got != want {
		t.Errorf("HeldOutLoss = %v, want %v", got, want)
	}
	var log bytes.Buffer
	ckpt := filepath.Join(t.TempDir(), "checkpoint.bin")
	if err := FitUntilSignal(s, d, FitOptions{Checkpoint: ckpt, Every: 10, Log: &log, Eval: eval}); err != nil {
		t.Fatal(err)
	}
	if s.Step != 3 || !strings.HasPrefix(log.String(), "model: ") || !strings.Contains(log.String(), "eval step 3 ") {
		t.Errorf("after FitUntilSignal: step %d, log:\n%s", s.Step, log.String())
	}
}
