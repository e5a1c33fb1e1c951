//go:build !amd64 || purego

package llama

// expSub sets dst[i] = expf(src[i] - sub).
func expSub(dst, src []float32, sub float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = expf(src[i] - sub)
	}
}

// siluMul sets dst[i] = silu(g[i]) * u[i].
func siluMul(dst, g, u []float32) {
	g, u = g[:len(dst)], u[:len(dst)]
	for i := range dst {
		dst[i] = silu(g[i]) * u[i]
	}
}
