//go:build !linux

package quant

func threadCPU() int64 { return 0 }
