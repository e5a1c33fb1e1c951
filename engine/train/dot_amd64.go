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

// dot4x4 sets out[4i+j] = a[i]·b[j] for the first four rows of a (lda floats apart) and of
// b (ldb apart), each k long, reporting false when no kernel fits.
func dot4x4(a []float32, lda int, b []float32, ldb, k int, out *[16]float32) bool {
	if !useAVX512 || k%16 != 0 || k == 0 {
		return false
	}
	_ = a[3*lda+k-1]
	_ = b[3*ldb+k-1]
	dot4x4AVX512(unsafe.Pointer(&a[0]), 4*lda, unsafe.Pointer(&b[0]), 4*ldb, k, out)
	return true
}
