package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// f16Case builds nrows F16 rows and n vectors of length cols; special puts
// an Inf, a -Inf and a NaN half into some rows (so that some sums are Inf,
// some NaN).
func f16Case(t testing.TB, r *rand.Rand, nrows, cols, n int, special bool) ([]byte, int, []Vec) {
	t.Helper()
	rowBytes := 2 * cols
	w := make([]byte, nrows*rowBytes)
	for i := 0; i < nrows*cols; i++ {
		binary.LittleEndian.PutUint16(w[2*i:], F32ToF16(float32(r.NormFloat64())*0.05))
	}
	if special {
		for i := range nrows {
			switch i % 4 {
			case 1:
				binary.LittleEndian.PutUint16(w[i*rowBytes+2*r.IntN(cols):], 0x7c00) // +Inf
			case 2:
				binary.LittleEndian.PutUint16(w[i*rowBytes+2*r.IntN(cols):], 0xfc00) // -Inf
				binary.LittleEndian.PutUint16(w[i*rowBytes+2*r.IntN(cols):], 0x7c00)
			case 3:
				binary.LittleEndian.PutUint16(w[i*rowBytes+2*r.IntN(cols):], 0x7e01) // NaN
			}
		}
	}
	vs := make([]Vec, n)
	for k := range vs {
		if err := vs[k].Prepare(F16, randVec(r, cols, 1)); err != nil {
			t.Fatal(err)
		}
	}
	return w, rowBytes, vs
}

// sameF32 reports whether a and b are the same float32, any NaN matching
// any other.
func sameF32(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// TestMulRowsF16 checks MulRows on F16 rows, tiled (the AVX-512 tile on
// CPUs with AVX512F and AVX512VL, and the AVX2 tile), against what it gave
// before the tile (Dot4 for each group of four vectors, Dot for the rest),
// bit for bit, and against float64 sums within the float32 summation
// bound: rows and vectors around the tile's four by three, lengths of one
// 16-value step and more (and lengths that are not whole steps, which take
// Dot), and rows with Inf and NaN halves.
func TestMulRowsF16(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	t.Logf("AVX-512 F16 tile: %v", tileF16Z())
	for _, cols := range []int{16, 48, 80, 576, 1552, 8, 24, 100} {
		for _, nrows := range []int{1, 3, 4, 5, 7, 8, 9, 12, 13, 16} {
			for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 20, 24, 26} {
				special := (nrows+n)%3 == 0
				name := fmt.Sprintf("cols=%d/rows=%d/vecs=%d/special=%v", cols, nrows, n, special)
				w, rowBytes, vs := f16Case(t, r, nrows+2, cols, n, special)
				r0, r1 := 1, 1+nrows
				stride := nrows + 3
				out := make([]float32, n*stride)
				for i := range out {
					out[i] = float32(math.NaN())
				}
				MulRows(w, rowBytes, r0, r1, vs, out, stride)
				// The AVX2 tile where the AVX-512 one ran (the same
				// tile twice on other CPUs).
				outY := make([]float32, n*stride)
				disableTileF16Z = true
				MulRows(w, rowBytes, r0, r1, vs, outY, stride)
				disableTileF16Z = false
				before := make([]float32, n*stride)
				disableTileF16 = true
				MulRows(w, rowBytes, r0, r1, vs, before, stride)
				disableTileF16 = false
				for k := range vs {
					for i := r0; i < r1; i++ {
						row := w[i*rowBytes : (i+1)*rowBytes]
						want := vs[k].Dot(row)
						if k < n&^3 {
							g := k &^ 3
							var res [4]float32
							Dot4(row, &[4]*Vec{&vs[g], &vs[g+1], &vs[g+2], &vs[g+3]}, &res)
							want = res[k-g]
						}
						got := out[k*stride+i-r0]
						if !sameF32(got, want) {
							t.Fatalf("%s: row %d vector %d: %g, want %g", name, i, k, got, want)
						}
						if y := outY[k*stride+i-r0]; !sameF32(y, want) {
							t.Fatalf("%s: AVX2 tile: row %d vector %d: %g, want %g", name, i, k, y, want)
						}
						if b := before[k*stride+i-r0]; !sameF32(got, b) {
							t.Fatalf("%s: row %d vector %d: %g, before the tile %g", name, i, k, got, b)
						}
						var ref, abs float64
						for j, x := range vs[k].f[:cols] {
							p := float64(F16ToF32(le16(row[2*j:]))) * float64(x)
							ref += p
							abs += math.Abs(p)
						}
						// Every value goes through at most cols/16+5 float32
						// additions (16 lanes, then the reduction; Dot's
						// tail likewise), each off by half an ulp at most.
						bound := float64(cols/16+5) * 0x1p-24 * abs
						switch {
						case math.IsNaN(ref) || math.IsInf(ref, 0) || math.IsNaN(abs) || math.IsInf(abs, 0):
							if !math.IsNaN(ref) && float64(got) != ref || math.IsNaN(ref) && !math.IsNaN(float64(got)) {
								t.Fatalf("%s: row %d vector %d: %g, want %g", name, i, k, got, ref)
							}
						case math.Abs(float64(got)-ref) > bound:
							t.Fatalf("%s: row %d vector %d: %g, float64 sum %g (bound %g)", name, i, k, got, ref, bound)
						}
					}
					for i := nrows; i < stride; i++ {
						if !math.IsNaN(float64(out[k*stride+i])) {
							t.Fatalf("%s: wrote out[%d] past the rows", name, k*stride+i)
						}
						if outY[k*stride+i] != 0 {
							t.Fatalf("%s: AVX2 tile: wrote out[%d] past the rows", name, k*stride+i)
						}
					}
				}
			}
		}
	}
}

// BenchmarkMulRowsF16 times a 16-row block of an F16 matrix product (the
// engine's chunk of rows per worker) against 4 to 128 vectors, as before
// the tile (Dot4Rows), with the AVX2 tile (tiled) and, on CPUs with it, the
// AVX-512 tile (zmm), in the same run; the metrics are BenchmarkMulRows's.
func BenchmarkMulRowsF16(b *testing.B) {
	r := rand.New(rand.NewPCG(23, 24))
	const rows = 16
	for _, cols := range []int{576, 1536} {
		for _, n := range []int{4, 8, 12, 128} {
			w, rowBytes, vs := f16Case(b, r, rows, cols, n, false)
			out := make([]float32, n*rows)
			for _, name := range []string{"before", "tiled", "zmm"} {
				if name == "zmm" && !tileF16Z() {
					continue
				}
				b.Run(fmt.Sprintf("cols=%d/vecs=%d/%s", cols, n, name), func(b *testing.B) {
					disableTileF16, disableTileF16Z = name == "before", name == "tiled"
					defer func() { disableTileF16, disableTileF16Z = false, false }()
					benchMulRows(b, w, rowBytes, rows, cols, vs, out)
				})
			}
		}
	}
}

// TestPrepareF16 checks that a vector prepared for F16 holds each value
// rounded to half as RoundF16 rounds it (NaN for NaN), over lengths with
// and without an 8-value tail, with ties, subnormals, overflow, Inf and
// NaN among the values.
func TestPrepareF16(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	specials := []float32{
		0, float32(math.Copysign(0, -1)), 1 + 0x1p-11, 1 + 3*0x1p-11, // ties to even
		0x1p-24, 0x1p-25, 0x1.8p-25, -0x1p-20, 0x1p-149, // subnormal halves, underflow
		65504, 65520, -65519, 1e9, // largest half, overflow
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	}
	for _, n := range []int{1, 7, 8, 15, 16, 17, 64, 100, 576} {
		x := randVec(r, n, 4)
		for i := range x {
			if r.IntN(3) == 0 {
				x[i] = specials[r.IntN(len(specials))]
			}
		}
		var v Vec
		if err := v.Prepare(F16, x); err != nil {
			t.Fatal(err)
		}
		for i, f := range x {
			if want := RoundF16(f); !sameF32(v.f[i], want) {
				t.Fatalf("n=%d: value %d (%g): %g, want %g", n, i, f, v.f[i], want)
			}
		}
	}
}
