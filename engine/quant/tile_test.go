package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// tileCase builds nrows rows of type wt and n vectors of length cols. For
// Q8_0 some weights are set to -128 (which ggml's quantizer never writes but
// a file may hold) and some blocks to all zeros, the edges of the sign
// trick.
func tileCase(t testing.TB, r *rand.Rand, wt Type, nrows, cols, n int) ([]byte, int, []Vec) {
	t.Helper()
	w, rowBytes := randRows(t, r, wt, nrows, cols)
	if wt == Q8_0 {
		for i := 0; i+blockQ8_0 <= len(w); i += blockQ8_0 {
			switch r.IntN(8) {
			case 0:
				w[i+2+r.IntN(QK8_0)] = 0x80
			case 1:
				clear(w[i+2 : i+blockQ8_0])
			}
		}
	}
	vs := make([]Vec, n)
	for k := range vs {
		x := randVec(r, cols, 1)
		if k%5 == 4 {
			clear(x[:QK8_0]) // an all-zero block: zero scale
		}
		if err := vs[k].Prepare(wt, x); err != nil {
			t.Fatal(err)
		}
	}
	return w, rowBytes, vs
}

func setTile(off bool) { disableTile = off }

// randRows quantizes nrows random rows of cols values to wt, one after the
// other, and returns them with a row's length in bytes.
func randRows(t testing.TB, r *rand.Rand, wt Type, nrows, cols int) ([]byte, int) {
	t.Helper()
	var w []byte
	for range nrows {
		row, err := Quantize(wt, randVec(r, cols, 0.05), nil)
		if err != nil {
			t.Fatal(err)
		}
		w = append(w, row...)
	}
	return w, len(w) / nrows
}

// edgeVecs prepares n random vectors of cols values for wt: every fifth has
// its values lo to hi zeroed (an all-zero block: a zero scale), and every
// seventh a spike that saturates its quants.
func edgeVecs(t testing.TB, r *rand.Rand, wt Type, n, cols, lo, hi int) []Vec {
	t.Helper()
	vs := make([]Vec, n)
	for k := range vs {
		x := randVec(r, cols, 1)
		if k%5 == 4 {
			clear(x[lo:hi])
		}
		if k%7 == 6 {
			x[r.IntN(cols)] = 1e30
		}
		if err := vs[k].Prepare(wt, x); err != nil {
			t.Fatal(err)
		}
	}
	return vs
}

// TestMulRows checks MulRows against Dot: bit for bit for the quantized
// types, for every count of rows (tiles of four and the rows after them)
// and of vectors (the VNNI tiles of four, three and two, the AVX2 tiles of
// three and two, and one); for F32 and F16, against Dot4 for groups of four
// vectors and Dot for the rest; 133 vectors take the VNNI tiles two passes
// over the rows (vnniMaxVecs). On an AVX512-VNNI CPU it runs twice: with
// the VNNI tiles, and with the vectors prepared without the lane sums, so
// the AVX2 tiles.
func TestMulRows(t *testing.T) {
	vnniModes := []bool{false}
	if useVNNI {
		vnniModes = append(vnniModes, true)
	}
	for _, vnniOff := range vnniModes {
		t.Run(fmt.Sprintf("vnniOff=%v", vnniOff), func(t *testing.T) {
			disableVNNI = vnniOff
			defer func() { disableVNNI = false }()
			testMulRows(t)
		})
	}
}

func testMulRows(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	types := []Type{Q8_0, Q4_0, F32, F16, Q4_K, Q6_K, Q5_0, IQ4_NL}
	for _, tile := range []bool{true, false} {
		for _, wt := range types {
			for _, cols := range []int{256, 512, 576, 1536} {
				if cols%wt.BlockLen() != 0 {
					continue
				}
				for _, shape := range [][2]int{{1, 1}, {4, 3}, {4, 2}, {5, 7}, {8, 8}, {9, 4}, {16, 5}, {3, 9}, {12, 17}, {4, 6}, {7, 10}, {8, 13}, {4, 128}, {5, 133}} {
					nrows, n := shape[0], shape[1]
					name := fmt.Sprintf("%v/cols=%d/rows=%d/vecs=%d/tile=%v", wt, cols, nrows, n, tile)
					w, rowBytes, vs := tileCase(t, r, wt, nrows+2, cols, n)
					r0, r1 := 1, 1+nrows
					stride := nrows + 3
					out := make([]float32, n*stride)
					for i := range out {
						out[i] = float32(math.NaN())
					}
					setTile(!tile)
					MulRows(w, rowBytes, r0, r1, vs, out, stride)
					setTile(false)
					for k := range vs {
						for i := r0; i < r1; i++ {
							row := w[i*rowBytes : (i+1)*rowBytes]
							want := vs[k].Dot(row)
							if (wt == F32 || wt == F16) && k < n/4*4 {
								g := k / 4 * 4
								var res [4]float32
								Dot4(row, &[4]*Vec{&vs[g], &vs[g+1], &vs[g+2], &vs[g+3]}, &res)
								want = res[k-g]
							}
							if got := out[k*stride+i-r0]; math.Float32bits(got) != math.Float32bits(want) {
								t.Fatalf("%s: row %d vector %d: %g, want %g", name, i, k, got, want)
							}
						}
						for i := nrows; i < stride; i++ {
							if !math.IsNaN(float64(out[k*stride+i])) {
								t.Fatalf("%s: wrote out[%d] past the rows", name, k*stride+i)
							}
						}
					}
				}
			}
		}
	}
}

// TestMulRowsGo checks the portable tiled kernel against the portable
// one-vector kernels, bit for bit, on every build.
func TestMulRowsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, wt := range []Type{Q8_0, Q4_0} {
		for _, shape := range [][2]int{{1, 1}, {4, 4}, {7, 6}, {9, 9}} {
			nrows, n := shape[0], shape[1]
			w, rowBytes, vs := tileCase(t, r, wt, nrows, 576, n)
			nb, ok := tileable(vs, rowBytes)
			if !ok {
				t.Fatalf("%v: vectors not tileable", wt)
			}
			out := make([]float32, n*nrows)
			mulRowsGo(w, rowBytes, 0, nrows, vs, out, nrows, nb)
			for k := range vs {
				for i := range nrows {
					row := w[i*rowBytes : (i+1)*rowBytes]
					var want float32
					if wt == Q8_0 {
						want = dotQ8_0Go(row, vs[k].q, vs[k].d)
					} else {
						want = dotQ4_0Go(row, vs[k].q, vs[k].d)
					}
					if got := out[k*nrows+i]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("%v %dx%d: row %d vector %d: %g, want %g", wt, nrows, n, i, k, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkMulRows times a 16-row block of a matrix product (the engine's
// chunk of rows per worker) against 1 to 128 vectors (16 to 128: a prompt's
// batch), tiled and as before
// the tiled kernels (four vectors at a time, then one), in the same run:
// GMAC/s counts one multiply-add per weight and vector; cpu-ns/op is the
// thread's CPU time per call, steadier than the wall time on a busy machine.
func BenchmarkMulRows(b *testing.B) {
	r := rand.New(rand.NewPCG(15, 16))
	const rows = 16
	for _, wt := range []Type{Q8_0, Q4_0} {
		for _, cols := range []int{576, 1536} {
			for _, n := range []int{1, 4, 8, 16, 32, 64, 128} {
				w, rowBytes, vs := tileCase(b, r, wt, rows, cols, n)
				out := make([]float32, n*rows)
				for _, tiled := range []bool{false, true} {
					name := "before"
					if tiled {
						name = "tiled"
					}
					b.Run(fmt.Sprintf("%v/cols=%d/vecs=%d/%s", wt, cols, n, name), func(b *testing.B) {
						setTile(!tiled)
						defer setTile(false)
						benchMulRows(b, w, rowBytes, rows, cols, vs, out)
					})
				}
			}
		}
	}
}

// q4_0EdgeCase builds nrows Q4_0 rows and n vectors of length cols for the
// tiles that unpack the rows first. Rows are quantized from random values,
// except that some blocks are replaced: every nibble 0 (-8) or every one 15
// (7), the two extremes alternating, all zeros, and the largest scale
// (65504) with extreme nibbles; and every fifth row has one block of
// random nibbles under an infinite or NaN scale (more would make most
// outputs NaN, whatever the other blocks held). Every fifth vector has an
// all-zero block (a zero scale), and every seventh a spike that saturates
// its quants.
func q4_0EdgeCase(t testing.TB, r *rand.Rand, nrows, cols, n int) ([]byte, int, []Vec) {
	t.Helper()
	w, rowBytes := randRows(t, r, Q4_0, nrows, cols)
	bb := Q4_0.BlockBytes()
	for i := 0; i+bb <= len(w); i += bb {
		blk := w[i : i+bb]
		fill := func(b byte) {
			for j := 2; j < bb; j++ {
				blk[j] = b
			}
		}
		switch r.IntN(10) {
		case 0:
			fill(0x00)
		case 1:
			fill(0xff)
		case 2:
			fill(0x0f)
		case 3:
			fill(0xf0)
		case 4:
			clear(blk)
		case 5:
			fill(byte(r.IntN(2)) * 0xff)
			blk[0], blk[1] = 0xff, 0x7b // 65504
		}
	}
	for i := 2; i < nrows; i += 5 {
		blk := w[i*rowBytes+r.IntN(rowBytes/bb)*bb:][:bb]
		for j := 2; j < bb; j++ {
			blk[j] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 {
			blk[0], blk[1] = 0x00, 0x7c+byte(r.IntN(2))*0x80 // ±Inf
		} else {
			blk[0], blk[1] = byte(1+r.IntN(255)), 0x7e // NaN
		}
	}
	return w, rowBytes, edgeVecs(t, r, Q4_0, n, cols, QK8_0, 2*QK8_0)
}

// TestMulRowsQ4_0Unpacked checks MulRows on Q4_0 rows against Dot, bit for
// bit, around the vector counts from which the tiles take each four rows
// unpacked once (see mulRowsVNNI and mulRowsTiled): tiles of four, three
// and two vectors after them, row counts around four, rows with nibble
// extremes, zero blocks and infinite and NaN scales, and several of the
// VNNI tiles' chunks of blocks. With VNNI it runs again with the vectors
// prepared without the lane sums (the AVX2 tiles).
func TestMulRowsQ4_0Unpacked(t *testing.T) {
	vnniModes := []bool{false}
	if useVNNI {
		vnniModes = append(vnniModes, true)
	}
	defer func() { disableVNNI = false }()
	r := rand.New(rand.NewPCG(25, 26))
	for _, vnniOff := range vnniModes {
		disableVNNI = vnniOff
		for _, cols := range []int{576, 4096} {
			for _, nrows := range []int{3, 4, 5, 7, 8, 12} {
				for _, n := range []int{2, 3, 5, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19, 33} {
					name := fmt.Sprintf("vnniOff=%v/cols=%d/rows=%d/vecs=%d", vnniOff, cols, nrows, n)
					w, rowBytes, vs := q4_0EdgeCase(t, r, nrows+2, cols, n)
					checkMulRows(t, name, w, rowBytes, nrows, vs)
				}
			}
		}
	}
}

// checkMulRows runs MulRows over rows 1 to nrows of w (which holds nrows+2
// rows) into an out whose stride leaves room past the rows, and checks that
// every output equals Dot's bit for bit and that nothing past the rows was
// written.
func checkMulRows(t *testing.T, name string, w []byte, rowBytes, nrows int, vs []Vec) {
	t.Helper()
	r0, r1 := 1, 1+nrows
	stride := nrows + 3
	out := make([]float32, len(vs)*stride)
	for i := range out {
		out[i] = float32(math.Inf(-1))
	}
	MulRows(w, rowBytes, r0, r1, vs, out, stride)
	for k := range vs {
		for i := r0; i < r1; i++ {
			want := vs[k].Dot(w[i*rowBytes : (i+1)*rowBytes])
			if got := out[k*stride+i-r0]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s: row %d vector %d: %g (%#x), want %g (%#x)", name, i, k, got, math.Float32bits(got), want, math.Float32bits(want))
			}
		}
		for i := nrows; i < stride; i++ {
			if !math.IsInf(float64(out[k*stride+i]), -1) {
				t.Fatalf("%s: wrote out[%d] past the rows", name, k*stride+i)
			}
		}
	}
}

// benchMulRows times MulRows over the first rows rows of w (cols columns)
// against vs; see benchLoop.
func benchMulRows(b *testing.B, w []byte, rowBytes, rows, cols int, vs []Vec, out []float32) {
	benchLoop(b, rows, cols, len(vs), func() { MulRows(w, rowBytes, 0, rows, vs, out, rows) })
}

// benchLoop times f, a product of rows rows of cols columns with n vectors,
// on a locked thread, reporting GMAC/s and, where the platform gives it,
// the thread's CPU time per call.
func benchLoop(b *testing.B, rows, cols, n int, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(rows*cols*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
	if c := threadCPU() - c0; c > 0 {
		b.ReportMetric(float64(c)/float64(b.N), "cpu-ns/op")
	}
}
