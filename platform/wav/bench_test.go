package wav

import "testing"

func BenchmarkResample16kTo48k(b *testing.B) {
	a := sine(16000, 440, 10)
	for b.Loop() {
		Resample(a, 48000)
	}
}
func BenchmarkResample22kTo16k(b *testing.B) {
	a := sine(22050, 440, 10)
	for b.Loop() {
		Resample(a, 16000)
	}
}
