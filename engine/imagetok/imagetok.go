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

// Background returns the index of the palette colour nearest white: the pictures are drawn
// on white, so it is the colour a plan leaves out.
func (p Palette) Background() uint8 { return uint8(p.Nearest(RGB{255, 255, 255})) }

// Plan returns a picture's colour plan: its n most frequent palette colours other than the
// background, most frequent first (ties go to the lower index), padded with the background
// when the picture has fewer other colours. An image model writes the plan after the caption
// and before the pixels, so that what the caption says about colour is decided in a few
// tokens next to it, and the pixels then follow the plan.
func Plan(px []uint8, background uint8, n int) []uint8 {
	var count [256]int
	for _, c := range px {
		count[c]++
	}
	count[background] = 0
	out := make([]uint8, n)
	for i := range out {
		best := -1
		for c, k := range count {
			if k > 0 && (best < 0 || k > count[best]) {
				best = c
			}
		}
		if best < 0 {
			out[i] = background
			continue
		}
		out[i], count[best] = uint8(best), 0
	}
	return out
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

// HSV converts c to hue in degrees [0, 360), saturation and value in [0, 1].
func HSV(c RGB) (h, s, v float64) {
	r, g, b := float64(c[0])/255, float64(c[1])/255, float64(c[2])/255
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	v = mx
	if mx == 0 {
		return 0, 0, 0
	}
	d := mx - mn
	s = d / mx
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

// Saturated reports whether c has a hue worth naming: HSV saturation and value both at
// least 0.3 (not white, grey, black or a faint tint).
func Saturated(c RGB) bool {
	_, s, v := HSV(c)
	return s >= 0.3 && v >= 0.3
}

// HueName names the hue of a saturated colour: red, orange, yellow, green, cyan, blue or
// purple (the bands' edges, in degrees: 20, 45, 70, 165, 190, 260, 330); "" for a colour that
// is not Saturated or whose hue lies between yellow and green (70 to 75).
func HueName(c RGB) string {
	if !Saturated(c) {
		return ""
	}
	h, _, _ := HSV(c)
	switch {
	case h < 20 || h >= 330:
		return "red"
	case h < 45:
		return "orange"
	case h < 70:
		return "yellow"
	case h < 75:
		return ""
	case h < 165:
		return "green"
	case h < 190:
		return "cyan"
	case h < 260:
		return "blue"
	}
	return "purple"
}
