package harness

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/serve"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// scriptModel is the instant text model that streams Script word by word,
// whatever the prompt.
const scriptModel = "script"

// Script is what scriptModel writes: four sentences, as a narration
// script of the pipeline would have.
const Script = "The lighthouse keeper climbs the stairs at dusk. " +
	"He trims the wick and polishes the lens until it shines. " +
	"Far out at sea a small boat turns toward the light. " +
	"By morning the crew is safe in the harbour below."

// scriptBackend is an instant genai.Backend for the benchmark: it streams
// Script one word per delta and returns it whole.
type scriptBackend struct{}

func (scriptBackend) Models() []*genaiv1.Model {
	return []*genaiv1.Model{{
		Name: scriptModel, Backend: "bench", Description: "streams a fixed script, instantly",
		Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_COMPLETION, genaiv1.Capability_CAPABILITY_STREAMING},
		Languages:    []string{"en"},
	}}
}

func (scriptBackend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	words := strings.Fields(Script)
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		if err := emit(genaitest.Delta(w)); err != nil {
			return nil, err
		}
	}
	resp := genaitest.TextResponse(Script)
	resp.Usage = &genaiv1.Usage{InputTokens: int32(len(strings.Fields(req.GetPrompt()))), OutputTokens: int32(len(words))}
	return resp, nil
}

// instant serves modality m over the backends in this process with the
// real genai handler and serve.Server, on a free loopback port. It returns
// the address and a function that stops the server.
func instant(m genai.Modality, backends ...genai.Backend) (string, func() error, error) {
	cfg := serve.ModalityConfig{Config: serve.Config{Addr: "127.0.0.1:0"}, Concurrency: 256, Queue: 1024}
	s, err := serve.NewModality(cfg, m, slog.New(slog.DiscardHandler), func() ([]genai.Route, []io.Closer, error) {
		var rs []genai.Route
		for _, b := range backends {
			rs = append(rs, cfg.Route(b))
		}
		return rs, nil, nil
	})
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s.Addr().String(), func() error { cancel(); return <-done }, nil
}
