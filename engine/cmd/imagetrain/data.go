package main

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/chorus-ai/chorus/engine/bpe"
	"github.com/chorus-ai/chorus/engine/imagetok"
	"github.com/chorus-ai/chorus/engine/train"
)

// record is one line of the image corpus (engine/cmd/imagecorpus).
type record struct {
	ID       string   `json:"id"`
	Source   string   `json:"source"`
	Caption  string   `json:"caption"`
	Keywords []string `json:"keywords"`
	Text     string   `json:"text"`
	Pixels   string   `json:"pixels"`
}

func readRecords(path string) ([]record, error) {
	return train.ReadJSONL[record](path, "build the corpus first: make image-corpus")
}

// splits reads the corpus's training and held-out pictures as examples.
func splits(v *bpe.Vocab, corpus string) (trainEx, heldEx []example, err error) {
	for _, sp := range []struct {
		file string
		into *[]example
	}{{"train.jsonl", &trainEx}, {"heldout.jsonl", &heldEx}} {
		recs, err := readRecords(filepath.Join(corpus, sp.file))
		if err != nil {
			return nil, nil, err
		}
		if *sp.into, err = examples(v, recs); err != nil {
			return nil, nil, err
		}
	}
	return trainEx, heldEx, nil
}

// example is one picture ready for training: caption tokens and palette indices.
type example struct {
	caption []int32
	pixels  []uint8
	flip    bool // whether a mirror image is still a picture of the caption
}

// layout holds the token ids of the image vocabulary and the shape of a sequence.
type layout struct {
	eot, image, colour0 int32
	maxCaption          int
	plan                int   // colour-plan tokens between <|image|> and the pixels
	background          uint8 // the palette's white, which a plan leaves out
	context             int
}

// sequence writes one training sequence into seq (Context+1 entries): <|endoftext|>, the
// caption, <|image|>, the picture's colour plan (imagetok.Plan), the pixels, then masked
// padding. The plan and the pixels are scored.
func (l layout) sequence(seq []int32, caption []int32, pixels []uint8) {
	i := 0
	put := func(v int32) {
		seq[i] = v
		i++
	}
	put(train.Masked(l.eot))
	for _, t := range caption[:min(len(caption), l.maxCaption)] {
		put(train.Masked(t))
	}
	put(train.Masked(l.image))
	for _, p := range imagetok.Plan(pixels, l.background, l.plan) {
		put(l.colour0 + int32(p))
	}
	for _, p := range pixels {
		if i == len(seq) {
			break
		}
		put(l.colour0 + int32(p))
	}
	for i < len(seq) {
		put(train.Masked(l.eot))
	}
}

// imageSet is the training batcher: a seeded per-epoch shuffle of the pictures, each drawn
// with a random augmentation (a mirror image unless the caption says left or right, a shift of
// up to one pixel each way with the edge repeated) and, one time in dropCaption, without its
// caption. The augmentation's random numbers derive from the cursor, so a resumed run draws
// the same batches.
type imageSet struct {
	ex          []example
	l           layout
	dropCaption uint64
	perm        []int32
	epoch       int
}

func (d *imageSet) permutation(seed uint64, epoch int) []int32 {
	if d.epoch == epoch && d.perm != nil {
		return d.perm
	}
	p := make([]int32, len(d.ex))
	for i := range p {
		p[i] = int32(i)
	}
	r := train.NewRNG(seed ^ (uint64(epoch)+1)*0xd1b54a32d192ed03)
	for i := len(p) - 1; i > 0; i-- {
		j := int(r.Uint64() % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	d.perm, d.epoch = p, epoch
	return p
}

func (d *imageSet) Next(c *train.Cursor, batch [][]int32) error {
	for _, seq := range batch {
		if len(seq) != d.l.context+1 {
			return fmt.Errorf("sequence of %d tokens for context %d", len(seq), d.l.context)
		}
		p := d.permutation(c.Seed, c.Epoch)
		e := d.ex[p[c.Pos]]
		r := train.NewRNG(c.Seed ^ uint64(c.Epoch)*0x9e3779b97f4a7c15 ^ uint64(c.Pos+1)*0xbf58476d1ce4e5b9)
		flip := e.flip && r.Uint64()%2 == 0
		dx, dy := int(r.Uint64()%3)-1, int(r.Uint64()%3)-1
		caption := e.caption
		if d.dropCaption > 0 && r.Uint64()%d.dropCaption == 0 {
			caption = nil
		}
		d.l.sequence(seq, caption, augment(e.pixels, flip, dx, dy))
		if c.Pos++; c.Pos == len(p) {
			c.Epoch, c.Pos = c.Epoch+1, 0
		}
	}
	return nil
}

// augment mirrors and shifts a Grid×Grid raster, repeating the edge into the gap.
func augment(px []uint8, flip bool, dx, dy int) []uint8 {
	const g = imagetok.Grid
	out := make([]uint8, len(px))
	for y := range g {
		sy := min(g-1, max(0, y-dy))
		for x := range g {
			sx := min(g-1, max(0, x-dx))
			if flip {
				sx = g - 1 - sx
			}
			out[y*g+x] = px[sy*g+sx]
		}
	}
	return out
}

// directional reports whether a caption names a direction a mirror image would reverse, or
// writing it would turn back to front.
func directional(words []string) bool {
	return slices.ContainsFunc(words, func(w string) bool {
		switch w {
		case "left", "right", "leftwards", "rightwards", "east", "west", "clockwise", "anticlockwise", "counterclockwise",
			"keycap", "letter", "sign", "button", "text", "word", "alphabet":
			return true
		}
		return false
	})
}
