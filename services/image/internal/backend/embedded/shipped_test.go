package embedded

import (
	"context"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// shippedModel is the image model in the repository's models/ directory; SHIPPED_IMAGE_MODEL
// points the tests at another file (a checkpoint being evaluated).
func shippedModel() string {
	if p := os.Getenv("SHIPPED_IMAGE_MODEL"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "..", "..", "..", "models", "chorus-pixels.gguf")
}

// hueShares returns the shares of an image's saturated pixels (HSV saturation and value at
// least 0.3) whose hue is red (within 30° of 0°) and green (75° to 165°), and how many
// pixels were saturated.
func hueShares(img image.Image) (red, green float64, saturated int) {
	b := img.Bounds()
	var r, g int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			h, s, v := hsv(float64(cr)/0xffff, float64(cg)/0xffff, float64(cb)/0xffff)
			if s < 0.3 || v < 0.3 {
				continue
			}
			saturated++
			switch {
			case h <= 30 || h >= 330:
				r++
			case h >= 75 && h <= 165:
				g++
			}
		}
	}
	if saturated == 0 {
		return 0, 0, 0
	}
	return float64(r) / float64(saturated), float64(g) / float64(saturated), saturated
}

// hsv converts RGB in [0, 1] to hue in degrees, saturation and value.
func hsv(r, g, b float64) (h, s, v float64) {
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	v = mx
	if mx == 0 {
		return 0, 0, 0
	}
	s = (mx - mn) / mx
	d := mx - mn
	switch {
	case d == 0:
		h = 0
	case mx == r:
		h = 60 * math.Mod((g-b)/d, 6)
	case mx == g:
		h = 60 * ((b-r)/d + 2)
	default:
		h = 60 * ((r-g)/d + 4)
	}
	if h < 0 {
		h += 360
	}
	return h, s, v
}

func TestHSV(t *testing.T) {
	tests := []struct {
		r, g, b float64
		h, s    float64
	}{
		{1, 0, 0, 0, 1}, {0, 1, 0, 120, 1}, {0, 0, 1, 240, 1}, {1, 1, 1, 0, 0}, {1, 0, 1, 300, 1},
	}
	for _, tc := range tests {
		if h, s, _ := hsv(tc.r, tc.g, tc.b); math.Abs(h-tc.h) > 1e-9 || math.Abs(s-tc.s) > 1e-9 {
			t.Errorf("hsv(%v, %v, %v) = %v, %v; want %v, %v", tc.r, tc.g, tc.b, h, s, tc.h, tc.s)
		}
	}
}

// TestShippedDominantColours draws "red heart" and "green tree" with the shipped model over
// four seeds each and requires the heart's saturated pixels to be mostly red rather than
// green, and the tree's mostly green rather than red.
//
// The shipped chorus-pixels (step 4800) does not pass it: measured 2026-11-30, red heart 0.01
// red / 0.03 green, green tree 0.00 green / 0.05 red (models/chorus-pixels.md). It runs only
// with CHORUS_IMAGE_QUALITY=1 until a model that passes is shipped.
func TestShippedDominantColours(t *testing.T) {
	if os.Getenv("CHORUS_IMAGE_QUALITY") == "" {
		t.Skip("the shipped image model does not yet draw colour words (see models/chorus-pixels.md); CHORUS_IMAGE_QUALITY=1 runs this check")
	}
	b, err := Open(shippedModel(), Config{Sessions: 2})
	if err != nil {
		t.Fatalf("the shipped image model: %v", err)
	}
	defer b.Close()
	type shares struct{ red, green float64 }
	measure := func(prompt string) shares {
		seed := int64(7)
		resp, err := b.Generate(context.Background(), request(prompt, &genaiv1.ImageOptions{Width: 64, Height: 64, Seed: &seed, Count: 4}),
			func(*genaiv1.GenerateChunk) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		var sum shares
		for i, a := range resp.GetArtifacts() {
			r, g, n := hueShares(decode(t, a))
			t.Logf("%s, seed %d: %d saturated pixels, %.2f red, %.2f green", prompt, seed+int64(i), n, r, g)
			sum.red += r / float64(len(resp.GetArtifacts()))
			sum.green += g / float64(len(resp.GetArtifacts()))
		}
		return sum
	}
	heart, tree := measure("red heart"), measure("green tree")
	t.Logf("red heart: %.2f red, %.2f green; green tree: %.2f red, %.2f green", heart.red, heart.green, tree.red, tree.green)
	if heart.red <= 2*heart.green || heart.red < 0.3 {
		t.Errorf("red heart: %.2f of the saturated pixels red, %.2f green; want mostly red", heart.red, heart.green)
	}
	if tree.green <= 2*tree.red || tree.green < 0.3 {
		t.Errorf("green tree: %.2f of the saturated pixels green, %.2f red; want mostly green", tree.green, tree.red)
	}
}
