//go:build amd64 && !purego

package quant

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// usePacked selects the packed Q8_0 and Q4_0 rows (packed.go): their
// kernels need AVX512-VNNI's vpdpbusd with a broadcast operand.
var usePacked = useVNNI

// usePackedBW selects the packed IQ4_NL and Q5_0 rows, whose level lookup
// (vpshufb) and fifth bits (vpmovm2b) on 512 bits need AVX512BW as well.
var usePackedBW = usePacked && cpu.X86.HasAVX512BW

//go:noescape
func q8_0P16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q8_0P16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q8_0P16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q8_0P16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0P16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0P16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0P16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0P16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func iq4_nlP16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func iq4_nlP16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func iq4_nlP16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func iq4_nlP16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q5_0P16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q5_0P16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q5_0P16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

//go:noescape
func q5_0P16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)

// mulPacked runs the packed kernels over groups [r0/16, r1/16): for each
// group of sixteen rows, the vectors eight at a time, then four, two and
// one for the rest, so a group's weights stay in L1 while the vectors
// stream past. The caller checked everything.
func mulPacked(t Type, p []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) {
	nb := rowBytes / t.BlockBytes()
	ostride := 4 * stride
	gb := packRows * rowBytes
	g0, g1 := r0/packRows, r1/packRows
	var q, a [8]unsafe.Pointer
	for g := g0; g < g1; g++ {
		gp := unsafe.Pointer(&p[g*gb])
		for k := 0; k < len(vs); {
			nt := 8
			for nt > len(vs)-k {
				nt /= 2
			}
			for j := range nt {
				q[j], a[j] = unsafe.Pointer(&vs[k+j].q[0]), unsafe.Pointer(&vs[k+j].aux[0])
			}
			o := unsafe.Pointer(&out[k*stride+g*packRows-r0])
			// Direct calls: through a func value, q and a would escape.
			switch t {
			case Q4_0:
				switch nt {
				case 8:
					q4_0P16x8(gp, nb, &q, &a, o, ostride)
				case 4:
					q4_0P16x4(gp, nb, &q, &a, o, ostride)
				case 2:
					q4_0P16x2(gp, nb, &q, &a, o, ostride)
				default:
					q4_0P16x1(gp, nb, &q, &a, o, ostride)
				}
			case Q5_0:
				switch nt {
				case 8:
					q5_0P16x8(gp, nb, &q, &a, o, ostride)
				case 4:
					q5_0P16x4(gp, nb, &q, &a, o, ostride)
				case 2:
					q5_0P16x2(gp, nb, &q, &a, o, ostride)
				default:
					q5_0P16x1(gp, nb, &q, &a, o, ostride)
				}
			case IQ4_NL:
				switch nt {
				case 8:
					iq4_nlP16x8(gp, nb, &q, &a, o, ostride)
				case 4:
					iq4_nlP16x4(gp, nb, &q, &a, o, ostride)
				case 2:
					iq4_nlP16x2(gp, nb, &q, &a, o, ostride)
				default:
					iq4_nlP16x1(gp, nb, &q, &a, o, ostride)
				}
			default:
				switch nt {
				case 8:
					q8_0P16x8(gp, nb, &q, &a, o, ostride)
				case 4:
					q8_0P16x4(gp, nb, &q, &a, o, ostride)
				case 2:
					q8_0P16x2(gp, nb, &q, &a, o, ostride)
				default:
					q8_0P16x1(gp, nb, &q, &a, o, ostride)
				}
			}
			k += nt
		}
	}
}
