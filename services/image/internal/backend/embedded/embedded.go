// Package embedded draws images in process with Chorus's own text-to-image model (a GGUF
// file written by engine/cmd/imagetrain, models/chorus-pixels.gguf) through the pure-Go
// engine, so the image service works offline with no image server.
package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/imagegen"
	"github.com/chorus-ai/chorus/engine/imagetok"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Name is the backend name ListModels reports.
const Name = "embedded"

// Picture sizes: the default side, and the largest this backend draws (the model samples a
// 16×16 raster; bigger pictures would only be bigger blocks).
const (
	DefaultSide = 256
	MaxSide     = 1024
)

// Config configures how the model is loaded.
type Config struct {
	// Sessions is how many pictures are sampled at once, across requests (0: 2); a request
	// for count images runs up to that many in parallel.
	Sessions int
	// Threads each picture's sampling uses (0: every core).
	Threads int
}

// Backend serves one image model GGUF file as one model, named after the file.
type Backend struct {
	name  string
	model *imagegen.Model
	desc  *genaiv1.Model
}

var _ genai.Backend = (*Backend)(nil)

// Open loads the image model at path. A GGUF file that is not an image model (a text model)
// fails with an error wrapping imagegen.ErrNotImageModel.
func Open(path string, cfg Config) (*Backend, error) {
	sessions := cfg.Sessions
	if sessions <= 0 {
		sessions = 2
	}
	opts := []engine.Option{engine.WithSessions(sessions)}
	if cfg.Threads > 0 {
		opts = append(opts, engine.WithThreads(cfg.Threads))
	}
	m, err := imagegen.Load(path, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return &Backend{name: name, model: m, desc: &genaiv1.Model{
		Name:    name,
		Backend: Name,
		Description: fmt.Sprintf("%s in process: %d×%d pixels over a %d-colour palette, drawn token by token and scaled up (64 to %d pixels a side)",
			m.Name(), imagetok.Grid, imagetok.Grid, len(m.Palette()), MaxSide),
		Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_TEXT_TO_IMAGE, genaiv1.Capability_CAPABILITY_STREAMING},
	}}, nil
}

// OpenDir loads every image model among dir's *.gguf files, in name order, skipping the
// text models beside them. A missing directory yields no backends.
func OpenDir(dir string, cfg Config) ([]*Backend, error) {
	return engine.OpenDir(dir, opener(cfg))
}

// Close releases the model.
func (b *Backend) Close() error { return b.model.Close() }

// Models lists the one model this backend serves.
func (b *Backend) Models() []*genaiv1.Model { return []*genaiv1.Model{b.desc} }

// size resolves the requested width and height: both unset is DefaultSide square, one unset
// takes the other's value.
func size(o *genaiv1.ImageOptions) (int, int, error) {
	w, h := int(o.GetWidth()), int(o.GetHeight())
	switch {
	case w == 0 && h == 0:
		w, h = DefaultSide, DefaultSide
	case w == 0:
		w = h
	case h == 0:
		h = w
	}
	var v []rpcerr.FieldViolation
	for _, s := range []struct {
		field string
		n     int
	}{{"image.width", w}, {"image.height", h}} {
		if s.n < genai.MinImageSide || s.n > MaxSide {
			v = append(v, rpcerr.FieldViolation{Field: s.field,
				Description: fmt.Sprintf("this model draws %d to %d pixels a side, got %d", genai.MinImageSide, MaxSide, s.n)})
		}
	}
	if len(v) > 0 {
		return 0, 0, rpcerr.Invalid(v...)
	}
	return w, h, nil
}

// Generate samples count pictures in parallel (image i uses seed+i), emitting progress as
// the percentage of all their tokens sampled, then each picture as a PNG artifact in order.
// The same prompt, seed and size give the same bytes.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	o := req.GetImage() // nil when the request has no image options: every default applies
	w, h, err := size(o)
	if err != nil {
		return nil, err
	}
	count := max(1, int(o.GetCount()))
	seed := rand.Uint64() >> 1 // fits the int64 reported back
	if o != nil && o.Seed != nil {
		seed = uint64(o.GetSeed())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// emit is not safe for concurrent use: progress from the parallel samplers goes
	// through one lock, and only when the whole percentage moves.
	var mu sync.Mutex
	var emitErr error
	done, lastPct, total := 0, -1, count*b.model.Tokens()
	progress := func() {
		mu.Lock()
		defer mu.Unlock()
		done++
		pct := done * 100 / total
		if pct == lastPct || emitErr != nil {
			return
		}
		lastPct = pct
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Progress{
			Progress: &genaiv1.Progress{Step: int32(pct), Total: 100}}}); err != nil {
			emitErr = err
			cancel()
		}
	}
	pics := make([][]uint8, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pics[i], errs[i] = b.model.Generate(ctx, imagegen.Request{Prompt: req.GetPrompt(), Negative: o.GetNegativePrompt(),
				Seed: seed + uint64(i)}, func(int, int) { progress() })
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if emitErr != nil {
		return nil, emitErr
	}
	for _, err := range errs {
		if err != nil {
			return nil, mapError(err)
		}
	}
	out := &genaiv1.GenerateResponse{Model: b.name, FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP}
	for i, idx := range pics {
		img, err := b.model.Render(idx, w, h)
		if err != nil {
			return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "drawing the image failed").WithCause(err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "encoding the image failed").WithCause(err)
		}
		a := &genaiv1.Artifact{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: buf.Bytes()},
			Metadata: &genaiv1.ArtifactMetadata{Width: int32(w), Height: int32(h), Seed: int64(seed + uint64(i)),
				Index: int32(i), SourceText: req.GetPrompt()}}
		out.Artifacts = append(out.Artifacts, a)
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
			return nil, err
		}
	}
	out.Usage = &genaiv1.Usage{Images: int32(count), InputCharacters: int32(utf8.RuneCountInString(req.GetPrompt())),
		OutputTokens: int32(total)}
	return out, nil
}

func mapError(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, engine.ErrClosed):
		return rpcerr.New(codes.Unavailable, "MODEL_UNLOADED", "the model is shutting down").WithCause(err)
	case errors.Is(err, engine.ErrInvalidRequest), errors.Is(err, engine.ErrPromptTooLong):
		return rpcerr.Invalid(rpcerr.FieldViolation{Field: "prompt", Description: "this model cannot take the prompt as given"}).WithCause(err)
	}
	return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "image generation failed").WithCause(err)
}
