package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// errFont reports a font file this reader does not understand.
var errFont = errors.New("imagecorpus: unsupported font data")

// colourFont is what the corpus needs from a CBDT/CBLC colour-bitmap font (Noto Color Emoji):
// the PNG of each glyph and the character sequence each glyph draws.
type colourFont struct {
	data   []byte
	tables map[string][]byte
	// alternatives holds every sequence a ligature glyph is reached by, each read forwards
	// and backwards.
	alternatives map[int][][]rune
}

func parseFont(data []byte) (*colourFont, error) {
	if len(data) < 12 {
		return nil, fmt.Errorf("%w: short file", errFont)
	}
	n := int(binary.BigEndian.Uint16(data[4:]))
	f := &colourFont{data: data, tables: map[string][]byte{}}
	for i := range n {
		if 12+16*(i+1) > len(data) {
			return nil, fmt.Errorf("%w: table directory", errFont)
		}
		rec := data[12+16*i:]
		off, ln := binary.BigEndian.Uint32(rec[8:]), binary.BigEndian.Uint32(rec[12:])
		if uint64(off)+uint64(ln) > uint64(len(data)) {
			return nil, fmt.Errorf("%w: table %q out of range", errFont, rec[:4])
		}
		f.tables[string(rec[:4])] = data[off : off+ln]
	}
	for _, t := range []string{"CBLC", "CBDT", "cmap"} {
		if f.tables[t] == nil {
			return nil, fmt.Errorf("%w: no %s table", errFont, t)
		}
	}
	return f, nil
}

// reader reads big-endian values, remembering the first out-of-range access.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u16(off int) int {
	if off < 0 || off+2 > len(r.b) {
		r.err = fmt.Errorf("%w: read past the end at %d", errFont, off)
		return 0
	}
	return int(binary.BigEndian.Uint16(r.b[off:]))
}

func (r *reader) u32(off int) int {
	if off < 0 || off+4 > len(r.b) {
		r.err = fmt.Errorf("%w: read past the end at %d", errFont, off)
		return 0
	}
	return int(binary.BigEndian.Uint32(r.b[off:]))
}

// bitmaps returns the PNG data of every glyph of the largest strike, by glyph id.
func (f *colourFont) bitmaps() (map[int][]byte, error) {
	loc := &reader{b: f.tables["CBLC"]}
	dat := &reader{b: f.tables["CBDT"]}
	nSizes := loc.u32(4)
	best, bestPPEM := -1, -1
	for i := range nSizes {
		rec := 8 + 48*i
		if ppem := int(loc.b[rec+44]); loc.err == nil && rec+48 <= len(loc.b) && ppem > bestPPEM {
			best, bestPPEM = i, ppem
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("%w: no bitmap strike", errFont)
	}
	rec := 8 + 48*best
	arr := loc.u32(rec)
	nSub := loc.u32(rec + 8)
	out := map[int][]byte{}
	glyph := func(g, off int, format int) {
		var ln, start int
		switch format {
		case 17: // small metrics (5 bytes), length, data
			ln, start = dat.u32(off+5), off+9
		case 18: // big metrics (8 bytes), length, data
			ln, start = dat.u32(off+8), off+12
		case 19: // length, data
			ln, start = dat.u32(off), off+4
		default:
			return
		}
		if dat.err == nil && start+ln <= len(dat.b) {
			out[g] = dat.b[start : start+ln]
		}
	}
	for s := range nSub {
		e := arr + 8*s
		first, last, add := loc.u16(e), loc.u16(e+2), loc.u32(e+4)
		sub := arr + add
		indexFormat, imageFormat, dataOff := loc.u16(sub), loc.u16(sub+2), loc.u32(sub+4)
		switch indexFormat {
		case 1:
			for g := first; g <= last; g++ {
				o, o2 := loc.u32(sub+8+4*(g-first)), loc.u32(sub+8+4*(g-first+1))
				if o2 > o {
					glyph(g, dataOff+o, imageFormat)
				}
			}
		case 3:
			for g := first; g <= last; g++ {
				o, o2 := loc.u16(sub+8+2*(g-first)), loc.u16(sub+8+2*(g-first+1))
				if o2 > o {
					glyph(g, dataOff+o, imageFormat)
				}
			}
		case 4:
			n := loc.u32(sub + 8)
			for i := range n {
				g, o := loc.u16(sub+12+4*i), loc.u16(sub+12+4*i+2)
				glyph(g, dataOff+o, imageFormat)
			}
		default:
			return nil, fmt.Errorf("%w: CBLC index format %d", errFont, indexFormat)
		}
		if loc.err != nil {
			return nil, loc.err
		}
	}
	if dat.err != nil {
		return nil, dat.err
	}
	return out, nil
}

// sequences maps glyph ids to the character sequences that select them: single characters
// through the cmap's format 12 (or 4) subtable, sequences (ZWJ, flags, skin tones, keycaps)
// through GSUB ligatures whose components are resolved back to characters.
func (f *colourFont) sequences() (map[int][]rune, error) {
	cm := &reader{b: f.tables["cmap"]}
	n := cm.u16(2)
	var sub12, sub4 = -1, -1
	for i := range n {
		rec := 4 + 8*i
		off := cm.u32(rec + 4)
		switch cm.u16(off) {
		case 12:
			sub12 = off
		case 4:
			sub4 = off
		}
	}
	seq := map[int][]rune{}
	set := func(g int, r rune) {
		if _, ok := seq[g]; !ok && g != 0 {
			seq[g] = []rune{r}
		}
	}
	switch {
	case sub12 >= 0:
		groups := cm.u32(sub12 + 12)
		for i := range groups {
			e := sub12 + 16 + 12*i
			lo, hi, g := cm.u32(e), cm.u32(e+4), cm.u32(e+8)
			for c := lo; c <= hi && cm.err == nil; c++ {
				set(g+c-lo, rune(c))
			}
		}
	case sub4 >= 0:
		segs := cm.u16(sub4+6) / 2
		ends, starts, deltas, ranges := sub4+14, sub4+16+2*segs, sub4+16+4*segs, sub4+16+6*segs
		for s := range segs {
			end, start, delta, ro := cm.u16(ends+2*s), cm.u16(starts+2*s), cm.u16(deltas+2*s), cm.u16(ranges+2*s)
			for c := start; c <= end && c != 0xFFFF; c++ {
				g := 0
				if ro == 0 {
					g = (c + delta) & 0xFFFF
				} else if gi := cm.u16(ranges + 2*s + ro + 2*(c-start)); gi != 0 {
					g = (gi + delta) & 0xFFFF
				}
				set(g, rune(c))
			}
		}
	default:
		return nil, fmt.Errorf("%w: no cmap subtable of format 12 or 4", errFont)
	}
	if cm.err != nil {
		return nil, cm.err
	}
	gsub := f.tables["GSUB"]
	if gsub == nil {
		return seq, nil
	}
	type lig struct {
		out   int
		comps []int
	}
	var ligs []lig
	r := &reader{b: gsub}
	ll := r.u16(8)
	nl := r.u16(ll)
	var ligSubtable func(st int)
	ligSubtable = func(st int) {
		if r.u16(st) != 1 {
			return
		}
		cov := st + r.u16(st+2)
		var firsts []int
		switch r.u16(cov) {
		case 1:
			for i := range r.u16(cov + 2) {
				firsts = append(firsts, r.u16(cov+4+2*i))
			}
		case 2:
			for i := range r.u16(cov + 2) {
				e := cov + 4 + 6*i
				for g := r.u16(e); g <= r.u16(e+2) && r.err == nil; g++ {
					firsts = append(firsts, g)
				}
			}
		}
		nSets := r.u16(st + 4)
		for i := 0; i < nSets && i < len(firsts); i++ {
			ls := st + r.u16(st+6+2*i)
			for j := range r.u16(ls) {
				lo := ls + r.u16(ls+2+2*j)
				l := lig{out: r.u16(lo), comps: []int{firsts[i]}}
				for k := 1; k < r.u16(lo+2); k++ {
					l.comps = append(l.comps, r.u16(lo+4+2*(k-1)))
				}
				ligs = append(ligs, l)
			}
		}
	}
	for i := range nl {
		lk := ll + r.u16(ll+2+2*i)
		typ, nsub := r.u16(lk), r.u16(lk+4)
		for j := range nsub {
			st := lk + r.u16(lk+6+2*j)
			switch typ {
			case 4:
				ligSubtable(st)
			case 7:
				if r.u16(st+2) == 4 {
					ligSubtable(st + r.u32(st+4))
				}
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	// Components may themselves be ligature outputs: resolve until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, l := range ligs {
			if _, ok := seq[l.out]; ok {
				continue
			}
			if rs, ok := join(seq, l.comps, false); ok {
				seq[l.out] = rs
				changed = true
			}
		}
	}
	// Noto Color Emoji stores some sequences' top-level components in reverse order and
	// reaches some glyphs by several ligatures, so the caller tries every reading.
	f.alternatives = map[int][][]rune{}
	for _, l := range ligs {
		for _, reverse := range []bool{false, true} {
			if rs, ok := join(seq, l.comps, reverse); ok {
				f.alternatives[l.out] = append(f.alternatives[l.out], rs)
			}
		}
	}
	return seq, nil
}

// join concatenates the sequences of comps, backwards when reverse is set.
func join(seq map[int][]rune, comps []int, reverse bool) ([]rune, bool) {
	var rs []rune
	for k := range comps {
		c := comps[k]
		if reverse {
			c = comps[len(comps)-1-k]
		}
		s, ok := seq[c]
		if !ok {
			return nil, false
		}
		rs = append(rs, s...)
	}
	return rs, true
}

// sortedGlyphs returns the keys of m in increasing order.
func sortedGlyphs(m map[int][]byte) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
