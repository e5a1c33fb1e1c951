// Package imagegen draws pictures with an image model trained by engine/cmd/imagetrain: it
// tokenizes the prompt, samples the model's colour plan (when it has one) and then
// imagetok.Pixels palette tokens through the engine (every other token masked out), and
// renders the pixels.
package imagegen

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strings"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/imagetok"
)

// ErrNotImageModel reports a GGUF file without the image layout metadata.
var ErrNotImageModel = errors.New("imagegen: not an image model")

// Defaults for Request fields left at zero.
const (
	DefaultTemperature = 1.0
	DefaultTopK        = 64
	DefaultGuidance    = 2.0
	// DefaultPlanGuidance is the guidance of the colour plan, where what the prompt says
	// about colour is decided. Stronger guidance there makes the colours follow the prompt;
	// the same strength over the pixels pulls the pictures away from anything the model has
	// seen (see models/chorus-pixels.md).
	DefaultPlanGuidance = 5.0
)

// Model is a loaded image model. Generate is safe for concurrent use; WithSessions sets how
// many pictures are drawn at once.
type Model struct {
	m    *engine.Model
	spec imagetok.Spec
	eot  int32
	name string
}

// Load opens an image model; opts are the engine's (sessions, threads).
func Load(path string, opts ...engine.Option) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	spec, err := imagetok.FromGGUF(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotImageModel, path, err)
	}
	m, err := engine.Load(path, opts...)
	if err != nil {
		return nil, err
	}
	bos := m.Encode("")
	if len(bos) != 1 {
		m.Close()
		return nil, fmt.Errorf("%w: %s: the tokenizer adds no BOS token", ErrNotImageModel, path)
	}
	need := 1 + spec.MaxCaption + 1 + spec.Tokens() - 1
	if ctx := m.Info().ContextSize; ctx < need {
		m.Close()
		return nil, fmt.Errorf("%w: %s: context %d, a picture needs %d", ErrNotImageModel, path, ctx, need)
	}
	return &Model{m: m, spec: spec, eot: bos[0], name: m.Info().Name}, nil
}

// Close releases the model.
func (m *Model) Close() error { return m.m.Close() }

// Name is the model's general.name.
func (m *Model) Name() string { return m.name }

// Palette is the model's colour palette.
func (m *Model) Palette() imagetok.Palette { return m.spec.Palette }

// Tokens is how many tokens one picture takes to sample (the total Generate's progress
// counts to): the colour plan, then the pixels.
func (m *Model) Tokens() int { return m.spec.Tokens() }

// Request is one picture. Zero fields take the defaults above; Temperature below zero means
// greedy, Guidance below zero turns guidance off (plain conditional sampling).
type Request struct {
	Prompt string
	// Negative, when set, is what the picture should not show: guidance steers away from
	// it instead of from the empty caption.
	Negative    string
	Seed        uint64
	Temperature float32
	TopK        int
	Guidance    float32
	// PlanGuidance is Guidance for the colour plan of a model that writes one (zero: the
	// default, below zero: off).
	PlanGuidance float32
}

// Prompt returns the tokens a caption is read as: BOS, at most MaxCaption tokens of the
// lowercased caption (the training captions are lowercase), then the image-start token.
func (m *Model) Prompt(caption string) []int32 {
	ids := m.m.Encode(strings.ToLower(strings.TrimSpace(caption)))
	ids = ids[:min(len(ids), 1+m.spec.MaxCaption)]
	return append(ids, m.spec.Start)
}

// Generate samples one picture's palette indices (raster order). progress, when set, is
// called after each token with how many of the total (Tokens, the plan included) are done.
// The same request on the same model gives the same indices.
func (m *Model) Generate(ctx context.Context, req Request, progress func(done, total int)) ([]uint8, error) {
	t, k, g, pg := req.Temperature, req.TopK, req.Guidance, req.PlanGuidance
	if t == 0 {
		t = DefaultTemperature
	}
	if k == 0 {
		k = DefaultTopK
	}
	if g == 0 {
		g = DefaultGuidance
	}
	if pg == 0 {
		pg = DefaultPlanGuidance
	}
	total := m.spec.Tokens()
	idx := make([]uint8, 0, total)
	step := func(prompt, uncond []int32, n int, guidance float32, seed uint64) error {
		tr := engine.TokenRequest{Prompt: prompt, MaxTokens: n, Temperature: max(t, 0), TopK: max(k, 0), Seed: seed,
			Allow: m.spec.Colours()}
		if guidance > 0 {
			tr.Guidance, tr.Unconditional = guidance, uncond
		}
		_, err := m.m.GenerateTokens(ctx, tr, func(id int32) error {
			c := id - m.spec.Colour0
			if c < 0 || int(c) >= len(m.spec.Palette) {
				return fmt.Errorf("imagegen: sampled token %d is not a colour", id)
			}
			idx = append(idx, uint8(c))
			if progress != nil {
				progress(len(idx), total)
			}
			return nil
		})
		return err
	}
	prompt, uncond := m.Prompt(req.Prompt), m.Prompt(req.Negative)
	pixelSeed := req.Seed
	if m.spec.Plan > 0 {
		// The plan first, with its own guidance; then the pixels after the prompt and the
		// plan, guided against the unconditional prompt with the same plan, on a seed of
		// their own. (A model without a plan draws its pixels on req.Seed, as it always has.)
		if err := step(prompt, uncond, m.spec.Plan, pg, req.Seed); err != nil {
			return nil, err
		}
		for _, c := range idx {
			prompt = append(prompt, m.spec.Colour0+int32(c))
			uncond = append(uncond, m.spec.Colour0+int32(c))
		}
		pixelSeed ^= 0x9e3779b97f4a7c15
	}
	if err := step(prompt, uncond, imagetok.Pixels, g, pixelSeed); err != nil {
		return nil, err
	}
	if len(idx) != total {
		return nil, fmt.Errorf("imagegen: the model stopped after %d of %d tokens", len(idx), total)
	}
	return idx[m.spec.Plan:], nil
}

// Render draws indices at width×height.
func (m *Model) Render(idx []uint8, width, height int) (image.Image, error) {
	return m.spec.Palette.Render(idx, width, height)
}

// IsImageModel reports whether the GGUF file at path is an image model (it has the
// chorus.image.* metadata). Text backends that serve every GGUF file in a directory use it to
// leave image models to the image service.
func IsImageModel(path string) (bool, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, ok := f.Uint32(imagetok.KeyGrid)
	return ok, nil
}
