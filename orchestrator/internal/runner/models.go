package runner

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai"
)

// modelCache remembers, for a short while, which models a modality service
// lists, so that a step can pick the prompt its model understands without a
// ListModels call per run.
type modelCache struct {
	ttl time.Duration
	log *slog.Logger

	mu      sync.Mutex
	fetched time.Time
	client  genai.Client
	models  []*genaiv1.Model
}

// canChat reports whether model (empty: the service's default) lists
// CAPABILITY_CHAT. When the service cannot say (ListModels fails, the model
// is unknown) it answers true: the chat prompt is the one every
// instruction-following model understands, and the Generate call that
// follows reports the real error.
func (c *modelCache) canChat(ctx context.Context, client genai.Client, model string) bool {
	models, err := c.list(ctx, client)
	if err != nil {
		c.log.WarnContext(ctx, "listing text models failed; using the chat prompt", "error", err.Error())
		return true
	}
	for _, m := range models {
		if m.GetName() == model || (model == "" && m.GetDefault()) {
			return slices.Contains(m.GetCapabilities(), genaiv1.Capability_CAPABILITY_CHAT)
		}
	}
	return true
}

func (c *modelCache) list(ctx context.Context, client genai.Client) ([]*genaiv1.Model, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == client && time.Since(c.fetched) < c.ttl {
		return c.models, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := client.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		return nil, err
	}
	c.client, c.models, c.fetched = client, resp.GetModels(), time.Now()
	return c.models, nil
}
