// Package imagetok turns small pictures into token sequences and back: a picture is shrunk
// to a Grid×Grid raster, each pixel is replaced by the nearest colour of a palette learned
// with k-means, and each palette index becomes one token after a caption and an image-start
// token. The image model in models/ is trained on such sequences and the image service's
// embedded backend samples them back into pictures.
package imagetok

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
)

// Grid is the side of the token raster: Grid*Grid tokens per picture, raster order.
const Grid = 16

// Pixels is the number of image tokens of one picture.
const Pixels = Grid * Grid

// ImageStart is the control token that ends the caption and starts the pixels.
const ImageStart = "<|image|>"

// ColourToken names palette entry i in the vocabulary.
func ColourToken(i int) string { return fmt.Sprintf("<|c%03d|>", i) }

// ErrPalette reports a palette that cannot be used.
var ErrPalette = errors.New("imagetok: bad palette")

// RGB is one 8-bit sRGB colour.
type RGB [3]uint8

// Palette is an ordered list of colours; a pixel token is an index into it.
type Palette []RGB

// Nearest returns the index of the palette colour closest to c (squared RGB distance; ties
// go to the lower index).
func (p Palette) Nearest(c RGB) int {
	best, bestD := 0, math.MaxInt
	for i, q := range p {
		dr, dg, db := int(c[0])-int(q[0]), int(c[1])-int(q[1]), int(c[2])-int(q[2])
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// Quantize maps a raster of colours to palette indices.
func (p Palette) Quantize(px []RGB) []uint8 {
	out := make([]uint8, len(px))
	for i, c := range px {
		out[i] = uint8(p.Nearest(c))
	}
	return out
}

// shrinkSamples caps the samples taken along each side of a picture: big clip art is point
// sampled on a 256×256 lattice (16×16 samples per cell) instead of read whole.
const shrinkSamples = 256

// Shrink composites img over white (transparent emoji get a white background), centres it in
// a white square of its longer side and box-averages that square down to Grid×Grid over a
// lattice of at most 256×256 sample points (every pixel of a smaller picture).
func Shrink(img image.Image) []RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	side := max(w, h, 1)
	S := min(side, shrinkSamples)
	ox, oy := (side-w)/2, (side-h)/2
	var sum [Pixels][3]float64
	var n [Pixels]float64
	for j := range S {
		y := (2*j + 1) * side / (2 * S)
		cy := j * Grid / S
		for i := range S {
			x := (2*i + 1) * side / (2 * S)
			cx := i * Grid / S
			r, g, bl := 1.0, 1.0, 1.0
			sx, sy := x-ox, y-oy
			if sx >= 0 && sx < w && sy >= 0 && sy < h {
				c := nrgbaAt(img, b.Min.X+sx, b.Min.Y+sy)
				a := float64(c.A) / 255
				r = float64(c.R)/255*a + (1 - a)
				g = float64(c.G)/255*a + (1 - a)
				bl = float64(c.B)/255*a + (1 - a)
			}
			k := cy*Grid + cx
			sum[k][0] += r
			sum[k][1] += g
			sum[k][2] += bl
			n[k]++
		}
	}
	out := make([]RGB, Pixels)
	for k := range out {
		for ch := range 3 {
			out[k][ch] = uint8(math.Round(255 * sum[k][ch] / n[k]))
		}
	}
	return out
}

// nrgbaAt reads one pixel as non-premultiplied colour, without the interface conversions
// of img.At for the types the PNG decoder returns most.
func nrgbaAt(img image.Image, x, y int) color.NRGBA {
	switch m := img.(type) {
	case *image.NRGBA:
		p := m.Pix[m.PixOffset(x, y):]
		return color.NRGBA{R: p[0], G: p[1], B: p[2], A: p[3]}
	case *image.RGBA:
		p := m.Pix[m.PixOffset(x, y):]
		if p[3] == 255 {
			return color.NRGBA{R: p[0], G: p[1], B: p[2], A: 255}
		}
	case *image.Paletted:
		if c, ok := m.Palette[m.ColorIndexAt(x, y)].(color.NRGBA); ok {
			return c
		}
	}
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// Render draws palette indices (Grid×Grid, raster order) as a width×height picture, each
// grid cell a block of pixels (nearest neighbour, so the edges stay sharp). An index outside
// the palette is an error (ErrPalette), not a panic.
func (p Palette) Render(idx []uint8, width, height int) (*image.NRGBA, error) {
	if len(idx) != Pixels {
		return nil, fmt.Errorf("%w: %d pixel tokens, want %d", ErrPalette, len(idx), Pixels)
	}
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("%w: size %dx%d", ErrPalette, width, height)
	}
	for i, v := range idx {
		if int(v) >= len(p) {
			return nil, fmt.Errorf("%w: pixel %d is colour %d of %d", ErrPalette, i, v, len(p))
		}
	}
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		gy := y * Grid / height
		row := img.Pix[y*img.Stride:]
		for x := range width {
			gx := x * Grid / width
			c := p[idx[gy*Grid+gx]]
			o := 4 * x
			row[o], row[o+1], row[o+2], row[o+3] = c[0], c[1], c[2], 255
		}
	}
	return img, nil
}

// Hex writes indices as lowercase hex, two digits each (the corpus's pixel field).
func Hex(idx []uint8) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, v := range idx {
		b.WriteByte(digits[v>>4])
		b.WriteByte(digits[v&15])
	}
	return b.String()
}

// ParseHex reads what Hex wrote.
func ParseHex(s string) ([]uint8, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("%w: odd hex length %d", ErrPalette, len(s))
	}
	out := make([]uint8, len(s)/2)
	for i := range out {
		var v uint8
		for _, c := range []byte(s[2*i : 2*i+2]) {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			default:
				return nil, fmt.Errorf("%w: bad hex digit %q", ErrPalette, c)
			}
		}
		out[i] = v
	}
	return out, nil
}
