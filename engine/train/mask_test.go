package train

import (
	"math"
	"slices"
	"testing"
)

// TestMaskedTargets checks that a masked entry is read as its token but adds neither loss nor
// gradient as a target.
func TestMaskedTargets(t *testing.T) {
	tr, d := newTiny(t, tinyHyper)
	T := tr.S.Cfg.Context
	base := make([][]int32, tinyHyper.BatchSeqs)
	for i := range base {
		base[i] = slices.Clone(d.Tokens[i*T : (i+1)*T+1])
	}
	grad := func(batch [][]int32) ([]float32, float64) {
		loss := tr.gradient(batch)
		return slices.Clone(tr.grads[0].Data), loss
	}
	withLast := func(mask bool, tok int32) [][]int32 {
		b := make([][]int32, len(base))
		for i, s := range base {
			b[i] = slices.Clone(s)
			for j := 1; j <= T/2; j++ { // the first half's targets are masked
				b[i][j] = Masked(b[i][j])
			}
			b[i][T] = tok
			if mask {
				b[i][T] = Masked(tok)
			}
		}
		return b
	}
	g1, l1 := grad(withLast(true, 1))
	g2, l2 := grad(withLast(true, 2))
	if l1 != l2 || !slices.Equal(g1, g2) {
		t.Errorf("changing a masked final target changed the loss (%v, %v) or the gradient", l1, l2)
	}
	g3, l3 := grad(withLast(false, 1))
	g4, _ := grad(withLast(false, 2))
	if slices.Equal(g3, g4) {
		t.Error("changing a scored final target left the gradient unchanged")
	}
	// The mean loss is over the scored targets only: check it against Loss per sequence.
	var sum float64
	n := 0
	for _, seq := range withLast(false, 1) {
		sum += Loss(tr.S.Cfg, tr.S.Params, seq)
		for _, v := range seq[1:] {
			if v >= 0 {
				n++
			}
		}
	}
	if want := sum / float64(n); math.Abs(l3-want) > 1e-4*want {
		t.Errorf("mean loss %v, want %v over %d scored targets", l3, want, n)
	}
	if Unmask(Masked(7)) != 7 || Unmask(7) != 7 || Masked(0) >= 0 {
		t.Error("Masked and Unmask do not round-trip")
	}
}
