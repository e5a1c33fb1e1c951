// Command imagetrain trains Chorus's small text-to-image model on the image corpus
// (engine/cmd/imagecorpus): an autoregressive llama-architecture transformer that reads a
// caption and writes imagetok.Grid×Grid palette tokens in raster order.
//
//	imagetrain tokenizer -corpus out/imagecorpus -vocab 1024 -o out/imagetrain/tokenizer.json
//	imagetrain fit -corpus out/imagecorpus -dir out/imagetrain -preset image -steps 6000
//	imagetrain export -dir out/imagetrain -corpus out/imagecorpus -o models/chorus-pixels.gguf
//	imagetrain sample -model models/chorus-pixels.gguf -prompt 'red heart' -o heart.png
//	imagetrain colours -model models/chorus-pixels.gguf
//
// The vocabulary is a byte-level BPE trained on the captions, then one control token per
// palette colour and <|image|>. A training sequence is <|endoftext|>, the caption, <|image|>
// and the pixels; only the pixels are scored. fit resumes from DIR/checkpoint.bin when it
// exists and saves it every -every steps and on SIGINT/SIGTERM.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/chorus-ai/chorus/engine/bpe"
	"github.com/chorus-ai/chorus/engine/imagetok"
	"github.com/chorus-ai/chorus/engine/internal/subcmd"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/engine/tokenizer"
	"github.com/chorus-ai/chorus/engine/train"
)

// maxCaption caps the caption tokens of a sequence; planTokens is the length of the colour
// plan written before the pixels; context is one <|endoftext|>, the caption, <|image|>, the
// plan and the pixels but the last (which is only a target).
const (
	maxCaption = 23
	planTokens = 4
	seqContext = 1 + maxCaption + 1 + planTokens + imagetok.Pixels - 1
)

func main() {
	subcmd.Main("imagetrain",
		subcmd.Command{Name: "tokenizer", Run: cmdTokenizer},
		subcmd.Command{Name: "fit", Run: cmdFit},
		subcmd.Command{Name: "export", Run: cmdExport},
		subcmd.Command{Name: "eval", Run: cmdEval},
		subcmd.Command{Name: "sample", Run: cmdSample},
		subcmd.Command{Name: "consistency", Run: cmdConsistency},
		subcmd.Command{Name: "colours", Run: cmdColours})
}

func cmdTokenizer(args []string) error {
	fs := flag.NewFlagSet("tokenizer", flag.ExitOnError)
	corpus := fs.String("corpus", "out/imagecorpus", "image corpus directory (train.jsonl)")
	size := fs.Int("vocab", 1024, "text vocabulary size, byte tokens and <|endoftext|> included")
	out := fs.String("o", "out/imagetrain/tokenizer.json", "output file")
	fs.Parse(args)
	recs, err := readRecords(filepath.Join(*corpus, "train.jsonl"))
	if err != nil {
		return err
	}
	c := bpe.NewCounter()
	for _, r := range recs {
		c.Add(r.Text)
	}
	v, err := bpe.Train(c, *size)
	if err != nil {
		return err
	}
	if err := v.WriteFile(*out); err != nil {
		return err
	}
	fmt.Printf("tokenizer: %d text tokens (%d merges) from %d captions\n", len(v.Tokens), len(v.Merges), len(recs))
	return nil
}

// imageVocab reads the caption tokenizer and appends the palette's tokens and <|image|>.
func imageVocab(path string, pal imagetok.Palette) (*bpe.Vocab, layout, error) {
	v, err := bpe.ReadFile(path)
	if err != nil {
		return nil, layout{}, fmt.Errorf("%w (train the tokenizer first: imagetrain tokenizer)", err)
	}
	l := layout{eot: v.EOT, colour0: int32(len(v.Tokens)), maxCaption: maxCaption, plan: planTokens,
		background: pal.Background(), context: seqContext}
	for i := range pal {
		v.Tokens = append(v.Tokens, imagetok.ColourToken(i))
		v.Types = append(v.Types, int32(tokenizer.TypeControl))
	}
	l.image = int32(len(v.Tokens))
	v.Tokens = append(v.Tokens, imagetok.ImageStart)
	v.Types = append(v.Types, int32(tokenizer.TypeControl))
	return v, l, nil
}

// loadRun reads what export and eval start from: the corpus's palette, the
// run's tokenizer laid out for it, and the run's checkpoint.
func loadRun(dir, corpus string) (imagetok.Palette, *bpe.Vocab, layout, *train.State, error) {
	pal, err := readPalette(corpus)
	if err != nil {
		return nil, nil, layout{}, nil, err
	}
	v, l, err := imageVocab(filepath.Join(dir, "tokenizer.json"), pal)
	if err != nil {
		return nil, nil, layout{}, nil, err
	}
	s, err := train.LoadState(filepath.Join(dir, "checkpoint.bin"))
	if err != nil {
		return nil, nil, layout{}, nil, err
	}
	return pal, v, l, s, nil
}

func readPalette(corpus string) (imagetok.Palette, error) {
	data, err := os.ReadFile(filepath.Join(corpus, "palette.json"))
	if err != nil {
		return nil, err
	}
	var p imagetok.Palette
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return p, nil
}

// examples tokenizes the captions and decodes the pixels.
func examples(v *bpe.Vocab, recs []record) ([]example, error) {
	tok, err := v.Tokenizer()
	if err != nil {
		return nil, err
	}
	out := make([]example, len(recs))
	for i, r := range recs {
		px, err := imagetok.ParseHex(r.Pixels)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.ID, err)
		}
		if len(px) != imagetok.Pixels {
			return nil, fmt.Errorf("%s: %d pixels, want %d", r.ID, len(px), imagetok.Pixels)
		}
		out[i] = example{caption: tok.EncodeLiteral(r.Text, false), pixels: px,
			flip: !directional(strings.FieldsFunc(r.Text, func(c rune) bool { return c == ' ' || c == ',' || c == ':' }))}
	}
	return out, nil
}

func presetConfig(name string, vocab int) (train.Config, train.Hyper, error) {
	h := train.Hyper{Seed: 1, Warmup: 100, BatchSeqs: 8, Workers: 2, LR: 2e-3, MinLR: 2e-4, WeightDecay: 0.1,
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Clip: 1}
	switch name {
	case "image":
		// chorus-mini's shape over a 1,281-token vocabulary: about 950k weights.
		return train.Config{Vocab: vocab, Dim: 128, Layers: 4, Heads: 4, KVHeads: 2, FFN: 384, Context: seqContext,
			NormEps: 1e-5, RopeBase: 10000}, h, nil
	case "tiny":
		h.Warmup = 10
		return train.Config{Vocab: vocab, Dim: 64, Layers: 2, Heads: 2, KVHeads: 1, FFN: 128, Context: seqContext,
			NormEps: 1e-5, RopeBase: 10000}, h, nil
	}
	return train.Config{}, train.Hyper{}, fmt.Errorf("unknown preset %q (want image or tiny)", name)
}

func cmdFit(args []string) error {
	fs := flag.NewFlagSet("fit", flag.ExitOnError)
	corpus := fs.String("corpus", "out/imagecorpus", "image corpus directory")
	dir := fs.String("dir", "out/imagetrain", "run directory: tokenizer.json, checkpoint")
	preset := fs.String("preset", "image", "model and recipe: image or tiny")
	steps := fs.Int("steps", 6000, "total optimizer steps (sets the cosine schedule)")
	every := fs.Int("every", 100, "checkpoint and validate every this many steps")
	evalPics := fs.Int("eval", 32, "held-out pictures for the validation loss")
	drop := fs.Uint64("drop-caption", 10, "train one picture in this many without its caption (0: never)")
	workers := fs.Int("workers", 0, "goroutines a batch is split over (0: the preset's, or the checkpoint's)")
	batch := fs.Int("batch", 0, "sequences per step (0: the preset's, or the checkpoint's)")
	fs.Parse(args)
	pal, err := readPalette(*corpus)
	if err != nil {
		return err
	}
	v, l, err := imageVocab(filepath.Join(*dir, "tokenizer.json"), pal)
	if err != nil {
		return err
	}
	ckpt := filepath.Join(*dir, "checkpoint.bin")
	// An explicit -steps lengthens (or shortens) the schedule of a resumed run.
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "steps" })
	s, err := train.Resume(ckpt, *steps, explicit, os.Stdout, func() (train.Config, train.Hyper, error) {
		return presetConfig(*preset, len(v.Tokens))
	})
	if err != nil {
		return err
	}
	// More workers change only the order the gradient is summed in; a larger batch changes the
	// recipe from here on.
	if *workers > 0 {
		s.Hyper.Workers = *workers
	}
	if *batch > 0 {
		s.Hyper.BatchSeqs = *batch
	}
	if err := s.Hyper.Validate(); err != nil {
		return err
	}
	c := s.Cfg
	if c.Vocab != len(v.Tokens) {
		return fmt.Errorf("checkpoint vocabulary %d, tokenizer and palette %d", c.Vocab, len(v.Tokens))
	}
	trainEx, heldEx, err := splits(v, *corpus)
	if err != nil {
		return err
	}
	var evalSeqs [][]int32
	for _, e := range heldEx[:min(*evalPics, len(heldEx))] {
		seq := make([]int32, c.Context+1)
		l.sequence(seq, e.caption, e.pixels)
		evalSeqs = append(evalSeqs, seq)
	}
	d := &imageSet{ex: trainEx, l: l, dropCaption: *drop, epoch: -1}
	fmt.Printf("pictures: %d train, %d held out (%d for validation)\n", len(trainEx), len(heldEx), len(evalSeqs))
	return train.FitUntilSignal(s, d, train.FitOptions{Checkpoint: ckpt, Every: *every, Log: os.Stdout,
		Eval: train.HeldOutLoss(s, evalSeqs, imagetok.Pixels), EvalUnit: " (per pixel: plan and pixels over 256)"})
}

func cmdExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ExitOnError)
	dir := fs.String("dir", "out/imagetrain", "run directory (checkpoint.bin, tokenizer.json)")
	corpus := fs.String("corpus", "out/imagecorpus", "image corpus directory (palette.json)")
	typ := fs.String("type", "Q8_0", "matrix type: F32, F16 or Q8_0")
	name := fs.String("name", "chorus-pixels", "general.name")
	out := fs.String("o", "model.gguf", "output GGUF file")
	fs.Parse(args)
	pal, v, l, s, err := loadRun(*dir, *corpus)
	if err != nil {
		return err
	}
	types := map[string]quant.Type{"F32": quant.F32, "F16": quant.F16, "Q8_0": quant.Q8_0}
	t, ok := types[strings.ToUpper(*typ)]
	if !ok {
		return fmt.Errorf("unknown -type %q", *typ)
	}
	w, err := train.Export(s.Cfg, s.Params, v, train.ExportOptions{Name: *name, Type: t,
		Description: fmt.Sprintf("Chorus's small text-to-image model (%dx%d palette tokens), trained by engine/train for %d steps",
			imagetok.Grid, imagetok.Grid, s.Step),
		License: "Noto Color Emoji (OFL-1.1 / Apache-2.0), Unicode CLDR annotations (Unicode-DFS-2016), Open Clip Art Library (public domain)"})
	if err != nil {
		return err
	}
	if err := imagetok.SetGGUF(w, imagetok.Spec{Palette: pal, Colour0: l.colour0, Start: l.image, MaxCaption: maxCaption,
		Plan: l.plan}); err != nil {
		return err
	}
	if err := w.WriteFile(*out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (step %d, %s)\n", *out, s.Step, t)
	return nil
}

// cmdEval scores the checkpoint on every held-out picture: nats per pixel with the caption,
// without it (what the caption is worth), and the unigram baseline of the training pictures'
// colours. A picture's nats are those of its plan and its pixels together (the plan is part
// of how the model writes a picture), divided by its pixels, so that models with and without
// a plan compare.
func cmdEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ExitOnError)
	corpus := fs.String("corpus", "out/imagecorpus", "image corpus directory")
	dir := fs.String("dir", "out/imagetrain", "run directory (checkpoint.bin, tokenizer.json)")
	fs.Parse(args)
	pal, v, l, s, err := loadRun(*dir, *corpus)
	if err != nil {
		return err
	}
	trainEx, heldEx, err := splits(v, *corpus)
	if err != nil {
		return err
	}
	counts := make([]float64, len(pal))
	var total float64
	for _, e := range trainEx {
		for _, p := range e.pixels {
			counts[p]++
			total++
		}
	}
	var cond, uncond, uni float64
	seq := make([]int32, s.Cfg.Context+1)
	for _, e := range heldEx {
		l.sequence(seq, e.caption, e.pixels)
		cond += train.Loss(s.Cfg, s.Params, seq)
		l.sequence(seq, nil, e.pixels)
		uncond += train.Loss(s.Cfg, s.Params, seq)
		for _, p := range e.pixels {
			uni -= math.Log((counts[p] + 1) / (total + float64(len(pal))))
		}
	}
	n := float64(len(heldEx) * imagetok.Pixels)
	fmt.Printf("held-out: %d pictures, %d pixel tokens (checkpoint step %d)\n", len(heldEx), int(n), s.Step)
	fmt.Printf("  with caption     %.4f nats/pixel, perplexity %.2f\n", cond/n, math.Exp(cond/n))
	fmt.Printf("  without caption  %.4f nats/pixel, perplexity %.2f\n", uncond/n, math.Exp(uncond/n))
	fmt.Printf("  colour unigram   %.4f nats/pixel, perplexity %.2f\n", uni/n, math.Exp(uni/n))
	return nil
}
