package train

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var tinyHyper = Hyper{Seed: 3, Steps: 80, Warmup: 5, BatchSeqs: 4, Workers: 2, LR: 1e-2, MinLR: 1e-3,
	WeightDecay: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Clip: 1}

// patterned is a stream a model can learn quickly: a counting sequence with occasional noise.
func patterned(c Config, n int) []int32 {
	r := NewRNG(42)
	out := make([]int32, n)
	for i := range out {
		out[i] = int32((i * 7 % 11) + (i/11)%3)
		if r.Uint64()%10 == 0 {
			out[i] = int32(r.Uint64() % uint64(c.Vocab))
		}
	}
	return out
}

func newTiny(t *testing.T, h Hyper) (*Trainer, *Dataset) {
	t.Helper()
	c := tinyConfig
	c.Context = 16
	s, err := NewState(c, h)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDataset(patterned(c, 4000), c.Context)
	if err != nil {
		t.Fatal(err)
	}
	return tr, d
}

func TestLossDecreases(t *testing.T) {
	tr, d := newTiny(t, tinyHyper)
	var first, last float64
	for i := range tinyHyper.Steps {
		st, err := tr.Step(d)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st.Loss
		}
		last = st.Loss
	}
	if math.Abs(first-math.Log(float64(tinyConfig.Vocab))) > 0.2 {
		t.Errorf("initial loss %.3f, want about ln(vocab) = %.3f", first, math.Log(float64(tinyConfig.Vocab)))
	}
	if last > first/2 {
		t.Errorf("loss went from %.3f to %.3f in %d steps", first, last, tinyHyper.Steps)
	}
}

// TestResumeIsExact trains 6 steps straight through, and 3 steps, a checkpoint, a fresh
// process's worth of state and 3 more: the weights, moments and data position must match
// bit for bit.
func TestResumeIsExact(t *testing.T) {
	h := tinyHyper
	h.Steps = 6
	a, d := newTiny(t, h)
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	for i := range 6 {
		if _, err := a.Step(d); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := a.S.Save(path); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Step != 3 {
		t.Fatalf("checkpoint at step %d, want 3", s.Step)
	}
	b, err := NewTrainer(s)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := NewDataset(d.Tokens, s.Cfg.Context)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.Step(d2); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(a.S.Data, b.S.Data) || a.S.Step != b.S.Step {
		t.Errorf("resumed at %+v step %d, straight run at %+v step %d", b.S.Data, b.S.Step, a.S.Data, a.S.Step)
	}
	for name, pair := range map[string][2][]float32{"params": {a.S.Params, b.S.Params}, "m": {a.S.M, b.S.M}, "v": {a.S.V, b.S.V}} {
		for i := range pair[0] {
			if math.Float32bits(pair[0][i]) != math.Float32bits(pair[1][i]) {
				t.Fatalf("%s[%d]: straight %g, resumed %g", name, i, pair[0][i], pair[1][i])
			}
		}
	}
}

func TestLoadStateRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(path, []byte("not a checkpoint at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("LoadState(garbage) = %v, want ErrCheckpoint", err)
	}
}

func TestSchedule(t *testing.T) {
	h := Hyper{Steps: 100, Warmup: 10, LR: 1, MinLR: 0.1}
	if got := h.LRAt(0); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("LRAt(0) = %g, want 0.1", got)
	}
	if got := h.LRAt(9); got != 1 {
		t.Errorf("LRAt(9) = %g, want the peak", got)
	}
	if got := h.LRAt(99); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("LRAt(last) = %g, want MinLR", got)
	}
	for s := 10; s < 99; s++ {
		if h.LRAt(s+1) > h.LRAt(s) {
			t.Fatalf("learning rate rises after warmup at step %d", s)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := tinyConfig
	bad.Dim = 40
	if err := bad.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("width 40: %v", err)
	}
	bad = tinyConfig
	bad.KVHeads = 3
	if err := bad.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("4 heads over 3 kv heads: %v", err)
	}
	if err := (Hyper{Steps: 1, BatchSeqs: 3, Workers: 2, LR: 1, Eps: 1}).Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("uneven batch: %v", err)
	}
}
