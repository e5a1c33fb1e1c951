package imagetok

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chorus-ai/chorus/engine/gguf"
)

func TestShrinkCompositesOnWhiteAndAverages(t *testing.T) {
	// A 32x16 picture: the left half opaque red, the right half transparent. Centred in a
	// 32x32 white square, the top and bottom quarters are white padding.
	img := image.NewNRGBA(image.Rect(0, 0, 32, 16))
	for y := range 16 {
		for x := range 16 {
			img.SetNRGBA(x, y, color.NRGBA{R: 255, A: 255})
		}
		for x := 16; x < 32; x++ {
			img.SetNRGBA(x, y, color.NRGBA{G: 255, A: 0}) // invisible green
		}
	}
	px := Shrink(img)
	if len(px) != Pixels {
		t.Fatalf("%d pixels", len(px))
	}
	tests := []struct {
		x, y int
		want RGB
	}{
		{0, 0, RGB{255, 255, 255}},               // padding above
		{0, Grid / 2, RGB{255, 0, 0}},            // red half
		{Grid - 1, Grid / 2, RGB{255, 255, 255}}, // transparent half over white
		{0, Grid - 1, RGB{255, 255, 255}},        // padding below
	}
	for _, tc := range tests {
		if got := px[tc.y*Grid+tc.x]; got != tc.want {
			t.Errorf("cell (%d,%d) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
	// Half-transparent black over white is mid grey.
	grey := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < len(grey.Pix); i += 4 {
		grey.Pix[i+3] = 128
	}
	if got := Shrink(grey)[0]; got[0] < 125 || got[0] > 129 {
		t.Errorf("half-transparent black = %v, want about 127", got)
	}
}

func TestKMeans(t *testing.T) {
	var h Histogram
	var px []RGB
	for i := range 400 {
		switch i % 4 {
		case 0:
			px = append(px, RGB{250, 250, 250})
		case 1:
			px = append(px, RGB{200, 10, 10})
		case 2:
			px = append(px, RGB{10, 180, 20})
		default:
			px = append(px, RGB{uint8(i % 7), uint8(i % 5), 200})
		}
	}
	h.Add(px)
	p, err := h.KMeans(4, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := h.KMeans(4, 10, 1)
	if !slices.Equal(p, again) {
		t.Error("k-means is not deterministic")
	}
	if !slices.Contains(p, RGB{255, 255, 255}) {
		t.Errorf("palette %v has no pure white", p)
	}
	if c := p[p.Nearest(RGB{210, 0, 0})]; c[0] < 150 || c[1] > 50 {
		t.Errorf("nearest to red is %v", c)
	}
	if _, err := h.KMeans(100, 10, 1); err == nil {
		t.Error("asked for more colours than bins, got no error")
	}
}

func TestRenderAndHex(t *testing.T) {
	p := Palette{{0, 0, 0}, {255, 0, 0}}
	idx := make([]uint8, Pixels)
	idx[0] = 1 // the top-left cell is red
	img, err := p.Render(idx, 64, 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != image.Pt(64, 32) {
		t.Fatalf("size %v", got)
	}
	// A cell is 4x2 pixels at 64x32.
	if c := img.NRGBAAt(3, 1); c != (color.NRGBA{R: 255, A: 255}) {
		t.Errorf("inside the first cell: %v", c)
	}
	if c := img.NRGBAAt(4, 0); c != (color.NRGBA{A: 255}) {
		t.Errorf("second cell: %v", c)
	}
	if _, err := p.Render(idx[:10], 64, 64); err == nil {
		t.Error("rendered a short raster")
	}
	back, err := ParseHex(Hex(idx))
	if err != nil || !slices.Equal(back, idx) {
		t.Errorf("hex round trip: %v", err)
	}
	if _, err := ParseHex("0g"); err == nil {
		t.Error("parsed a bad hex digit")
	}
}

func TestGGUFRoundTrip(t *testing.T) {
	w := gguf.NewWriter()
	if err := w.Set("general.architecture", "llama"); err != nil {
		t.Fatal(err)
	}
	pal := Palette{{1, 2, 3}, {255, 255, 255}}
	if err := SetGGUF(w, Spec{Palette: pal, Colour0: 1024, Start: 1026, MaxCaption: 23, Plan: 4}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Palette, pal) || s.Colour0 != 1024 || s.Start != 1026 || s.MaxCaption != 23 || s.Grid != Grid || s.Plan != 4 {
		t.Errorf("read back %+v", s)
	}
	if ids := s.Colours(); !slices.Equal(ids, []int32{1024, 1025}) {
		t.Errorf("colour ids %v", ids)
	}
	empty := gguf.NewWriter()
	empty.Set("general.architecture", "llama")
	p2 := filepath.Join(t.TempDir(), "text.gguf")
	if err := empty.WriteFile(p2); err != nil {
		t.Fatal(err)
	}
	f2, err := gguf.Open(p2)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if _, err := FromGGUF(f2); err == nil {
		t.Error("a file without image metadata read as an image model")
	}
}

func TestPlan(t *testing.T) {
	const bg = 7
	px := make([]uint8, Pixels)
	for i := range px {
		px[i] = bg
	}
	// Colour 3 on 10 pixels, 9 on 10 (a tie: the lower index first), 200 on 4, 1 on 1.
	for i := range 10 {
		px[i], px[20+i] = 9, 3
	}
	for i := range 4 {
		px[40+i] = 200
	}
	px[50] = 1
	tests := []struct {
		n    int
		want []uint8
	}{
		{0, []uint8{}},
		{2, []uint8{3, 9}},
		{4, []uint8{3, 9, 200, 1}},
		{6, []uint8{3, 9, 200, 1, bg, bg}},
	}
	for _, tc := range tests {
		if got := Plan(px, bg, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Plan(n=%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	blank := make([]uint8, Pixels)
	if got := Plan(blank, 0, 3); !slices.Equal(got, []uint8{0, 0, 0}) {
		t.Errorf("plan of a blank picture = %v, want the background", got)
	}
	if got := (Palette{{0, 0, 0}, {250, 250, 251}, {255, 0, 0}}).Background(); got != 1 {
		t.Errorf("Background = %d, want the near-white colour 1", got)
	}
}

func TestHSV(t *testing.T) {
	tests := []struct {
		c    RGB
		h, s float64
		name string
	}{
		{RGB{255, 0, 0}, 0, 1, "red"}, {RGB{0, 255, 0}, 120, 1, "green"}, {RGB{0, 0, 255}, 240, 1, "blue"},
		{RGB{255, 255, 255}, 0, 0, ""}, {RGB{255, 0, 255}, 300, 1, "purple"}, {RGB{255, 128, 0}, 30.1, 1, "orange"},
		{RGB{255, 255, 0}, 60, 1, "yellow"}, {RGB{0, 255, 255}, 180, 1, "cyan"}, {RGB{40, 0, 0}, 0, 1, ""},
	}
	for _, tc := range tests {
		h, s, _ := HSV(tc.c)
		if math.Abs(h-tc.h) > 0.1 || math.Abs(s-tc.s) > 1e-9 {
			t.Errorf("HSV(%v) = %v, %v; want %v, %v", tc.c, h, s, tc.h, tc.s)
		}
		if got := HueName(tc.c); got != tc.name {
			t.Errorf("HueName(%v) = %q, want %q", tc.c, got, tc.name)
		}
	}
}
