package runner

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/orchestrator/internal/transform"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// useCompletionTransform reports whether a text step with a
// completion_transform runs it instead of its model: when the model cannot
// chat.
func (r *run) useCompletionTransform(ctx context.Context, s *pipeline.Step, data pipeline.Data) bool {
	if s.CompletionTransform == "" || s.Modality != genai.Text {
		return false
	}
	client := r.runner.cfg.Clients[genai.Text]
	if client == nil {
		return false // the call fails and says why
	}
	model, _ := s.Render("model", data)
	return !r.runner.models.canChat(ctx, client, strings.TrimSpace(model))
}

// transform runs a model-free step (field is "transform" or
// "completion_transform"): its text, transformed, is its result, sent as
// one delta and fed to the steps that stream from it.
func (r *run) transform(st *stepState, data pipeline.Data, field string) (result, error) {
	s := st.step
	bad := func(err error) error {
		return rpcerr.New(codes.Internal, ReasonPipeline, fmt.Sprintf("pipeline %q step %q: %v", r.p.Name, s.Name, err)).WithCause(err)
	}
	spec, err := s.Render(field, data)
	if err != nil {
		return result{}, bad(err)
	}
	op, err := transform.Parse(spec)
	if err != nil {
		return result{}, bad(err)
	}
	in, err := s.Render("text", data)
	if err != nil {
		return result{}, bad(err)
	}
	if s.Text == "" {
		var parts []string
		for _, d := range s.Deps() {
			parts = append(parts, r.states[d].res.text)
		}
		in = strings.Join(parts, "\n\n")
	}
	out := &textOut{run: r, step: s.Name, feed: st.feed}
	if text := op.Apply(in); text != "" {
		if err := out.write(text); err != nil {
			return result{}, err
		}
	}
	return out.end(nil, ""), nil
}
