// Package embedded serves GGUF embedding models in process through Chorus's pure-Go engine,
// so the embedding service runs offline with no model server.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Name is the backend name ListModels reports.
const Name = "embedded"

// Config configures how models are loaded.
type Config struct {
	// Threads each embedding uses (0: every core).
	Threads int
	// Sessions is how many texts one model embeds at once.
	Sessions int
}

// Backend serves one GGUF embedding model, named after its file.
type Backend struct {
	model *engine.Model
	desc  *genaiv1.Model
}

var _ genai.EmbedBackend = (*Backend)(nil)

// Open loads the GGUF embedding model at path; a file that is not one (no pooling type) is
// refused with engine.ErrNotEmbedding.
func Open(path string, cfg Config) (*Backend, error) {
	var opts []engine.Option
	if cfg.Threads > 0 {
		opts = append(opts, engine.WithThreads(cfg.Threads))
	}
	if cfg.Sessions > 0 {
		opts = append(opts, engine.WithSessions(cfg.Sessions))
	}
	m, err := engine.Load(path, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	info := m.Info()
	if info.Pooling == engine.PoolingNone {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, engine.ErrNotEmbedding)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return &Backend{model: m, desc: &genaiv1.Model{
		Name:    name,
		Backend: Name,
		Description: fmt.Sprintf("%s (%s, %s, %d parameters, %s pooling) in process",
			info.Name, info.Arch, info.FileType, info.Params, info.Pooling),
		Capabilities:        []genaiv1.Capability{genaiv1.Capability_CAPABILITY_EMBEDDING},
		ContextLength:       int32(info.ContextSize),
		Quantization:        info.FileType,
		EmbeddingDimensions: int32(info.Embedding),
		MaxInputTokens:      int32(info.ContextSize),
	}}, nil
}

// OpenDir loads every embedding model among dir's *.gguf files, in name order, leaving the
// text and image models beside them to their services. A missing directory yields none.
func OpenDir(dir string, cfg Config) ([]*Backend, error) {
	return engine.OpenDir(dir, func(p string) (*Backend, bool, error) {
		if ok, err := engine.IsEmbeddingModel(p); !ok || err != nil {
			return nil, false, nil // another service's model, or one the text service reports
		}
		b, err := Open(p, cfg)
		return b, err == nil, err
	})
}

// Close releases the model.
func (b *Backend) Close() error { return b.model.Close() }

// Models lists the one model this backend serves.
func (b *Backend) Models() []*genaiv1.Model { return []*genaiv1.Model{b.desc} }

// Embed embeds each input in turn. The model embeds queries and documents alike, so the
// input type changes nothing.
func (b *Backend) Embed(ctx context.Context, req *genaiv1.EmbedRequest) (*genaiv1.EmbedResponse, error) {
	resp := &genaiv1.EmbedResponse{Model: b.desc.GetName(), Usage: &genaiv1.Usage{}}
	for i, in := range req.GetInputs() {
		e, err := b.model.Embed(ctx, in, req.GetTruncate())
		if err != nil {
			return nil, mapError(err, i, b.desc.GetMaxInputTokens())
		}
		resp.Embeddings = append(resp.Embeddings, &genaiv1.Embedding{Values: e.Vector, Index: int32(i), Truncated: e.Truncated})
		resp.Usage.InputTokens += int32(e.Tokens)
	}
	return resp, nil
}

func mapError(err error, i int, limit int32) error {
	switch {
	case errors.Is(err, engine.ErrInputTooLong):
		return rpcerr.Invalid(rpcerr.FieldViolation{Field: fmt.Sprintf("inputs[%d]", i),
			Description: fmt.Sprintf("is longer than the model's %d tokens; shorten it or set truncate", limit)})
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, engine.ErrClosed):
		return rpcerr.New(codes.Unavailable, "MODEL_UNLOADED", "the model is shutting down").WithCause(err)
	}
	return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "embedding failed").WithCause(err)
}
