//go:build amd64 && !purego

package llama

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func expSubAVX2(dst, src unsafe.Pointer, sub float32, n int) int

//go:noescape
func siluMulAVX2(dst, gate, up unsafe.Pointer, n int) int

// expSub sets dst[i] = expf(src[i] - sub).
func expSub(dst, src []float32, sub float32) {
	n := len(dst)
	src = src[:n]
	i := 0
	for useAVX2 && n-i >= 8 {
		i += expSubAVX2(unsafe.Pointer(&dst[i]), unsafe.Pointer(&src[i]), sub, n-i)
		if n-i < 8 {
			break
		}
		// A group with a lane outside the fast range: do it one by one.
		for k := i; k < i+8; k++ {
			dst[k] = expf(src[k] - sub)
		}
		i += 8
	}
	for ; i < n; i++ {
		dst[i] = expf(src[i] - sub)
	}
}

// siluMul sets dst[i] = silu(g[i]) * u[i].
func siluMul(dst, g, u []float32) {
	n := len(dst)
	g, u = g[:n], u[:n]
	i := 0
	for useAVX2 && n-i >= 8 {
		i += siluMulAVX2(unsafe.Pointer(&dst[i]), unsafe.Pointer(&g[i]), unsafe.Pointer(&u[i]), n-i)
		if n-i < 8 {
			break
		}
		for k := i; k < i+8; k++ {
			dst[k] = silu(g[k]) * u[k]
		}
		i += 8
	}
	for ; i < n; i++ {
		dst[i] = silu(g[i]) * u[i]
	}
}
