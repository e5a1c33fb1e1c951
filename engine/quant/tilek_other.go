//go:build !amd64 || purego

package quant

// mulRowsTiledK runs the portable tiled kernel for Q4_K and Q6_K rows
// against two vectors or more and reports whether it did.
func mulRowsTiledK(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) bool {
	if disableTile || disableTileK || len(vs) < 2 {
		return false
	}
	nb, ok := tileableK(vs, rowBytes)
	if !ok {
		return false
	}
	mulRowsKGo(w, rowBytes, r0, r1, vs, out, stride, nb)
	return true
}
