package quant

// Register-tiled F16 batches for MulRows. Today's MulRows gives F16 rows
// against four vectors at a time tinyBLAS's batch order (dotF16x4AVX2, one
// row by four vectors) and the last len(vs)%4 vectors Dot's order. The
// tiles (tilef16_amd64.s, AVX2: four rows by three vectors, each converted
// chunk of weights used for all three; tilef16z_amd64.s, AVX-512: four rows
// by six vectors in one pass) sum every pair in that same batch order,
// so they take the first len(vs)&^3 vectors in any grouping and give each
// of them what MulRows gave before it, bit for bit; the last len(vs)%4
// still go to DotRows. Nothing downstream changes: the prefill's F16
// logits are the ones the llama.cpp reference tests already checked.
//
// The split is the old one, so a vector's result still depends on where it
// falls in the batch (its group of four, or the tail), as it did before;
// callers that need Dot's values whatever the batch (Batch's exact steps)
// call DotRows for float weights, as before.

// disableTileF16 lets the tests and benchmarks run MulRows on F16 without
// the tiled kernel (Dot4Rows, as before it).
var disableTileF16 = false

// disableTileF16Z lets the tests and benchmarks run the AVX2 tile on CPUs
// that would take the AVX-512 one (tilef16z_amd64.s).
var disableTileF16Z = false

// tileableF16 reports whether vs are all prepared for F16 with the same
// length, a whole number of 16-value steps (dotF16x4AVX2's condition; other
// lengths take one vector at a time), and rows of rowBytes hold them; it
// returns the length.
func tileableF16(vs []Vec, rowBytes int) (n int, ok bool) {
	if vs[0].wt != F16 {
		return 0, false
	}
	n = vs[0].n
	if n == 0 || n%16 != 0 || rowBytes < 2*n {
		return 0, false
	}
	for i := range vs {
		if vs[i].wt != F16 || vs[i].n != n || len(vs[i].f) < n {
			return 0, false
		}
	}
	return n, true
}
