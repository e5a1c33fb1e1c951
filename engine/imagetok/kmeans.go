package imagetok

import (
	"fmt"
	"math"
	"sort"
)

// Histogram counts colours in 32×32×32 bins (5 bits a channel) and keeps each bin's mean
// colour, which is all k-means needs and keeps it fast on millions of pixels.
type Histogram struct {
	n   [1 << 15]float64
	sum [1 << 15][3]float64
}

func bin(c RGB) int { return int(c[0]>>3)<<10 | int(c[1]>>3)<<5 | int(c[2]>>3) }

// Add counts the colours of px.
func (h *Histogram) Add(px []RGB) {
	for _, c := range px {
		k := bin(c)
		h.n[k]++
		h.sum[k][0] += float64(c[0])
		h.sum[k][1] += float64(c[1])
		h.sum[k][2] += float64(c[2])
	}
}

// splitmix64, so the palette does not depend on math/rand's algorithm.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// KMeans learns a k-colour palette from h: k-means++ seeding from seed, then iters rounds of
// Lloyd's algorithm over the weighted bin means. The result is sorted by luminance (darkest
// first) and the colour nearest to white is set to pure white, so backgrounds stay clean.
// The same histogram and seed give the same palette.
func (h *Histogram) KMeans(k, iters int, seed uint64) (Palette, error) {
	type pt struct {
		c [3]float64
		w float64
	}
	var pts []pt
	for i := range h.n {
		if h.n[i] > 0 {
			pts = append(pts, pt{c: [3]float64{h.sum[i][0] / h.n[i], h.sum[i][1] / h.n[i], h.sum[i][2] / h.n[i]}, w: h.n[i]})
		}
	}
	if len(pts) < k {
		return nil, fmt.Errorf("%w: %d distinct colour bins for %d colours", ErrPalette, len(pts), k)
	}
	dist := func(a, b [3]float64) float64 {
		d0, d1, d2 := a[0]-b[0], a[1]-b[1], a[2]-b[2]
		return d0*d0 + d1*d1 + d2*d2
	}
	r := &rng{s: seed}
	cent := make([][3]float64, 0, k)
	// k-means++: the first centre by weight, each next one with probability ∝ w·d².
	d2 := make([]float64, len(pts))
	pick := func(weight func(i int) float64) int {
		var total float64
		for i := range pts {
			total += weight(i)
		}
		x := r.float() * total
		for i := range pts {
			if x -= weight(i); x < 0 {
				return i
			}
		}
		return len(pts) - 1
	}
	first := pick(func(i int) float64 { return pts[i].w })
	cent = append(cent, pts[first].c)
	for i := range pts {
		d2[i] = dist(pts[i].c, cent[0])
	}
	for len(cent) < k {
		j := pick(func(i int) float64 { return pts[i].w * d2[i] })
		cent = append(cent, pts[j].c)
		for i := range pts {
			d2[i] = min(d2[i], dist(pts[i].c, pts[j].c))
		}
	}
	assign := make([]int, len(pts))
	for range iters {
		for i, p := range pts {
			best, bd := 0, math.Inf(1)
			for j, c := range cent {
				if d := dist(p.c, c); d < bd {
					best, bd = j, d
				}
			}
			assign[i] = best
		}
		sums := make([][4]float64, k)
		for i, p := range pts {
			s := &sums[assign[i]]
			s[0] += p.c[0] * p.w
			s[1] += p.c[1] * p.w
			s[2] += p.c[2] * p.w
			s[3] += p.w
		}
		for j := range cent {
			if sums[j][3] > 0 {
				cent[j] = [3]float64{sums[j][0] / sums[j][3], sums[j][1] / sums[j][3], sums[j][2] / sums[j][3]}
			}
		}
	}
	p := make(Palette, k)
	for j, c := range cent {
		for ch := range 3 {
			p[j][ch] = uint8(math.Round(min(255, max(0, c[ch]))))
		}
	}
	lum := func(c RGB) float64 { return 0.2126*float64(c[0]) + 0.7152*float64(c[1]) + 0.0722*float64(c[2]) }
	sort.SliceStable(p, func(a, b int) bool {
		la, lb := lum(p[a]), lum(p[b])
		if la != lb {
			return la < lb
		}
		return bin(p[a]) < bin(p[b])
	})
	p[p.Nearest(RGB{255, 255, 255})] = RGB{255, 255, 255}
	return p, nil
}
