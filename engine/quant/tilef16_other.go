//go:build !amd64 || purego

package quant

// mulRowsF16 reports false: without the assembly, F16 rows take MulRows's
// general path.
func mulRowsF16(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) bool {
	return false
}

// tileF16Z reports whether MulRows takes the AVX-512 F16 tiles: never
// without the assembly.
func tileF16Z() bool { return false }
