package syncio

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestWriterKeepsWritesWhole(t *testing.T) {
	var own Writer
	var under bytes.Buffer
	wrapped := NewWriter(&under)
	line := strings.Repeat("x", 100) + "\n"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				own.Write([]byte(line))
				wrapped.Write([]byte(line))
				_ = own.String()
			}
		})
	}
	wg.Wait()
	for name, got := range map[string]string{"own buffer": own.String(), "wrapped": under.String()} {
		if want := strings.Repeat(line, 800); got != want {
			t.Errorf("%s: %d bytes written, want 800 whole lines (%d bytes)", name, len(got), len(want))
		}
	}
	if wrapped.String() != "" {
		t.Errorf("String of a wrapping Writer = %q, want empty", wrapped.String())
	}
}
