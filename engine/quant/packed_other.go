//go:build !amd64 || purego

package quant

// usePacked: the packed Q8_0 rows have kernels only for AVX512-VNNI.
const usePacked = false

func mulPacked(p []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) {
	mulPackedGo(p, rowBytes, r0, r1, vs, out, stride)
}
