package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// FitOptions are how Fit reports and keeps a run.
type FitOptions struct {
	// Checkpoint is the file the state is saved to every Every steps, at
	// the end and when ctx ends.
	Checkpoint string
	Every      int
	// Eval, when set, is the validation loss (nats per scored token),
	// printed after each save; EvalUnit names what it is per, for the log.
	Eval     func() float64
	EvalUnit string
	// Log receives one line per step and per evaluation.
	Log io.Writer
}

// Fit steps the trainer over d until the schedule's last step, saving and
// evaluating as opts says. When ctx ends (SIGINT, SIGTERM) it saves and
// returns an error saying so, so that a later Fit resumes from there.
func (t *Trainer) Fit(ctx context.Context, d Batcher, opts FitOptions) error {
	s := t.S
	start, tokens := time.Now(), 0
	for s.Step < s.Hyper.Steps {
		st, err := t.Step(d)
		if err != nil {
			return err
		}
		tokens += st.Tokens
		el := time.Since(start).Seconds()
		fmt.Fprintf(opts.Log, "step %d loss %.4f gnorm %.3f lr %.2e tok/s %.0f elapsed %.0fs epoch %d.%d\n", st.Step, st.Loss,
			st.GradNorm, st.LR, float64(tokens)/el, el, s.Data.Epoch, s.Data.Pos)
		if math.IsNaN(st.Loss) {
			return errors.New("loss is NaN")
		}
		done, stopping := s.Step == s.Hyper.Steps, ctx.Err() != nil
		if s.Step%opts.Every == 0 || done || stopping {
			if err := s.Save(opts.Checkpoint); err != nil {
				return err
			}
			if opts.Eval != nil {
				vl := opts.Eval()
				fmt.Fprintf(opts.Log, "eval step %d val_loss %.4f val_ppl %.2f%s\n", s.Step, vl, math.Exp(vl), opts.EvalUnit)
			}
		}
		if stopping {
			return fmt.Errorf("stopped at step %d; checkpoint saved", s.Step)
		}
	}
	return nil
}

// Resume returns the state of the run whose checkpoint is ckpt: loaded from
// it when it exists (with its schedule made to end at steps when the caller
// set steps explicitly), or else a new one from the config and recipe that
// fresh gives, its schedule ending at steps. It says which on log.
func Resume(ckpt string, steps int, explicit bool, log io.Writer, fresh func() (Config, Hyper, error)) (*State, error) {
	if _, err := os.Stat(ckpt); err != nil {
		c, h, err := fresh()
		if err != nil {
			return nil, err
		}
		h.Steps = steps
		return NewState(c, h)
	}
	s, err := LoadState(ckpt)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "resuming at step %d of %d\n", s.Step, s.Hyper.Steps)
	if explicit && steps != s.Hyper.Steps {
		fmt.Fprintf(log, "schedule now ends at step %d\n", steps)
		s.Hyper.Steps = steps
	}
	if err := s.Hyper.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// HeldOutLoss returns a FitOptions.Eval: the mean loss per scored token over
// seqs, each of which scores perSeq tokens. It returns nil when seqs is
// empty, so that nothing is evaluated.
func HeldOutLoss(s *State, seqs [][]int32, perSeq int) func() float64 {
	if len(seqs) == 0 {
		return nil
	}
	return func() float64 {
		var sum float64
		for _, seq := range seqs {
			sum += Loss(s.Cfg, s.Params, seq)
		}
		return sum / float64(len(seqs)*perSeq)
	}
}

// FitUntilSignal is the trainer commands' fit: it prints the model and
// recipe on opts.Log, then runs Fit on a new trainer for s until the
// schedule ends or SIGINT or SIGTERM arrives (then Fit saves and says so).
func FitUntilSignal(s *State, d Batcher, opts FitOptions) error {
	tr, err := NewTrainer(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.Log, "model: %+v, %d parameters\nrecipe: %+v\n", s.Cfg, s.Cfg.NumParams(), s.Hyper)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return tr.Fit(ctx, d, opts)
}
