package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/engine/imagegen"
	"github.com/chorus-ai/chorus/engine/imagetok"
)

// cmdSample draws pictures for prompts through imagegen, as the image service will.
func cmdSample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ExitOnError)
	modelPath := fs.String("model", "model.gguf", "image model GGUF")
	prompts := fs.String("prompt", "red heart|green tree", "prompts, separated by |")
	seed := fs.Uint64("seed", 1, "sampling seed")
	temp := fs.Float64("temp", 0, "temperature (0: the default)")
	topK := fs.Int("top-k", 0, "top-k (0: the default)")
	guidance := fs.Float64("guidance", 0, "classifier-free guidance (0: the default, <0: off)")
	planGuidance := fs.Float64("plan-guidance", 0, "guidance of the colour plan (0: the default, <0: off)")
	size := fs.Int("size", 128, "picture side in pixels")
	out := fs.String("o", "out/imagesamples", "output directory")
	seeds := fs.Int("seeds", 1, "pictures per prompt (seeds seed, seed+1, ...)")
	sheet := fs.String("sheet", "", "also write every picture into this one PNG: a row per prompt, a column per seed")
	fs.Parse(args)
	m, err := imagegen.Load(*modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	ps := strings.Split(*prompts, "|")
	all := image.NewNRGBA(image.Rect(0, 0, *seeds*(*size+4), len(ps)*(*size+4)))
	draw.Draw(all, all.Bounds(), image.White, image.Point{}, draw.Src)
	for i, p := range ps {
		for j := range *seeds {
			start := time.Now()
			idx, err := m.Generate(context.Background(), imagegen.Request{Prompt: p, Seed: *seed + uint64(j),
				Temperature: float32(*temp), TopK: *topK, Guidance: float32(*guidance),
				PlanGuidance: float32(*planGuidance)}, nil)
			if err != nil {
				return err
			}
			img, err := m.Render(idx, *size, *size)
			if err != nil {
				return err
			}
			draw.Draw(all, image.Rect(j*(*size+4)+2, i*(*size+4)+2, j*(*size+4)+2+*size, i*(*size+4)+2+*size), img, image.Point{}, draw.Src)
			name := filepath.Join(*out, fmt.Sprintf("%02d-%s-%d.png", i, strings.ReplaceAll(p, " ", "_"), *seed+uint64(j)))
			if err := writePNG(name, img); err != nil {
				return err
			}
			fmt.Printf("%s (%v)\n", name, time.Since(start).Round(time.Millisecond))
		}
	}
	if *sheet != "" {
		return writePNG(*sheet, all)
	}
	return nil
}

func writePNG(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cmdConsistency writes the consistency index (every training picture's coarse colours and
// caption words, and held-out captions to prompt with) and scores a model on it.
func cmdConsistency(args []string) error {
	fs := flag.NewFlagSet("consistency", flag.ExitOnError)
	modelPath := fs.String("model", "model.gguf", "image model GGUF")
	corpus := fs.String("corpus", "out/imagecorpus", "image corpus directory")
	indexPath := fs.String("index", "", "write the index here (JSON); empty: build it in memory only")
	prompts := fs.Int("prompts", 50, "held-out captions to prompt with")
	k := fs.Int("k", 5, "nearest training pictures per generated picture")
	seed := fs.Uint64("seed", 1, "sampling seed of the first prompt")
	rounds := fs.Int("rounds", 2, "rounds of pictures (round r's seeds start 100·r after -seed)")
	every := fs.Int("every", 2, "index one training picture in this many (keeps the committed index small)")
	offset := fs.Int("offset", 0, "shift the held-out captions chosen by this many (other captions, to tune sampling on)")
	temp := fs.Float64("temp", 0, "temperature (0: the default)")
	topK := fs.Int("top-k", 0, "top-k (0: the default)")
	guidance := fs.Float64("guidance", 0, "classifier-free guidance (0: the default, <0: off)")
	planGuidance := fs.Float64("plan-guidance", 0, "guidance of the colour plan (0: the default, <0: off)")
	fs.Parse(args)
	pal, err := readPalette(*corpus)
	if err != nil {
		return err
	}
	trainRecs, err := readRecords(filepath.Join(*corpus, "train.jsonl"))
	if err != nil {
		return err
	}
	heldRecs, err := readRecords(filepath.Join(*corpus, "heldout.jsonl"))
	if err != nil {
		return err
	}
	var b imagegen.IndexBuilder
	for i, r := range trainRecs {
		if i%max(*every, 1) != 0 {
			continue
		}
		px, err := imagetok.ParseHex(r.Pixels)
		if err != nil {
			return fmt.Errorf("%s: %w", r.ID, err)
		}
		b.Add(imagegen.Features(pal, px), r.Text)
	}
	// An even spread over the held-out pictures (sorted by id, so clip art and emoji both).
	var ps []string
	for i := range min(*prompts, len(heldRecs)) {
		ps = append(ps, heldRecs[(i*len(heldRecs)/min(*prompts, len(heldRecs))+*offset)%len(heldRecs)].Caption)
	}
	ix := b.Index(ps)
	if *indexPath != "" {
		data, err := json.Marshal(ix)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*indexPath, append(data, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("wrote %s: %d training pictures, %d words, %d prompts, %d bytes\n", *indexPath, len(ix.Entries),
			len(ix.Words), len(ix.Prompts), len(data)+1)
	}
	m, err := imagegen.Load(*modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	start := time.Now()
	r, err := imagegen.Consistency(context.Background(), m, ix, *k, *rounds, imagegen.Request{Seed: *seed,
		Temperature: float32(*temp), TopK: *topK, Guidance: float32(*guidance),
		PlanGuidance: float32(*planGuidance)})
	if err != nil {
		return err
	}
	fmt.Printf("consistency over %d held-out captions, %d rounds, %d nearest training pictures each (%v):\n"+
		"                            by histogram  by layout   (share of neighbours whose caption shares a word)\n"+
		"  own prompt's picture      %.3f         %.3f\n  another prompt's picture  %.3f         %.3f\n  random training pictures  %.3f\n",
		r.Prompts, r.Rounds, r.K, time.Since(start).Round(time.Millisecond), r.Colours.Matched, r.Layout.Matched,
		r.Colours.Shuffled, r.Layout.Shuffled, r.Chance)
	return nil
}
