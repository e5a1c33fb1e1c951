package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tileKCase builds nrows rows of Q2_K to Q6_K and n vectors of length
// cols. Rows are quantized from random values, except that with edges some
// super-blocks are replaced: all zeros, random bytes (any scales, halves
// that are infinities or NaNs included), and the largest values at the
// largest scales. Every fifth vector has an all-zero super-block (a zero
// scale), and every seventh one a spike that saturates its quants.
func tileKCase(t testing.TB, r *rand.Rand, wt Type, nrows, cols, n int, edges bool) ([]byte, int, []Vec) {
	t.Helper()
	w, rowBytes := randRows(t, r, wt, nrows, cols)
	bb := wt.BlockBytes()
	if edges {
		for i := 0; i+bb <= len(w); i += bb {
			blk := w[i : i+bb]
			switch r.IntN(6) {
			case 0:
				clear(blk)
			case 1:
				for j := range blk {
					blk[j] = byte(r.Uint32())
				}
			case 2:
				for j := range blk {
					blk[j] = 0xff
				}
				switch wt {
				case Q2_K:
					blk[80], blk[81], blk[82], blk[83] = 0xff, 0x7b, 0xff, 0x7b // d = dmin = 65504
				case Q3_K:
					blk[108], blk[109] = 0xff, 0x7b // d = 65504
				case Q4_K, Q5_K:
					blk[0], blk[1], blk[2], blk[3] = 0xff, 0x7b, 0xff, 0x7b // d = dmin = 65504
				default:
					for j := 192; j < 208; j++ {
						blk[j] = byte(127 + (j%2)*129) // scales 127 and -128
					}
					blk[208], blk[209] = 0xff, 0x7b
				}
			}
		}
	}
	return w, rowBytes, edgeVecs(t, r, wt, n, cols, 0, QK_K)
}

// TestMulRowsK checks MulRows on Q2_K to Q6_K against Dot, bit for bit,
// for row counts around the tile's four (and rows after the last group)
// and vector counts around its three (a tile with a repeated vector, a
// last vector alone), on random and edge-case data, and that it writes
// nothing outside its block of out.
func TestMulRowsK(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, wt := range []Type{Q2_K, Q3_K, Q4_K, Q5_K, Q6_K} {
		for _, cols := range []int{256, 768, 1536} {
			for _, edges := range []bool{false, true} {
				for _, nrows := range []int{1, 3, 4, 5, 7, 8, 12, 16} {
					for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 8, 11, 16} {
						name := fmt.Sprintf("%v/cols=%d/edges=%v/rows=%d/vecs=%d", wt, cols, edges, nrows, n)
						w, rowBytes, vs := tileKCase(t, r, wt, nrows+2, cols, n, edges)
						checkMulRows(t, name, w, rowBytes, nrows, vs)
					}
				}
			}
		}
	}
}

// TestMulRowsKGo checks the portable tiled kernel against the portable
// one-vector kernels, bit for bit, on every build.
func TestMulRowsKGo(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, wt := range []Type{Q2_K, Q3_K, Q4_K, Q5_K, Q6_K} {
		for _, edges := range []bool{false, true} {
			for _, shape := range [][2]int{{1, 1}, {4, 4}, {7, 6}, {9, 9}, {3, 2}} {
				nrows, n := shape[0], shape[1]
				w, rowBytes, vs := tileKCase(t, r, wt, nrows, 768, n, edges)
				nb, ok := tileableK(vs, rowBytes)
				if !ok {
					t.Fatalf("%v: vectors not tileable", wt)
				}
				out := make([]float32, n*nrows)
				mulRowsKGo(w, rowBytes, 0, nrows, vs, out, nrows, nb)
				for k := range vs {
					v := &vs[k]
					for i := range nrows {
						row := w[i*rowBytes : (i+1)*rowBytes]
						want, _ := portableDot(row, v)
						if got := out[k*nrows+i]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("%v edges=%v %dx%d: row %d vector %d: %g, want %g", wt, edges, nrows, n, i, k, got, want)
						}
					}
				}
			}
		}
	}
}

// BenchmarkMulRowsK times a 16-row block of a K-quant matrix product
// (the engine's chunk of rows per worker) against 1 to 128 vectors, tiled
// and one vector at a time as before the tiles, in the same run; the
// metrics are BenchmarkMulRows'.
func BenchmarkMulRowsK(b *testing.B) {
	r := rand.New(rand.NewPCG(25, 26))
	const rows = 16
	for _, wt := range []Type{Q2_K, Q3_K, Q4_K, Q5_K, Q6_K} {
		for _, cols := range []int{768, 1536} {
			for _, n := range []int{1, 2, 3, 4, 8, 128} {
				w, rowBytes, vs := tileKCase(b, r, wt, rows, cols, n, false)
				out := make([]float32, n*rows)
				for _, tiled := range []bool{false, true} {
					name := "before"
					if tiled {
						name = "tiled"
					}
					b.Run(fmt.Sprintf("%v/cols=%d/vecs=%d/%s", wt, cols, n, name), func(b *testing.B) {
						disableTileK = !tiled
						defer func() { disableTileK = false }()
						benchMulRows(b, w, rowBytes, rows, cols, vs, out)
					})
				}
			}
		}
	}
}
