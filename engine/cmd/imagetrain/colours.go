package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/chorus-ai/chorus/engine/imagegen"
	"github.com/chorus-ai/chorus/engine/imagetok"
)

// colourWords are the hues imagetok.HueName names that a prompt may ask for.
var colourWords = []string{"red", "orange", "yellow", "green", "blue", "purple"}

// cmdColours measures how well a model draws colour words: for each colour and noun, it draws
// the prompt "<colour> <noun>" over several seeds and reports the share of each picture's
// saturated pixels whose hue has that name, and how often that hue is the picture's most
// common one. The default nouns leave out "heart" and "tree", which the image service's
// colour test draws, so that choosing a model or its sampling settings here does not tune
// them on that test.
func cmdColours(args []string) error {
	fs := flag.NewFlagSet("colours", flag.ExitOnError)
	modelPath := fs.String("model", "model.gguf", "image model GGUF")
	nouns := fs.String("nouns", "circle|square|car|flower", "nouns, separated by |")
	seed := fs.Uint64("seed", 101, "seed of the first picture of each prompt")
	seeds := fs.Int("seeds", 6, "pictures per prompt")
	temp := fs.Float64("temp", 0, "temperature (0: the default)")
	topK := fs.Int("top-k", 0, "top-k (0: the default)")
	guidance := fs.Float64("guidance", 0, "classifier-free guidance (0: the default, <0: off)")
	planGuidance := fs.Float64("plan-guidance", 0, "guidance of the colour plan (0: the default, <0: off)")
	fs.Parse(args)
	m, err := imagegen.Load(*modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	pal := m.Palette()
	var share, top float64
	n := 0
	fmt.Printf("%-10s %-8s %6s %6s\n", "colour", "noun", "share", "top")
	for _, c := range colourWords {
		for _, noun := range strings.Split(*nouns, "|") {
			var s, t float64
			for j := range *seeds {
				idx, err := m.Generate(context.Background(), imagegen.Request{Prompt: c + " " + noun, Seed: *seed + uint64(j),
					Temperature: float32(*temp), TopK: *topK, Guidance: float32(*guidance),
					PlanGuidance: float32(*planGuidance)}, nil)
				if err != nil {
					return err
				}
				named, saturated, best := hues(pal, idx)
				if saturated > 0 {
					s += float64(named[c]) / float64(saturated)
				}
				if best == c {
					t++
				}
			}
			fmt.Printf("%-10s %-8s %6.2f %6.2f\n", c, noun, s/float64(*seeds), t/float64(*seeds))
			share, top, n = share+s, top+t, n+*seeds
		}
	}
	fmt.Printf("mean over %d pictures: %.3f of the saturated pixels have the named hue; it is the most common hue in %.3f\n",
		n, share/float64(n), top/float64(n))
	return nil
}

// hues counts a picture's saturated pixels by hue name and returns the most common name.
func hues(pal imagetok.Palette, idx []uint8) (named map[string]int, saturated int, best string) {
	named = map[string]int{}
	for _, i := range idx {
		if h := imagetok.HueName(pal[i]); h != "" {
			named[h]++
		}
		if imagetok.Saturated(pal[i]) {
			saturated++
		}
	}
	for _, c := range append(colourWords, "cyan") {
		if named[c] > named[best] {
			best = c
		}
	}
	return named, saturated, best
}
