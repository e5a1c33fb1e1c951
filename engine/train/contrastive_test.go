package train

import (
	"math"
	"testing"
)

// contrastiveBatch is 4 pairs of sequences of Context+1 entries, some padded (Masked).
func contrastiveBatch(c Config) [][]int32 {
	var batch [][]int32
	for i := range 8 {
		seq := randomTokens(c, c.Context+1, uint64(100+i))
		for j := 2 + i%4; j < len(seq); j++ { // lengths 2 to 5 of 7
			seq[j] = Masked(seq[j])
		}
		batch = append(batch, seq)
	}
	return batch
}

// TestContrastiveGradient compares the contrastive objective's backward pass (InfoNCE, the
// L2 normalisation, mean pooling over unpadded tokens, the layers) with central finite
// differences of ContrastiveLoss, which embeds each sequence on its own, along a random
// direction of the whole parameter vector and of single weights.
func TestContrastiveGradient(t *testing.T) {
	c := tinyConfig
	params := randomState(t, c, 11)
	batch := contrastiveBatch(c)
	h := Hyper{Seed: 1, Steps: 1, BatchSeqs: len(batch), Workers: 2, LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
		Objective: ObjectiveContrastive, Temperature: 0.5}
	s := &State{Cfg: c, Hyper: h, Params: append([]float32(nil), params...), M: make([]float32, len(params)), V: make([]float32, len(params))}
	tr, err := NewTrainer(s)
	if err != nil {
		t.Fatal(err)
	}
	loss := tr.contrastiveGradient(batch)
	grad := tr.grads[0].Data
	if want := ContrastiveLoss(c, params, batch, h.Temperature); math.Abs(loss-want) > 1e-4*math.Max(1, want) {
		t.Fatalf("batched loss %.6g, one sequence at a time %.6g", loss, want)
	}
	r := NewRNG(12)
	const eps = 1e-2
	lossAt := func(dir []float64, sign float64) float64 {
		p := append([]float32(nil), params...)
		for i, d := range dir {
			p[i] += float32(sign * eps * d)
		}
		return ContrastiveLoss(c, p, batch, h.Temperature)
	}
	check := func(name string, dir []float64) {
		var analytic float64
		for i, d := range dir {
			analytic += d * float64(grad[i])
		}
		numeric := (lossAt(dir, 1) - lossAt(dir, -1)) / (2 * eps)
		if diff := math.Abs(numeric - analytic); diff > 3e-3*math.Max(1, math.Abs(numeric))+1e-4 {
			t.Errorf("%s: directional derivative %.6g, backward pass %.6g", name, numeric, analytic)
		}
	}
	dir := make([]float64, len(params))
	var n float64
	for i := range dir {
		dir[i] = r.Normal()
		n += dir[i] * dir[i]
	}
	for i := range dir {
		dir[i] /= math.Sqrt(n)
	}
	check("random direction", dir)
	for range 12 {
		one := make([]float64, len(params))
		one[int(r.Uint64()%uint64(len(params)))] = 1
		check("one weight", one)
	}
}

// TestContrastiveTrainingSeparatesPairs trains a tiny model for a few steps on a fixed batch
// and checks that its loss falls: the objective is wired to the optimizer.
func TestContrastiveTrainingLowersLoss(t *testing.T) {
	c := tinyConfig
	batch := contrastiveBatch(c)
	h := Hyper{Seed: 3, Steps: 40, Warmup: 2, BatchSeqs: len(batch), Workers: 2, LR: 3e-3, MinLR: 3e-4, Beta1: 0.9,
		Beta2: 0.95, Eps: 1e-8, Clip: 1, Objective: ObjectiveContrastive, Temperature: 0.1}
	s, err := NewState(c, h)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(s)
	if err != nil {
		t.Fatal(err)
	}
	first := ContrastiveLoss(c, s.Params, batch, h.Temperature)
	for range h.Steps {
		if _, err := tr.Step(fixedBatch(batch)); err != nil {
			t.Fatal(err)
		}
	}
	if last := ContrastiveLoss(c, s.Params, batch, h.Temperature); !(last < first/2) {
		t.Errorf("loss %.4f before training, %.4f after 40 steps on the same batch", first, last)
	}
}

type fixedBatch [][]int32

func (f fixedBatch) Next(_ *Cursor, batch [][]int32) error {
	for i := range batch {
		copy(batch[i], f[i])
	}
	return nil
}

func TestContrastiveHyperValidate(t *testing.T) {
	h := Hyper{Steps: 1, BatchSeqs: 4, Workers: 2, LR: 1e-3, Beta1: 0.9, Beta2: 0.9, Eps: 1e-8, Objective: ObjectiveContrastive}
	if err := h.Validate(); err == nil {
		t.Error("a contrastive recipe without a temperature validated")
	}
	h.Temperature = 0.05
	if err := h.Validate(); err != nil {
		t.Error(err)
	}
	h.Objective = "ranking"
	if err := h.Validate(); err == nil {
		t.Error("an unknown objective validated")
	}
}
