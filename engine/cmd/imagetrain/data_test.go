package main

import (
	"slices"
	"testing"

	"github.com/chorus-ai/chorus/engine/imagetok"
	"github.com/chorus-ai/chorus/engine/train"
)

func TestSequenceLayout(t *testing.T) {
	l := layout{eot: 9, image: 300, colour0: 20, maxCaption: 3, plan: 2, background: 0,
		context: 1 + 3 + 1 + 2 + imagetok.Pixels - 1}
	px := make([]uint8, imagetok.Pixels)
	for i := range px {
		px[i] = uint8(i % 7)
	}
	tests := []struct {
		name    string
		caption []int32
	}{
		{"short caption, padded", []int32{5}},
		{"caption cut to the maximum", []int32{1, 2, 3, 4, 5}},
		{"no caption", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq := make([]int32, l.context+1)
			l.sequence(seq, tc.caption, px)
			cap := tc.caption[:min(len(tc.caption), 3)]
			want := []int32{train.Masked(9)}
			for _, c := range cap {
				want = append(want, train.Masked(c))
			}
			want = append(want, train.Masked(300))
			// The plan: colours 1 to 3 are on 37 pixels each, 4 to 6 on 36, 0 is the background.
			want = append(want, 20+1, 20+2)
			for _, p := range px {
				want = append(want, 20+int32(p))
			}
			for len(want) < len(seq) {
				want = append(want, train.Masked(9))
			}
			if !slices.Equal(seq, want[:len(seq)]) {
				t.Fatalf("sequence\n got %v\nwant %v", seq, want[:len(seq)])
			}
			scored := 0
			for _, v := range seq[1:] {
				if v >= 0 {
					scored++
				}
			}
			if scored != 2+imagetok.Pixels {
				t.Errorf("%d scored targets, want the plan and every pixel (%d)", scored, 2+imagetok.Pixels)
			}
		})
	}
}

func TestAugment(t *testing.T) {
	const g = imagetok.Grid
	px := make([]uint8, g*g)
	for y := range g {
		for x := range g {
			px[y*g+x] = uint8(x + 16*y%256)
		}
	}
	if got := augment(px, false, 0, 0); !slices.Equal(got, px) {
		t.Error("no flip, no shift changed the raster")
	}
	flipped := augment(px, true, 0, 0)
	if flipped[0] != px[g-1] || flipped[g-1] != px[0] {
		t.Errorf("flip: row 0 starts %d ends %d", flipped[0], flipped[g-1])
	}
	if back := augment(flipped, true, 0, 0); !slices.Equal(back, px) {
		t.Error("two flips are not the identity")
	}
	right := augment(px, false, 1, 0)
	if right[1] != px[0] || right[0] != px[0] || right[g-1] != px[g-2] {
		t.Errorf("shift right: row 0 = %v", right[:g])
	}
	down := augment(px, false, 0, 1)
	if down[g] != px[0] || down[0] != px[0] {
		t.Error("shift down did not repeat the top row")
	}
}

func TestImageSetResumes(t *testing.T) {
	l := layout{eot: 9, image: 300, colour0: 20, maxCaption: 3, plan: 1, context: 1 + 3 + 1 + 1 + imagetok.Pixels - 1}
	var ex []example
	for i := range 5 {
		px := make([]uint8, imagetok.Pixels)
		px[i] = 1
		ex = append(ex, example{caption: []int32{int32(i)}, pixels: px, flip: true})
	}
	batch := func() [][]int32 {
		b := make([][]int32, 3)
		for i := range b {
			b[i] = make([]int32, l.context+1)
		}
		return b
	}
	a := &imageSet{ex: ex, l: l, dropCaption: 4, epoch: -1}
	c := train.Cursor{Seed: 7}
	for range 3 {
		if err := a.Next(&c, batch()); err != nil {
			t.Fatal(err)
		}
	}
	saved := c
	want := batch()
	if err := a.Next(&c, want); err != nil {
		t.Fatal(err)
	}
	fresh := &imageSet{ex: ex, l: l, dropCaption: 4, epoch: -1}
	got := batch()
	if err := fresh.Next(&saved, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("sequence %d differs after resuming from the cursor", i)
		}
	}
}
