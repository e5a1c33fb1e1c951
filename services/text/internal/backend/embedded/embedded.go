// Package embedded serves GGUF language models in process through Chorus's
// pure-Go engine, so the text service runs offline with no model server.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/structured"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Sampling defaults for requests that leave an option unset; they are the
// usual llama.cpp defaults, which suit small models.
const (
	DefaultTemperature   = 0.8
	DefaultTopK          = 40
	DefaultTopP          = 0.95
	DefaultMinP          = 0.05
	DefaultRepeatPenalty = 1.1
)

// Config configures how models are loaded.
type Config struct {
	// Threads the forward passes of a model use, shared by its batched
	// generations (0: every core).
	Threads int
	// Sessions is how many generations one model runs at once, decoded
	// together in continuous batches (the engine's slots); each holds a KV
	// cache of ContextSize tokens.
	Sessions int
	// KVBudgetMiB caps the memory of one model's KV caches together: fewer
	// slots than Sessions are kept when they would not fit (never fewer than
	// one). 0: no cap.
	KVBudgetMiB int
	// ContextSize caps the tokens a session holds (0: the engine default,
	// never more than the model's own context).
	ContextSize int
	// NoPack keeps the weights in the file's layout only
	// (engine.WithoutPacking): no packed copy in memory, at about half the
	// speed for prompts and concurrent generations on CPUs that pack.
	NoPack bool
}

// Backend serves one GGUF file as one model, named after the file.
type Backend struct {
	name  string
	model *engine.Model
	desc  *genaiv1.Model
	chat  bool // the file has a chat template: prompts are sent as a user turn
}

var _ genai.Backend = (*Backend)(nil)

// Open loads the GGUF file at path.
func Open(path string, cfg Config) (*Backend, error) {
	var opts []engine.Option
	if cfg.Threads > 0 {
		opts = append(opts, engine.WithThreads(cfg.Threads))
	}
	if cfg.Sessions > 0 {
		opts = append(opts, engine.WithSessions(cfg.Sessions))
	}
	if cfg.ContextSize > 0 {
		opts = append(opts, engine.WithContextSize(cfg.ContextSize))
	}
	if cfg.KVBudgetMiB > 0 {
		opts = append(opts, engine.WithKVBudget(int64(cfg.KVBudgetMiB)<<20))
	}
	if cfg.NoPack {
		opts = append(opts, engine.WithoutPacking())
	}
	m, err := engine.Load(path, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	info := m.Info()
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	caps := []genaiv1.Capability{genaiv1.Capability_CAPABILITY_COMPLETION, genaiv1.Capability_CAPABILITY_STREAMING}
	if info.ChatTemplate != "plain" {
		caps = append(caps, genaiv1.Capability_CAPABILITY_CHAT)
	}
	desc := fmt.Sprintf("%s (%s, %s, %d parameters) in process", info.Name, info.Arch, info.FileType, info.Params)
	return &Backend{name: name, model: m, chat: info.ChatTemplate != "plain", desc: &genaiv1.Model{
		Name:          name,
		Backend:       "embedded",
		Description:   desc,
		Capabilities:  caps,
		ContextLength: int32(info.ContextSize),
		Quantization:  info.FileType,
	}}, nil
}

// OpenDir loads every *.gguf text model in dir, in name order (image and
// embedding models, which the image and embedding services serve, are skipped). A missing or empty
// directory is not an error: it yields no backends.
func OpenDir(dir string, cfg Config) ([]*Backend, error) {
	return engine.OpenDir(dir, opener(cfg))
}

// Slots is how many generations the model runs at once (Config.Sessions
// within Config.KVBudgetMiB): the concurrency to admit.
func (b *Backend) Slots() int { return b.model.Info().Slots }

// Close releases the model's memory mapping.
func (b *Backend) Close() error { return b.model.Close() }

// Models lists the one model this backend serves.
func (b *Backend) Models() []*genaiv1.Model { return []*genaiv1.Model{b.desc} }

// Generate runs the engine, emitting text as tokens are produced.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	ereq, seed := engineRequest(req)
	if doc := req.GetText().GetJsonSchema(); doc != "" {
		schema, err := structured.Compile([]byte(doc))
		if err != nil {
			return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "text.json_schema",
				Description: "the embedded engine cannot enforce this schema: " + strings.TrimPrefix(err.Error(), "structured: ")}).WithCause(err)
		}
		// Each byte may take a token of its own, so the budget is counted in bytes.
		if need := schema.MinLength(); ereq.MaxTokens < need {
			return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "text.max_tokens",
				Description: fmt.Sprintf("the shortest value the schema accepts may take %d tokens; allow at least that many", need)})
		}
		ereq.Schema = schema
	}
	if b.chat && ereq.Prompt != "" {
		// Instruction-tuned models answer a prompt best as a user turn in
		// their own template, as the openai backend sends it.
		ereq.Messages = []engine.Message{{Role: "user", Content: ereq.Prompt}}
		ereq.Prompt = ""
	}
	res, err := b.model.Generate(ctx, ereq, func(piece string) error {
		return emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: piece}}})
	})
	if err != nil {
		return nil, mapError(err)
	}
	finish := genaiv1.FinishReason_FINISH_REASON_STOP
	if res.FinishReason == engine.FinishLength {
		finish = genaiv1.FinishReason_FINISH_REASON_LENGTH
	}
	return &genaiv1.GenerateResponse{
		Model: b.name,
		Artifacts: []*genaiv1.Artifact{{
			MimeType: "text/plain; charset=utf-8",
			Content:  &genaiv1.Artifact_Text{Text: res.Text},
			Metadata: &genaiv1.ArtifactMetadata{Seed: int64(seed)},
		}},
		Usage:        &genaiv1.Usage{InputTokens: int32(res.InputTokens), OutputTokens: int32(res.OutputTokens)},
		FinishReason: finish,
	}, nil
}

// engineRequest maps a validated request onto the engine's, applying the
// defaults for unset options, and returns the seed used. A request without
// a text object means every option at its default.
func engineRequest(req *genaiv1.GenerateRequest) (engine.Request, uint64) {
	o := req.GetText()
	if o == nil {
		o = &genaiv1.TextOptions{}
	}
	r := engine.Request{
		Prompt:        req.GetPrompt(),
		MaxTokens:     genai.MaxTokens(req),
		Temperature:   DefaultTemperature,
		TopK:          DefaultTopK,
		TopP:          DefaultTopP,
		MinP:          DefaultMinP,
		RepeatPenalty: DefaultRepeatPenalty,
		Stop:          o.GetStop(),
	}
	for _, m := range req.GetMessages() {
		r.Messages = append(r.Messages, engine.Message{Role: m.GetRole(), Content: m.GetContent()})
	}
	if o.Temperature != nil {
		r.Temperature = o.GetTemperature()
	}
	if o.GetTopK() > 0 {
		r.TopK = int(o.GetTopK())
	}
	if o.TopP != nil {
		r.TopP = o.GetTopP()
	}
	if o.MinP != nil {
		r.MinP = o.GetMinP()
	}
	if o.RepetitionPenalty != nil {
		r.RepeatPenalty = o.GetRepetitionPenalty()
	}
	seed := rand.Uint64() >> 1 // fits the int64 reported back
	if o.Seed != nil {
		seed = uint64(o.GetSeed())
	}
	r.Seed = seed
	return r, seed
}

func mapError(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, engine.ErrPromptTooLong):
		return rpcerr.Invalid(rpcerr.FieldViolation{Field: "prompt", Description: "does not fit the model's context; shorten it or lower text.max_tokens"}).WithCause(err)
	case errors.Is(err, engine.ErrInvalidRequest):
		return rpcerr.Invalid(rpcerr.FieldViolation{Field: "messages", Description: "this model cannot take the request as given: " + trimEngine(err)}).WithCause(err)
	case errors.Is(err, engine.ErrNoContinuation):
		return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "structured generation reached a dead end").WithCause(err)
	case errors.Is(err, engine.ErrClosed):
		return rpcerr.New(codes.Unavailable, "MODEL_UNLOADED", "the model is shutting down").WithCause(err)
	}
	return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "text generation failed").WithCause(err)
}

func trimEngine(err error) string {
	return strings.TrimPrefix(err.Error(), "engine: ")
}
