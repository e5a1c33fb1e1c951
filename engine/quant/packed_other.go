//go:build !amd64 || purego

package quant

// usePacked: the packed rows have kernels only for AVX512-VNNI.
const usePacked, usePackedBW = false, false

func mulPacked(t Type, p []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) {
	mulPackedGo(t, p, rowBytes, r0, r1, vs, out, stride)
}
