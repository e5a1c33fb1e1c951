package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Dequantize decodes len(dst) values of type t from src.
func Dequantize(t Type, src []byte, dst []float32) error {
	n := len(dst)
	rb, err := t.RowBytes(n)
	if err != nil {
		return err
	}
	if len(src) < rb {
		return fmt.Errorf("%w: %d bytes hold fewer than %d values of %v", ErrShape, len(src), n, t)
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = f16Table[le16(src[2*i:])]
		}
	case Q8_0:
		for b := 0; b < n/QK8_0; b++ {
			blk := src[b*blockQ8_0:]
			d := f16Table[le16(blk)]
			for j := 0; j < QK8_0; j++ {
				dst[b*QK8_0+j] = d * float32(int8(blk[2+j]))
			}
		}
	case Q4_0:
		for b := 0; b < n/QK4_0; b++ {
			blk := src[b*blockQ4_0:]
			d := f16Table[le16(blk)]
			out := dst[b*QK4_0:]
			for j := 0; j < 16; j++ {
				q := blk[2+j]
				out[j] = d * float32(int(q&0xf)-8)
				out[j+16] = d * float32(int(q>>4)-8)
			}
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(le16(src[2*i:]))
		}
	case Q4_K:
		for b := 0; b < n/QK_K; b++ {
			dequantQ4K(src[b*blockQ4_K:], dst[b*QK_K:])
		}
	case Q6_K:
		for b := 0; b < n/QK_K; b++ {
			dequantQ6K(src[b*blockQ6_K:], dst[b*QK_K:])
		}
	default:
		f, ok := blockCodecs[t]
		if !ok {
			return fmt.Errorf("%w: %v", ErrUnsupported, t)
		}
		bl, bb := t.BlockLen(), t.BlockBytes()
		for b := range n / bl {
			f.dequant(src[b*bb:(b+1)*bb], dst[b*bl:(b+1)*bl])
		}
	}
	return nil
}

// blockCodec decodes and encodes one block of a type.
type blockCodec struct {
	dequant func(blk []byte, y []float32)
	quant   func(x []float32, blk []byte)
}

// blockCodecs holds the types handled one block at a time through a table.
var blockCodecs = map[Type]blockCodec{
	Q4_1:   {dequantQ4_1, quantQ4_1},
	Q5_0:   {dequantQ5_0, quantQ5_0},
	Q5_1:   {dequantQ5_1, quantQ5_1},
	Q2_K:   {dequantQ2K, quantQ2K},
	Q3_K:   {dequantQ3K, quantQ3K},
	Q5_K:   {dequantQ5K, quantQ5K},
	IQ4_NL: {dequantIQ4NL, quantIQ4NL},
	IQ4_XS: {dequantIQ4XS, quantIQ4XS},
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K block
// (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

func dequantQ4K(blk []byte, y []float32) {
	d := f16Table[le16(blk)]
	dmin := f16Table[le16(blk[2:])]
	scales := blk[4:16]
	q := blk[16 : 16+QK_K/2]
	is := 0
	for j := 0; j < QK_K; j += 64 {
		sc, m := scaleMinK4(is, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(is+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		for l := 0; l < 32; l++ {
			y[j+l] = d1*float32(q[l]&0xf) - m1
			y[j+32+l] = d2*float32(q[l]>>4) - m2
		}
		q = q[32:]
		is += 2
	}
}

func dequantQ6K(blk []byte, y []float32) {
	ql := blk[:QK_K/2]
	qh := blk[QK_K/2 : QK_K/2+QK_K/4]
	sc := blk[QK_K/2+QK_K/4 : QK_K/2+QK_K/4+QK_K/16]
	d := f16Table[le16(blk[blockQ6_K-2:])]
	for n := 0; n < QK_K; n += 128 {
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
			q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			y[n+l] = d * float32(int8(sc[is])) * float32(q1)
			y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
		ql = ql[64:]
		qh = qh[32:]
		sc = sc[8:]
	}
}

// Quantize encodes src as type t, appending to dst. The K- and IQ4 types use
// a simple min/max scale fit, good for building test models, not the
// importance-weighted search llama-quantize does.
func Quantize(t Type, src []float32, dst []byte) ([]byte, error) {
	n := len(src)
	rb, err := t.RowBytes(n)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, rb)...)
	out := dst[start:]
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			put16(out[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			put16(out[2*i:], F32ToBF16(v))
		}
	case Q8_0:
		for b := 0; b < n/QK8_0; b++ {
			quantQ8_0Ref(src[b*QK8_0:(b+1)*QK8_0], out[b*blockQ8_0:])
		}
	case Q4_0:
		for b := 0; b < n/QK4_0; b++ {
			quantQ4_0Ref(src[b*QK4_0:(b+1)*QK4_0], out[b*blockQ4_0:])
		}
	case Q4_K:
		for b := 0; b < n/QK_K; b++ {
			quantQ4K(src[b*QK_K:(b+1)*QK_K], out[b*blockQ4_K:])
		}
	case Q6_K:
		for b := 0; b < n/QK_K; b++ {
			quantQ6K(src[b*QK_K:(b+1)*QK_K], out[b*blockQ6_K:])
		}
	default:
		f, ok := blockCodecs[t]
		if !ok {
			return dst[:start], fmt.Errorf("%w: cannot quantize to %v", ErrUnsupported, t)
		}
		bl, bb := t.BlockLen(), t.BlockBytes()
		for b := range n / bl {
			f.quant(src[b*bl:(b+1)*bl], out[b*bb:(b+1)*bb])
		}
	}
	return dst, nil
}

// quantQ8_0Ref is ggml's quantize_row_q8_0_ref (used for weights; the
// activation path rounds differently, see Vec).
func quantQ8_0Ref(x []float32, blk []byte) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	put16(blk, F32ToF16(d))
	for j, v := range x {
		blk[2+j] = byte(int8(roundAway(v * id)))
	}
}

func quantQ4_0Ref(x []float32, blk []byte) {
	var amax, mx float32
	for _, v := range x {
		if amax < abs32(v) {
			amax = abs32(v)
			mx = v
		}
	}
	d := mx / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	put16(blk, F32ToF16(d))
	for j := 0; j < 16; j++ {
		x0 := min(15, int8(x[j]*id+8.5))
		x1 := min(15, int8(x[j+16]*id+8.5))
		blk[2+j] = byte(x0) | byte(x1)<<4
	}
}

func quantQ4K(x []float32, blk []byte) {
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		lo, hi := x[32*j], x[32*j]
		for _, v := range x[32*j : 32*j+32] {
			lo, hi = min(lo, v), max(hi, v)
		}
		lo = min(lo, 0)
		scales[j] = (hi - lo) / 15
		mins[j] = -lo
		maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := blk[4:16]
	clear(sc)
	for j := 0; j < 8; j++ {
		ls := uint8(min(63, nearestInt(invScale*scales[j])))
		lm := uint8(min(63, nearestInt(invMin*mins[j])))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	put16(blk, F32ToF16(maxScale/63))
	put16(blk[2:], F32ToF16(maxMin/63))
	var L [QK_K]uint8
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, sc)
		d := f16Table[le16(blk)] * float32(s)
		if d == 0 {
			continue
		}
		dm := f16Table[le16(blk[2:])] * float32(m)
		for i := 0; i < 32; i++ {
			L[32*j+i] = uint8(max(0, min(15, nearestInt((x[32*j+i]+dm)/d))))
		}
	}
	q := blk[16:]
	for j := 0; j < QK_K; j += 64 {
		for l := 0; l < 32; l++ {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
}

func quantQ6K(x []float32, blk []byte) {
	var scales [16]float32
	var maxScale, maxAbsScale float32
	for ib := 0; ib < 16; ib++ {
		var amax, mx float32
		for _, v := range x[16*ib : 16*ib+16] {
			if abs32(v) > amax {
				amax, mx = abs32(v), v
			}
		}
		if amax != 0 {
			scales[ib] = mx / -32
		}
		if abs32(scales[ib]) > maxAbsScale {
			maxAbsScale, maxScale = abs32(scales[ib]), scales[ib]
		}
	}
	clear(blk[:blockQ6_K])
	if maxAbsScale == 0 {
		return
	}
	iscale := -128 / maxScale
	put16(blk[blockQ6_K-2:], F32ToF16(1/iscale))
	sc := blk[QK_K/2+QK_K/4:]
	for ib := 0; ib < 16; ib++ {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	var L [QK_K]uint8
	dd := f16Table[le16(blk[blockQ6_K-2:])]
	for j := 0; j < 16; j++ {
		d := dd * float32(int8(sc[j]))
		if d == 0 {
			for i := 0; i < 16; i++ {
				L[16*j+i] = 32
			}
			continue
		}
		for i := 0; i < 16; i++ {
			L[16*j+i] = uint8(max(-32, min(31, nearestInt(x[16*j+i]/d))) + 32)
		}
	}
	ql := blk[:QK_K/2]
	qh := blk[QK_K/2:]
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := L[j+l]&0xf, L[j+l+32]&0xf, L[j+l+64]&0xf, L[j+l+96]&0xf
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = L[j+l]>>4 | (L[j+l+32]>>4)<<2 | (L[j+l+64]>>4)<<4 | (L[j+l+96]>>4)<<6
		}
		ql = ql[64:]
		qh = qh[32:]
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// roundAway is C's roundf: halves away from zero.
func roundAway(v float32) float32 { return float32(math.Round(float64(v))) }

// nearestInt is ggml's nearest_int: round half to even.
func nearestInt(v float32) int { return int(math.RoundToEven(float64(v))) }
