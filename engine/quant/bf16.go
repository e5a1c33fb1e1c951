package quant

import "math"

// BF16 is the top half of an IEEE float32. ggml dots BF16 weights with the
// activations rounded to BF16 too, summing in float32.

// BF16ToF32 converts a bfloat16 (as its bits) to float32.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds to the nearest bfloat16, ties to even, keeping NaNs
// quiet, as ggml's GGML_FP32_TO_BF16 does.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 64
	}
	return uint16((b + (0x7fff + (b >> 16 & 1))) >> 16)
}

func dotBF16Go(row []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += BF16ToF32(le16(row[2*i:])) * v
	}
	return s
}
