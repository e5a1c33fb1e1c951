package imagegen

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chorus-ai/chorus/engine/imagetok"
)

// TestGenerate draws with models that write a colour plan first and with one that does not:
// the picture is always imagetok.Pixels indices into the palette, progress counts the plan
// too, and the same request gives the same picture.
func TestGenerate(t *testing.T) {
	for _, plan := range []int{0, 2} {
		path := filepath.Join(t.TempDir(), "pixels.gguf")
		if err := writeSynthetic(path, 4, plan); err != nil {
			t.Fatal(err)
		}
		m, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Tokens(); got != plan+imagetok.Pixels {
			t.Errorf("plan %d: Tokens() = %d", plan, got)
		}
		var calls, last, total int
		req := Request{Prompt: "red heart", Seed: 9}
		a, err := m.Generate(context.Background(), req, func(done, n int) { calls, last, total = calls+1, done, n })
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != imagetok.Pixels || calls != plan+imagetok.Pixels || last != total || total != plan+imagetok.Pixels {
			t.Errorf("plan %d: %d indices, progress called %d times, last %d of %d", plan, len(a), calls, last, total)
		}
		for _, c := range a {
			if int(c) >= len(m.Palette()) {
				t.Fatalf("plan %d: index %d outside the palette", plan, c)
			}
		}
		b, err := m.Generate(context.Background(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Errorf("plan %d: the same request drew another picture", plan)
		}
		req.Seed = 10
		if c, err := m.Generate(context.Background(), req, nil); err != nil || slices.Equal(a, c) {
			t.Errorf("plan %d: another seed drew the same picture (%v)", plan, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Generate(ctx, req, nil); err == nil {
			t.Errorf("plan %d: a cancelled context drew a picture", plan)
		}
		m.Close()
	}
}
