package imagetok

import (
	"bytes"
	"errors"
	"image/png"
	"testing"
)

// FuzzRenderPNG follows the image service's writer path (Render, then png.Encode) from any
// palette and pixel tokens: an index outside the palette or a bad size is ErrPalette, never
// a panic, and an accepted picture decodes from its PNG to exactly its palette colours, cell
// by cell, at its size; Shrink of it gives those colours back.
func FuzzRenderPNG(f *testing.F) {
	idx := make([]byte, Pixels)
	for i := range idx {
		idx[i] = byte(i % 3)
	}
	f.Add([]byte{255, 0, 0, 0, 255, 0, 0, 0, 255}, idx, uint8(16), uint8(16))
	f.Add([]byte{1, 2, 3}, idx, uint8(64), uint8(40))
	f.Add([]byte{}, make([]byte, Pixels), uint8(1), uint8(1))
	f.Add([]byte{9, 9, 9}, idx[:Pixels-1], uint8(0), uint8(16))
	f.Fuzz(func(t *testing.T, pal, idx []byte, w, h uint8) {
		p := make(Palette, len(pal)/3)
		for i := range p {
			p[i] = RGB{pal[3*i], pal[3*i+1], pal[3*i+2]}
		}
		img, err := p.Render(idx, int(w), int(h))
		if err != nil {
			if !errors.Is(err, ErrPalette) {
				t.Fatalf("Render refused with %v, not ErrPalette", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatalf("png.Encode: %v", err)
		}
		back, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("decoding what was encoded: %v", err)
		}
		if b := back.Bounds(); b.Dx() != int(w) || b.Dy() != int(h) {
			t.Fatalf("decoded %v, rendered %dx%d", b, w, h)
		}
		for y := range int(h) {
			for x := range int(w) {
				want := p[idx[(y*Grid/int(h))*Grid+x*Grid/int(w)]]
				r, g, b, a := back.At(x, y).RGBA()
				if got := (RGB{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}); got != want || a != 0xffff {
					t.Fatalf("pixel (%d,%d) = %v alpha %d, want %v", x, y, got, a, want)
				}
			}
		}
		if w == Grid && h == Grid {
			if got := p.Quantize(Shrink(back)); !bytes.Equal(paletteColours(p, got), paletteColours(p, idx)) {
				t.Fatalf("Shrink of the picture gave other colours")
			}
		}
	})
}

// paletteColours spells indices as their colours, so equal colours at different indices
// (a palette may repeat one) compare equal.
func paletteColours(p Palette, idx []uint8) []byte {
	out := make([]byte, 0, 3*len(idx))
	for _, i := range idx {
		out = append(out, p[i][:]...)
	}
	return out
}
