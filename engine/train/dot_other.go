//go:build !amd64 || purego

package train

func dot4x4(a []float32, lda int, b []float32, ldb, k int, out *[16]float32) bool { return false }
