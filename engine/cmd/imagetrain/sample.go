package main

import (
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/engine/imagegen"
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
	size := fs.Int("size", 128, "picture side in pixels")
	out := fs.String("o", "out/imagesamples", "output directory")
	fs.Parse(args)
	m, err := imagegen.Load(*modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for i, p := range strings.Split(*prompts, "|") {
		start := time.Now()
		idx, err := m.Generate(context.Background(), imagegen.Request{Prompt: p, Seed: *seed, Temperature: float32(*temp),
			TopK: *topK, Guidance: float32(*guidance)}, nil)
		if err != nil {
			return err
		}
		img, err := m.Render(idx, *size, *size)
		if err != nil {
			return err
		}
		name := filepath.Join(*out, fmt.Sprintf("%02d-%s.png", i, strings.ReplaceAll(p, " ", "_")))
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Printf("%s (%v)\n", name, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// cmdConsistency is filled in with the prompt-consistency metric.
func cmdConsistency(args []string) error { return fmt.Errorf("consistency: not yet") }
