package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// packedTol bounds the difference between a packed row's product with v
// and Vec.Dot's: the same exact integer products, summed per block in one
// lane or in eight and added in another order, so a few roundings of the
// sum of the products' magnitudes.
func packedTol(t Type, row []byte, v *Vec) float64 {
	nb := len(v.d)
	var mag float64
	for b := range nb {
		blk := row[b*t.BlockBytes():]
		var sum int64
		for j := range QK8_0 {
			sum += abs64(int64(fileWeight(t, blk, j)) * int64(v.q[b*QK8_0+j]))
		}
		mag += math.Abs(float64(sum) * float64(f16Table[le16(blk)]) * float64(v.d[b]))
	}
	return float64(nb+8)*mag*0x1p-23 + 1e-30
}

func abs64(x int64) int64 { return max(x, -x) }

// fileWeight is quant j of a block of type t as the file holds it: the
// integer the scale multiplies (for IQ4_NL its level).
func fileWeight(t Type, blk []byte, j int) int32 {
	switch t {
	case Q4_0:
		return int32(blk[2+j%16]>>(4*(j/16))&0xf) - 8
	case IQ4_NL:
		return int32(iq4Levels[blk[2+j%16]>>(4*(j/16))&0xf])
	case Q5_0:
		var q [32]uint8
		q5Values(blk[2:6], blk[6:], &q)
		return int32(q[j]) - 16
	}
	return int32(int8(blk[2+j]))
}

// TestPack checks the layouts: every weight and scale of a packed group is
// the file's (packedWeight, the portable kernel's reading, less the
// type's offset).
func TestPack(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, wt := range []Type{Q8_0, Q4_0, IQ4_NL, Q5_0} {
		w, rowBytes := randRows(t, r, wt, 32, 96)
		p := pack(wt, w, rowBytes, 32)
		nb, pb := rowBytes/wt.BlockBytes(), packBlockBytes(wt)
		for i := range 32 {
			g, ri := i/packRows, i%packRows
			grp := p[g*packRows*rowBytes : (g+1)*packRows*rowBytes]
			for b := range nb {
				blk := w[i*rowBytes+b*wt.BlockBytes():]
				if s := grp[nb*pb+(b*packRows+ri)*2:]; s[0] != blk[0] || s[1] != blk[1] {
					t.Fatalf("%v row %d block %d: scale %#x %#x, want %#x %#x", wt, i, b, s[0], s[1], blk[0], blk[1])
				}
				for j := range QK8_0 {
					got, want := packedWeight(wt, grp, b, ri, j)-packOffset(wt), fileWeight(wt, blk, j)
					if got != want {
						t.Fatalf("%v row %d block %d quant %d: %d, want %d", wt, i, b, j, got, want)
					}
				}
			}
		}
		if Pack(wt, w, rowBytes, 24) != nil {
			t.Fatalf("%v: packed 24 rows, not whole groups of sixteen", wt)
		}
		if got := Pack(wt, w, rowBytes, 32) != nil; got != packs(wt) {
			t.Fatalf("%v: Pack packed %v on a CPU whose packed kernels for it are %v", wt, got, packs(wt))
		}
	}
	if Pack(Q4_K, make([]byte, 16*144), 144, 16) != nil {
		t.Fatal("packed Q4_K rows")
	}
}

// TestMulRowsPacked checks the packed kernels against Vec.Dot on the
// unpacked rows (within packedTol), the portable packed kernel against the
// assembly (the same sums, fused or not), and each vector's results in a
// batch against the same vector alone, bit for bit.
func TestMulRowsPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, wt := range []Type{Q8_0, Q4_0, IQ4_NL, Q5_0} {
		for _, cols := range []int{32, 576, 1536} {
			for _, shape := range [][3]int{{0, 16, 1}, {16, 64, 1}, {0, 48, 2}, {16, 32, 3}, {0, 32, 5}, {16, 32, 7}, {32, 64, 8}, {0, 16, 9}, {16, 48, 15}, {0, 32, 17}, {16, 48, 133}} {
				r0, r1, n := shape[0], shape[1], shape[2]
				name := fmt.Sprintf("%v/cols=%d/rows=%d-%d/vecs=%d", wt, cols, r0, r1, n)
				w, rowBytes, vs := tileCase(t, r, wt, r1+16, cols, n)
				if useVNNI && len(vs[0].aux) == 0 {
					t.Fatalf("%s: vectors without lane sums", name)
				}
				for k := range vs {
					for b := range len(vs[k].aux) / auxWords {
						off := packOffset(wt)
						var want int32
						for _, x := range vs[k].q[b*QK8_0 : (b+1)*QK8_0] {
							want -= off * int32(x)
						}
						if got := vs[k].aux[b*auxWords+9]; got != want {
							t.Fatalf("%s: vector %d block %d: aux total %d, want %d", name, k, b, got, want)
						}
					}
				}
				p := pack(wt, w, rowBytes, r1+16)
				stride := r1 - r0 + 3
				ref := make([]float32, n*stride)
				mulPackedGo(wt, p, rowBytes, r0, r1, vs, ref, stride)
				for k := range vs {
					for i := r0; i < r1; i++ {
						row := w[i*rowBytes : (i+1)*rowBytes]
						want, got := vs[k].Dot(row), ref[k*stride+i-r0]
						if d := math.Abs(float64(got - want)); !(d <= packedTol(wt, row, &vs[k])) {
							t.Fatalf("%s: Go: row %d vector %d: %g, Dot %g (tolerance %g)", name, i, k, got, want, packedTol(wt, row, &vs[k]))
						}
					}
				}
				if !usePacked {
					continue
				}
				out := make([]float32, n*stride)
				for i := range out {
					out[i] = float32(math.NaN())
				}
				if !MulRowsPacked(p, rowBytes, r0, r1, vs, out, stride) {
					t.Fatalf("%s: MulRowsPacked declined", name)
				}
				alone := make([]float32, r1-r0)
				for k := range vs {
					MulRowsPacked(p, rowBytes, r0, r1, vs[k:k+1], alone, 0)
					for i := r0; i < r1; i++ {
						got, want := out[k*stride+i-r0], ref[k*stride+i-r0]
						row := w[i*rowBytes : (i+1)*rowBytes]
						if d := math.Abs(float64(got - want)); !(d <= packedTol(wt, row, &vs[k])) {
							t.Fatalf("%s: row %d vector %d: %g, portable %g", name, i, k, got, want)
						}
						if a := alone[i-r0]; math.Float32bits(a) != math.Float32bits(got) {
							t.Fatalf("%s: row %d vector %d: %g in the batch, %g alone", name, i, k, got, a)
						}
					}
					for i := r1 - r0; i < stride; i++ {
						if !math.IsNaN(float64(out[k*stride+i])) {
							t.Fatalf("%s: wrote out[%d] past the rows", name, k*stride+i)
						}
					}
				}
			}
		}
	}
	w, rowBytes, vs := tileCase(t, r, Q8_0, 32, 64, 2)
	p := pack(Q8_0, w, rowBytes, 32)
	if MulRowsPacked(p, rowBytes, 8, 16, vs, make([]float32, 32), 16) {
		t.Error("MulRowsPacked took rows from 8, not a group's start")
	}
	kw, krb, kvs := tileCase(t, r, Q4_K, 16, 256, 2)
	if MulRowsPacked(make([]byte, len(kw)), krb, 0, 16, kvs, make([]float32, 32), 16) {
		t.Error("MulRowsPacked took vectors prepared for Q4_K")
	}
	mixed := []Vec{vs[0], {}}
	if err := mixed[1].Prepare(Q4_0, make([]float32, 64)); err != nil {
		t.Fatal(err)
	}
	if MulRowsPacked(p, rowBytes, 0, 16, mixed, make([]float32, 32), 16) {
		t.Error("MulRowsPacked took vectors prepared for Q8_0 and Q4_0 together")
	}
}

// BenchmarkMulRowsPacked times, for each packed type, a 32-row block of a matrix product (a
// decode step's chunk) against 1 to 128 vectors, the file's rows through
// MulRows and packed rows through MulRowsPacked, in the same run (see
// BenchmarkMulRows for the metrics).
func BenchmarkMulRowsPacked(b *testing.B) {
	if !usePacked {
		b.Skip("no packed kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(25, 26))
	const rows = 32
	for _, wt := range []Type{Q8_0, Q4_0, IQ4_NL, Q5_0} {
		for _, cols := range []int{576, 1536} {
			for _, n := range []int{1, 4, 8, 16, 128} {
				w, rowBytes, vs := tileCase(b, r, wt, rows, cols, n)
				p := pack(wt, w, rowBytes, rows)
				out := make([]float32, n*rows)
				b.Run(fmt.Sprintf("%v/cols=%d/vecs=%d/file", wt, cols, n), func(b *testing.B) {
					benchMulRows(b, w, rowBytes, rows, cols, vs, out)
				})
				b.Run(fmt.Sprintf("%v/cols=%d/vecs=%d/packed", wt, cols, n), func(b *testing.B) {
					benchLoop(b, rows, cols, len(vs), func() { MulRowsPacked(p, rowBytes, 0, rows, vs, out, rows) })
				})
			}
		}
	}
}

// BenchmarkMulRowsPackedMemory is BenchmarkMulRowsPacked with the weights
// coming from memory: a 65536-row matrix (40 MB, beyond the caches) in the
// engine's 32-row chunks, against one vector (a decode step of one
// sequence) and eight.
func BenchmarkMulRowsPackedMemory(b *testing.B) {
	if !usePacked {
		b.Skip("no packed kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(27, 28))
	const rows, cols, chunk = 65536, 576, 32
	for _, n := range []int{1, 8} {
		w, rowBytes, vs := tileCase(b, r, Q8_0, 256, cols, n)
		big := make([]byte, rows*rowBytes)
		for i := 0; i < rows; i += 256 {
			copy(big[i*rowBytes:], w)
		}
		p := pack(Q8_0, big, rowBytes, rows)
		out := make([]float32, n*chunk)
		b.Run(fmt.Sprintf("vecs=%d/file", n), func(b *testing.B) {
			benchLoop(b, rows, cols, n, func() {
				for r0 := 0; r0 < rows; r0 += chunk {
					MulRows(big, rowBytes, r0, r0+chunk, vs, out, chunk)
				}
			})
		})
		b.Run(fmt.Sprintf("vecs=%d/packed", n), func(b *testing.B) {
			benchLoop(b, rows, cols, n, func() {
				for r0 := 0; r0 < rows; r0 += chunk {
					MulRowsPacked(p, rowBytes, r0, r0+chunk, vs, out, chunk)
				}
			})
		})
	}
}
