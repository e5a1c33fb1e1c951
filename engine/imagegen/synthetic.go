package imagegen

import (
	"fmt"

	"github.com/chorus-ai/chorus/engine/bpe"
	"github.com/chorus-ai/chorus/engine/imagetok"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/engine/tokenizer"
	"github.com/chorus-ai/chorus/engine/train"
)

// WriteSynthetic writes a small image model with random weights to path: the real layout
// (caption tokenizer, palette tokens, <|image|>, a two-token colour plan, metadata) and a real
// forward pass that draws noise, for tests of the code around the model.
func WriteSynthetic(path string, seed uint64) error { return writeSynthetic(path, seed, 2) }

func writeSynthetic(path string, seed uint64, plan int) error {
	c := bpe.NewCounter()
	for _, s := range []string{"red heart", "green tree", "blue sky", "yellow sun", "red apple"} {
		c.Add(s)
	}
	v, err := bpe.Train(c, 300)
	if err != nil {
		return err
	}
	pal := make(imagetok.Palette, 16)
	for i := range pal {
		pal[i] = imagetok.RGB{uint8(i * 17), uint8(255 - i*17), uint8(i * 5 % 256)}
	}
	colour0 := int32(len(v.Tokens))
	for i := range pal {
		v.Tokens = append(v.Tokens, imagetok.ColourToken(i))
		v.Types = append(v.Types, int32(tokenizer.TypeControl))
	}
	start := int32(len(v.Tokens))
	v.Tokens = append(v.Tokens, imagetok.ImageStart)
	v.Types = append(v.Types, int32(tokenizer.TypeControl))
	const maxCaption = 8
	cfg := train.Config{Vocab: len(v.Tokens), Dim: 32, Layers: 1, Heads: 2, KVHeads: 1, FFN: 64,
		Context: 1 + maxCaption + 1 + plan + imagetok.Pixels, NormEps: 1e-5, RopeBase: 10000}
	s, err := train.NewState(cfg, train.Hyper{Seed: seed, Steps: 1, BatchSeqs: 1, Workers: 1, LR: 1e-3,
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8})
	if err != nil {
		return err
	}
	// Larger random weights than training's initialisation, so the pictures vary.
	for i := range s.Params {
		s.Params[i] *= 20
	}
	w, err := train.Export(cfg, s.Params, v, train.ExportOptions{Name: "synthetic-pixels", Type: quant.F32})
	if err != nil {
		return err
	}
	if err := imagetok.SetGGUF(w, imagetok.Spec{Palette: pal, Colour0: colour0, Start: start, MaxCaption: maxCaption,
		Plan: plan}); err != nil {
		return err
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("imagegen: %w", err)
	}
	return nil
}
