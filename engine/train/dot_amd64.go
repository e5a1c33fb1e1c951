//go:build amd64 && !purego

package train

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX512 gates the 4×4 tile kernel: 16 accumulators in zmm registers read each row of the
// tile once per 16 columns, a quarter of the loads of sixteen separate dot products.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

//go:noescape
func dot4x4AVX512(a unsafe.Pointer, lda int, b unsafe.Pointer, ldb int, k int, out *[16]float32)

// dot4x4 sets out[4i+j] = a[i]·b[j] for the four rows of a and of b starting at a0 and b0
// (row length k), reporting false when no kernel fits.
func dot4x4(a, b []float32, k int, out *[16]float32) bool {
	if !useAVX512 || k%16 != 0 || k == 0 {
		return false
	}
	_ = a[4*k-1]
	_ = b[4*k-1]
	dot4x4AVX512(unsafe.Pointer(&a[0]), 4*k, unsafe.Pointer(&b[0]), 4*k, k, out)
	return true
}
