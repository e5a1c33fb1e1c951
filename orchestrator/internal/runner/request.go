package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// request renders a step's call. For a completion model it also returns the
// opening written into the prompt, which starts the step's text.
func (r *run) request(ctx context.Context, s *pipeline.Step, data pipeline.Data) (req *genaiv1.GenerateRequest, client genai.Client, opening string, err error) {
	client = r.runner.cfg.Clients[s.Modality]
	if client == nil {
		return nil, nil, "", rpcerr.New(codes.FailedPrecondition, ReasonPipeline, fmt.Sprintf("this orchestrator has no %s service configured", s.Modality))
	}
	rr := &renderer{step: s, data: data}
	model := rr.trimmed("model")
	// A completion model gets the completion prompt and, where they are
	// set, the completion options.
	rr.completion = s.CompletionPrompt != "" && !r.runner.models.canChat(ctx, client, model)
	req = &genaiv1.GenerateRequest{Model: model, Prompt: rr.trimmed("prompt")}
	if rr.completion {
		p := rr.render("completion_prompt")
		opening = rr.trimmed("completion_opening")
		req.Prompt = strings.TrimLeft(p, " \t\n") + opening
	}
	switch s.Modality {
	case genai.Text:
		req.Options = &genaiv1.GenerateRequest_Text{Text: rr.textOptions()}
	case genai.Audio:
		req.Options = &genaiv1.GenerateRequest_Audio{Audio: rr.audioOptions()}
	case genai.Image:
		req.Options = &genaiv1.GenerateRequest_Image{Image: rr.imageOptions()}
	}
	if err := errors.Join(rr.errs...); err != nil {
		return nil, nil, "", rpcerr.New(codes.Internal, ReasonPipeline, fmt.Sprintf("pipeline %q step %q cannot build its request: %v", r.p.Name, s.Name, err)).WithCause(err)
	}
	return req, client, opening, nil
}

// renderer renders the templates of one call, collecting every error.
type renderer struct {
	step *pipeline.Step
	data pipeline.Data
	// completion is set when the call goes to a completion model, whose
	// completion options replace the options they set.
	completion bool
	errs       []error
}

func (rr *renderer) render(name string) string {
	v, err := rr.step.Render(name, rr.data)
	if err != nil {
		rr.errs = append(rr.errs, err)
	}
	return v
}

func (rr *renderer) trimmed(name string) string { return strings.TrimSpace(rr.render(name)) }

// optionsOf names the set an option comes from: "options" or
// "completion_options".
func (rr *renderer) optionsOf(name string) string {
	if rr.completion && rr.step.CompletionOptions.Has(name) {
		return "completion_options"
	}
	return "options"
}

// option renders the option called name; "" means unset.
func (rr *renderer) option(name string) string { return rr.trimmed(rr.optionsOf(name) + "." + name) }

// parseOption renders an option and parses it; ok is false when it is
// unset or does not parse (an error then says so).
func parseOption[T any](rr *renderer, name, kind string, parse func(string) (T, error)) (_ T, ok bool) {
	var zero T
	v := rr.option(name)
	if v == "" {
		return zero, false
	}
	x, err := parse(v)
	if err != nil {
		rr.errs = append(rr.errs, fmt.Errorf("option %s: %q is not %s", name, rpcerr.Clip(v, 32), kind))
		return zero, false
	}
	return x, true
}

// float32 returns a number option; ok is false when it is unset or bad.
func (rr *renderer) float32(name string) (float32, bool) {
	return parseOption(rr, name, "a number", func(v string) (float32, error) {
		f, err := strconv.ParseFloat(v, 32)
		return float32(f), err
	})
}

// int32 returns an integer option; ok is false when it is unset or bad.
func (rr *renderer) int32(name string) (int32, bool) {
	return parseOption(rr, name, "an integer", func(v string) (int32, error) {
		n, err := strconv.ParseInt(v, 10, 32)
		return int32(n), err
	})
}

// seed returns the seed option, nil when unset.
func (rr *renderer) seed() *int64 {
	n, ok := parseOption(rr, "seed", "an integer", func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) })
	if !ok {
		return nil
	}
	return &n
}

// float32Ptr returns a number option, nil when unset.
func (rr *renderer) float32Ptr(name string) *float32 {
	f, ok := rr.float32(name)
	if !ok {
		return nil
	}
	return &f
}

func (rr *renderer) textOptions() *genaiv1.TextOptions {
	t := &genaiv1.TextOptions{}
	t.MaxTokens, _ = rr.int32("max_tokens")
	t.Temperature = rr.float32Ptr("temperature")
	t.RepetitionPenalty = rr.float32Ptr("repetition_penalty")
	t.Seed = rr.seed()
	t.JsonSchema = rr.option("json_schema")
	stops := rr.step.Options.Stop
	set := rr.optionsOf("stop")
	if set == "completion_options" {
		stops = rr.step.CompletionOptions.Stop
	}
	for i := range stops {
		if v := rr.render(fmt.Sprintf("%s.stop[%d]", set, i)); v != "" {
			t.Stop = append(t.Stop, v)
		}
	}
	return t
}

func (rr *renderer) audioOptions() *genaiv1.AudioOptions {
	a := &genaiv1.AudioOptions{Voice: rr.option("voice")}
	a.Speed, _ = rr.float32("speed")
	a.SampleRate, _ = rr.int32("sample_rate")
	return a
}

func (rr *renderer) imageOptions() *genaiv1.ImageOptions {
	im := &genaiv1.ImageOptions{Seed: rr.seed()}
	im.Width, _ = rr.int32("width")
	im.Height, _ = rr.int32("height")
	im.Count, _ = rr.int32("count")
	return im
}
