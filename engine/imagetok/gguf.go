package imagetok

import (
	"fmt"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// GGUF keys of an image model: what a runtime needs besides the llama weights to turn
// sampled tokens into a picture.
const (
	KeyGrid       = "chorus.image.grid"               // uint32: the raster's side
	KeyPalette    = "chorus.image.palette"            // int32 array: r, g, b of each colour
	KeyColour0    = "chorus.image.colour_token"       // uint32: token id of colour 0; colour i is colour_token+i
	KeyStart      = "chorus.image.start_token"        // uint32: token id of <|image|>
	KeyMaxCaption = "chorus.image.max_caption_tokens" // uint32: caption tokens seen in training
	KeyPlan       = "chorus.image.plan_tokens"        // uint32: colour-plan tokens before the pixels (absent: none)
)

// Spec is an image model's layout as its GGUF file records it.
type Spec struct {
	Grid       int
	Palette    Palette
	Colour0    int32
	Start      int32
	MaxCaption int
	// Plan is how many colour-plan tokens (see Plan) the model writes after <|image|> and
	// before the pixels; 0 for a model that starts with the pixels.
	Plan int
}

// Tokens is how many tokens the model samples for one picture: the plan, then the pixels.
func (s Spec) Tokens() int { return s.Plan + Pixels }

// Colours returns the token ids of the palette, in palette order.
func (s Spec) Colours() []int32 {
	ids := make([]int32, len(s.Palette))
	for i := range ids {
		ids[i] = s.Colour0 + int32(i)
	}
	return ids
}

// SetGGUF records s (its Grid is always this build's) in an exported model.
func SetGGUF(w *gguf.Writer, s Spec) error {
	if s.Plan < 0 || s.Plan > Pixels {
		return fmt.Errorf("%w: %d plan tokens", ErrPalette, s.Plan)
	}
	flat := make([]int32, 0, 3*len(s.Palette))
	for _, c := range s.Palette {
		flat = append(flat, int32(c[0]), int32(c[1]), int32(c[2]))
	}
	for _, kv := range []struct {
		k string
		v any
	}{
		{KeyGrid, uint32(Grid)}, {KeyPalette, flat}, {KeyColour0, uint32(s.Colour0)}, {KeyStart, uint32(s.Start)},
		{KeyMaxCaption, uint32(s.MaxCaption)}, {KeyPlan, uint32(s.Plan)},
	} {
		if err := w.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}

// FromGGUF reads the layout of an image model; a file without it (a text model) is an error
// wrapping ErrPalette.
func FromGGUF(f *gguf.File) (Spec, error) {
	var s Spec
	grid, ok1 := f.Uint32(KeyGrid)
	flat, ok2 := f.Int32s(KeyPalette)
	c0, ok3 := f.Uint32(KeyColour0)
	start, ok4 := f.Uint32(KeyStart)
	maxCap, _ := f.Uint32(KeyMaxCaption)
	plan, _ := f.Uint32(KeyPlan)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return s, fmt.Errorf("%w: not an image model (no %s metadata)", ErrPalette, "chorus.image.*")
	}
	if grid != Grid {
		return s, fmt.Errorf("%w: grid %d, this build draws %d", ErrPalette, grid, Grid)
	}
	if len(flat) == 0 || len(flat)%3 != 0 || len(flat)/3 > 256 {
		return s, fmt.Errorf("%w: palette of %d values", ErrPalette, len(flat))
	}
	if plan > Pixels {
		return s, fmt.Errorf("%w: %d plan tokens", ErrPalette, plan)
	}
	s = Spec{Grid: int(grid), Colour0: int32(c0), Start: int32(start), MaxCaption: int(maxCap), Plan: int(plan)}
	for i := 0; i < len(flat); i += 3 {
		var c RGB
		for ch := range 3 {
			if flat[i+ch] < 0 || flat[i+ch] > 255 {
				return Spec{}, fmt.Errorf("%w: colour value %d", ErrPalette, flat[i+ch])
			}
			c[ch] = uint8(flat[i+ch])
		}
		s.Palette = append(s.Palette, c)
	}
	return s, nil
}
