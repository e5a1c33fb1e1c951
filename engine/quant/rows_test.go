//go:build amd64 && !purego

package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestDotRows checks DotRows on Q4_0 rows against Dot, bit for bit, for
// row counts around the row-group kernels' four (groups and the rows after
// them), random rows and rows with nibble extremes, zero blocks and infinite
// and NaN scales (q4_0EdgeCase), rows with up to three blocks of NaN
// (random payloads) or infinite scales over zero lanes (nanBlocks),
// vectors with a zero block or a saturating spike, and one to 128 blocks a
// row; Q8_0 rows the same way. With VNNI it
// runs again with the vectors prepared without the lane sums (the AVX2
// kernels).
func TestDotRows(t *testing.T) {
	vnniModes := []bool{false}
	if useVNNI {
		vnniModes = append(vnniModes, true)
	}
	defer func() { disableVNNI = false }()
	r := rand.New(rand.NewPCG(31, 32))
	for _, vnniOff := range vnniModes {
		disableVNNI = vnniOff
		for _, wt := range []Type{Q4_0, Q8_0} {
			for _, cols := range []int{32, 64, 576, 4096} {
				for _, nrows := range []int{1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23} {
					for _, data := range []string{"random", "edge", "nan"} {
						if data == "edge" && cols < 2*QK8_0 { // the edge cases clear the second block
							continue
						}
						name := fmt.Sprintf("vnniOff=%v/%v/cols=%d/rows=%d/%s", vnniOff, wt, cols, nrows, data)
						var w []byte
						var rowBytes int
						var vs []Vec
						switch {
						case data == "edge" && wt == Q4_0:
							w, rowBytes, vs = q4_0EdgeCase(t, r, nrows+2, cols, 8)
						case data == "edge":
							w, rowBytes, vs = tileCase(t, r, wt, nrows+2, cols, 8)
						default:
							w, rowBytes = randRows(t, r, wt, nrows+2, cols)
							vs = edgeVecs(t, r, wt, 8, cols, 0, QK8_0)
						}
						if data == "nan" {
							nanBlocks(r, wt, w, rowBytes)
						}
						if wantSums := useVNNI && !vnniOff; wantSums != (len(vs[0].aux) > 0) {
							t.Fatalf("%s: vectors prepared with %d lane sums", name, len(vs[0].aux))
						}
						r0, r1 := 1, 1+nrows
						out := make([]float32, nrows+3)
						for k := range vs {
							for i := range out {
								out[i] = float32(math.Inf(-1))
							}
							vs[k].DotRows(w, rowBytes, r0, r1, out[:nrows])
							for i := r0; i < r1; i++ {
								want := vs[k].Dot(w[i*rowBytes : (i+1)*rowBytes])
								if got := out[i-r0]; math.Float32bits(got) != math.Float32bits(want) {
									t.Fatalf("%s: row %d vector %d: %g (%#x), want %g (%#x)", name, i, k, got, math.Float32bits(got), want, math.Float32bits(want))
								}
							}
							for i := nrows; i < len(out); i++ {
								if !math.IsInf(float64(out[i]), -1) {
									t.Fatalf("%s: wrote out[%d] past the rows", name, i)
								}
							}
						}
					}
				}
			}
		}
	}
}

// nanBlocks gives every row of w up to three blocks with special scales: a
// NaN of random payload and sign or an infinity, over random quants of which
// some four-quant lanes are zero (so an infinite scale makes NaNs in some
// lanes and infinities in others). NaNs of different payloads then meet in
// the sums, and which one comes out depends on the order of the operands of
// each addition and multiply-add, which the row kernels must keep.
func nanBlocks(r *rand.Rand, wt Type, w []byte, rowBytes int) {
	bb := wt.BlockBytes()
	nb := rowBytes / bb
	for row := 0; row+rowBytes <= len(w); row += rowBytes {
		for range 1 + r.IntN(3) {
			blk := w[row+r.IntN(nb)*bb:][:bb]
			h := uint16(0x7c00) // infinity
			if r.IntN(3) > 0 {
				h |= 0x200 | uint16(r.IntN(0x200)) // a quiet NaN, random payload
			}
			h |= uint16(r.IntN(2)) << 15
			blk[0], blk[1] = byte(h), byte(h>>8)
			qs := blk[2:]
			for j := range qs {
				qs[j] = byte(r.Uint32())
			}
			// Zero lanes: four zero quants; in Q4_0 four bytes of 8s in
			// the low nibbles, the high ones or both (lanes j, j+4 or
			// both).
			for j := 0; j+4 <= len(qs); j += 4 {
				if r.IntN(3) > 0 {
					continue
				}
				for k := j; k < j+4; k++ {
					switch {
					case wt != Q4_0:
						qs[k] = 0
					case r.IntN(3) == 0:
						qs[k] = 0x88
					case r.IntN(2) == 0:
						qs[k] = qs[k]&0xf0 | 0x08
					default:
						qs[k] = qs[k]&0x0f | 0x80
					}
				}
			}
		}
	}
}

// BenchmarkDotRows times one vector against every row of a matrix larger
// than L2 (a decode step's product, the rows coming from memory), in
// 16-row chunks as the engine's workers take them, with the row-group
// kernels ("rows4") and one row at a time ("rows1"), VNNI and AVX2, in the
// same run. The matrix is 64 MiB, twice this machine's L3 (a SmolLM2-135M
// Q4_0 decode step reads about 80 MB of weights). GB/s counts the weight
// bytes read; cpu-ns/op is the thread's CPU time per pass over the matrix.
func BenchmarkDotRows(b *testing.B) {
	r := rand.New(rand.NewPCG(33, 34))
	defer func() { disableVNNI = false }()
	for _, wt := range []Type{Q4_0, Q8_0} {
		for _, size := range []int{512 << 10, 64 << 20} {
			for _, cols := range []int{576, 1536} {
				row, err := Quantize(wt, randVec(r, cols, 0.05), nil)
				if err != nil {
					b.Fatal(err)
				}
				// Rows of one random row repeated: the kernels' time does not
				// depend on the values, and quantizing megabytes is slow.
				rows := size / len(row) / 16 * 16
				w := make([]byte, 0, len(row)*rows)
				for range rows {
					w = append(w, row...)
				}
				rowBytes := len(row)
				x := randVec(r, cols, 1)
				out := make([]float32, rows)
				for _, vnniOff := range []bool{false, true} {
					if vnniOff && !useVNNI {
						continue
					}
					disableVNNI = vnniOff
					var v Vec
					if err := v.Prepare(wt, x); err != nil {
						b.Fatal(err)
					}
					disableVNNI = false
					kern := "vnni"
					if len(v.aux) == 0 {
						kern = "avx2"
					}
					for _, four := range []bool{false, true} {
						name := "rows1"
						if four {
							name = "rows4"
						}
						b.Run(fmt.Sprintf("%v/%dKiB/cols=%d/%s/%s", wt, size>>10, cols, kern, name), func(b *testing.B) {
							disableRows4 = !four
							defer func() { disableRows4 = false }()
							runtime.LockOSThread()
							defer runtime.UnlockOSThread()
							c0 := threadCPU()
							for b.Loop() {
								for i := 0; i < rows; i += 16 {
									v.DotRows(w, rowBytes, i, min(i+16, rows), out[i:])
								}
							}
							b.ReportMetric(float64(len(w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
							if c := threadCPU() - c0; c > 0 {
								b.ReportMetric(float64(c)/float64(b.N), "cpu-ns/op")
							}
						})
					}
				}
			}
		}
	}
}
