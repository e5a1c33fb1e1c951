package quant

import "encoding/binary"

// Packed Q8_0 rows. A decode step of several sequences, or a prompt, runs
// each weight row against many vectors; in a file's layout every (row,
// vector) pair of blocks then ends in a convert and multiply-add per lane
// and a horizontal sum, about four instructions a pair (tile.go). Rows
// packed sixteen at a time put the rows in the lanes of a 512-bit register
// instead: a block's 32 quants are stored as eight 64-byte chunks, chunk c
// holding quants 4c to 4c+3 of each of the sixteen rows, so one vpdpbusd
// of a chunk against four of a vector's quants (broadcast) advances all
// sixteen rows' sums, and a block's convert and multiply-add serve sixteen
// pairs. The weights are stored unsigned (plus 128, the sign bit flipped),
// the vector's side signed, and each sum starts at minus 128 times the
// vector block's sum (Vec.aux word 9), so every sum is the exact integer
// dot product.
//
// A group of sixteen rows of nb blocks is nb*512 bytes of chunks, block by
// block, then the sixteen rows' scales, block by block (nb*32 bytes): as
// many bytes as the rows take in the file, so group g starts at byte
// 16*g*rowBytes and a packed matrix slices at multiples of sixteen rows as
// the file's rows do.
//
// Each row's result is the sum over blocks, in order, of float(sum) *
// (dw*dy), one multiply-add a block in the row's lane: not the order of
// Vec.Dot's eight lanes (ggml's), so packed and unpacked rows differ in the
// last bits, but every packed output is the same whichever vectors share
// its call (the kernels take one to eight vectors, each with the same
// arithmetic), so a sequence's logits do not depend on its batch.
const packRows = 16

// Q4_0 rows pack the same way with their nibbles left in place: a
// block's 16 quant bytes go in four 64-byte chunks, chunk c holding bytes
// 4c to 4c+3 of each of the sixteen rows, whose low nibbles are quants 4c
// to 4c+3 and high nibbles quants 16+4c to 16+4c+3 (ggml's order); the
// kernels split a chunk into those two, as the Q8_0 kernels' chunks c and
// c+4. The nibbles are the unsigned weights (plus 8) and the sums start at
// minus 8 times the vector block's sum. A Q4_0 group is nb*256 bytes of
// chunks then nb*32 of scales.

// IQ4_NL rows pack as Q4_0's; the kernels look each nibble's level up
// (vpshufb) plus 128, and the sums start at minus 128 times the vector
// block's sum.
//
// Q5_0 rows pack their nibbles as Q4_0's, then, per block, eight 64-bit
// masks of the fifth bits: mask k holds, at bit 4r+j, the fifth bit of
// row r's quant 4k+j, the quants the kernels' chunk k holds (vpmovm2b
// turns it into bytes). The values are the unsigned weights (plus 16), and
// the sums start at minus 16 times the vector block's sum. A Q5_0 block of
// a group is 320 bytes of chunks and masks.

// packBlockBytes is the chunk bytes a block of a group takes: 16 rows of
// 32 quants (Q8_0), or of 16 bytes of nibbles (Q4_0, IQ4_NL), and 64 of
// fifth bits (Q5_0).
func packBlockBytes(t Type) int {
	switch t {
	case Q4_0, IQ4_NL:
		return packRows * QK4_0 / 2
	case Q5_0:
		return packRows*QK8_0/2 + packRows*QK8_0/8
	}
	return packRows * QK8_0
}

// packs reports whether this CPU has packed kernels for t.
func packs(t Type) bool {
	switch t {
	case Q8_0, Q4_0:
		return usePacked
	case IQ4_NL, Q5_0:
		return usePackedBW
	}
	return false
}

// packOffset is the unsigned offset of t's packed weights.
func packOffset(t Type) int32 {
	switch t {
	case Q4_0:
		return 8
	case Q5_0:
		return 16
	}
	return 128
}

// packedWeight is quant j of row r in block b of a packed group grp, as
// the packed kernels see it: unsigned, packOffset(t) more than
// the weight (for IQ4_NL its level).
func packedWeight(t Type, grp []byte, b, r, j int) int32 {
	chunks := grp[b*packBlockBytes(t):]
	switch t {
	case Q4_0, IQ4_NL, Q5_0:
		u := int32(chunks[(j%16)/4*4*packRows+4*r+j%4] >> (4 * (j / 16)) & 0xf)
		if t == IQ4_NL {
			return int32(iq4Levels[u]) + 128
		}
		if t == Q5_0 {
			mask := binary.LittleEndian.Uint64(chunks[packRows*QK8_0/2+8*(j/4):])
			u |= int32(mask>>(4*r+j%4)&1) << 4
		}
		return u
	}
	return int32(chunks[j/4*4*packRows+4*r+j%4])
}

// Pack returns rows rows of type t (rowBytes bytes each, a whole number of
// blocks) packed for MulRowsPacked, or nil where t has no packed kernels
// (Q8_0 and Q4_0 do on CPUs with AVX512-VNNI, IQ4_NL and Q5_0 where they
// have AVX512BW too) or the rows do not fill groups of sixteen.
func Pack(t Type, w []byte, rowBytes, rows int) []byte {
	if !packs(t) || rows <= 0 || rows%packRows != 0 ||
		rowBytes <= 0 || rowBytes%t.BlockBytes() != 0 || len(w) < rows*rowBytes {
		return nil
	}
	return pack(t, w, rowBytes, rows)
}

// pack packs whole groups of sixteen Q8_0, Q4_0, IQ4_NL or Q5_0 rows (see
// Pack), on any CPU.
func pack(t Type, w []byte, rowBytes, rows int) []byte {
	bb, pb := t.BlockBytes(), packBlockBytes(t)
	nb := rowBytes / bb
	flip := uint32(0) // nibbles stay as they are
	if t == Q8_0 {
		flip = 0x80808080 // signed to unsigned
	}
	p := make([]byte, rows*rowBytes)
	for g := 0; g < rows/packRows; g++ {
		src := w[g*packRows*rowBytes : (g+1)*packRows*rowBytes]
		dst := p[g*packRows*rowBytes : (g+1)*packRows*rowBytes]
		scales := dst[nb*pb:]
		for b := range nb {
			chunks := dst[b*pb : (b+1)*pb]
			for r := range packRows {
				blk := src[r*rowBytes+b*bb : r*rowBytes+(b+1)*bb]
				scales[(b*packRows+r)*2] = blk[0]
				scales[(b*packRows+r)*2+1] = blk[1]
				qs := blk[2:]
				if t == Q5_0 {
					qs = blk[6:]
					qh := binary.LittleEndian.Uint32(blk[2:])
					for k := range 8 {
						m := chunks[packRows*QK8_0/2+8*k:]
						for j := range 4 {
							bit := int(qh>>(4*k+j)) & 1
							m[(4*r+j)/8] |= byte(bit << ((4*r + j) % 8))
						}
					}
				}
				for c := range len(qs) / 4 {
					x := binary.LittleEndian.Uint32(qs[4*c:]) ^ flip
					binary.LittleEndian.PutUint32(chunks[c*4*packRows+4*r:], x)
				}
			}
		}
	}
	return p
}

// MulRowsPacked is MulRows on rows packed by Pack (whose unpacked rows are
// rowBytes bytes each, of the type vs were prepared for): out[k*stride+i-r0]
// is the product of row i with vs[k] for i in [r0, r1). It reports false,
// doing nothing, where it cannot: r0 or r1 not a multiple of sixteen,
// vectors not all prepared for one type with packed kernels on this CPU,
// or without the VNNI lane sums; the caller then runs MulRows on the
// unpacked rows.
func MulRowsPacked(p []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) bool {
	n := len(vs)
	if n == 0 || r0 >= r1 {
		return true
	}
	t := vs[0].wt
	if !packs(t) || r0%packRows != 0 || r1%packRows != 0 || rowBytes%t.BlockBytes() != 0 {
		return false
	}
	nb := rowBytes / t.BlockBytes()
	for i := range vs {
		if vs[i].wt != t || len(vs[i].d) != nb || len(vs[i].aux) != nb*auxWords {
			return false
		}
	}
	_ = p[r1*rowBytes-1]
	_ = out[(n-1)*stride+r1-r0-1]
	mulPacked(t, p, rowBytes, r0, r1, vs, out, stride)
	return true
}

// mulPackedGo is the portable packed kernel, the assembly's reference: the
// same integer sums and, per row, the same sum over blocks (in Go's
// separate multiply and add, where the assembly fuses them).
func mulPackedGo(t Type, p []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) {
	pb := packBlockBytes(t)
	nb := rowBytes / t.BlockBytes()
	off := packOffset(t)
	for g := r0 / packRows; g < r1/packRows; g++ {
		grp := p[g*packRows*rowBytes : (g+1)*packRows*rowBytes]
		scales := grp[nb*pb:]
		for k := range vs {
			v := &vs[k]
			var acc [packRows]float32
			for b := range nb {
				var total int32 // aux word 9, made here: vectors lack aux off VNNI CPUs
				for _, x := range v.q[b*QK8_0 : (b+1)*QK8_0] {
					total -= off * int32(x)
				}
				for r := range packRows {
					sum := total
					for j := range QK8_0 {
						sum += packedWeight(t, grp, b, r, j) * int32(v.q[b*QK8_0+j])
					}
					dw := f16Table[le16(scales[(b*packRows+r)*2:])]
					acc[r] += float32(sum) * (dw * v.d[b])
				}
			}
			copy(out[k*stride+g*packRows-r0:], acc[:])
		}
	}
}

// Packing reports whether this CPU has the packed kernels (Pack packs
// Q8_0 and Q4_0 rows, and IQ4_NL and Q5_0 where PackingType says so).
func Packing() bool { return usePacked }

// PackingType reports whether Pack packs rows of type t on this CPU.
func PackingType(t Type) bool { return packs(t) }
