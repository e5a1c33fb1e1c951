//go:build !amd64 || purego

package quant

// disableTile lets the tests and benchmarks run MulRows without the tiled
// kernel.
var disableTile = false

// mulRowsTiled runs the portable tiled kernel for Q8_0 and Q4_0 rows and
// reports whether it did.
func mulRowsTiled(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) bool {
	if disableTile {
		return false
	}
	nb, ok := tileable(vs, rowBytes)
	if !ok {
		return false
	}
	mulRowsGo(w, rowBytes, r0, r1, vs, out, stride, nb)
	return true
}
