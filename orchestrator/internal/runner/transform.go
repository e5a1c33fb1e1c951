package runner

import (
	"context"
	"fmt"
	"strings"

	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
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

// Retriever searches collections for the retrieve transform; the
// orchestrator's CollectionService (package collection) is one.
type Retriever interface {
	Search(context.Context, *retrievalv1.SearchRequest) (*retrievalv1.SearchResponse, error)
}

// transform runs a model-free step (field is "transform" or
// "completion_transform"): its text, transformed, is its result, sent as
// one delta and fed to the steps that stream from it.
func (r *run) transform(ctx context.Context, st *stepState, data pipeline.Data, field string) (result, error) {
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
		if strings.Contains(s.Transform, "{{") && field == "transform" {
			// The inputs made the transform ("retrieve {{.collection}} 4"
			// with a collection "a b"): the caller's mistake.
			return result{}, rpcerr.Invalid(rpcerr.FieldViolation{Field: "inputs",
				Description: fmt.Sprintf("step %q: the inputs make the transform %q, which is not valid: %v", s.Name, rpcerr.Clip(spec, 200), err)})
		}
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
	text := op.Apply(in)
	if op.Name == transform.Retrieve {
		if text, err = r.retrieve(ctx, op, in); err != nil {
			return result{}, err
		}
	}
	out := &textOut{run: r, step: s.Name, feed: st.feed}
	if text != "" {
		if err := out.write(text); err != nil {
			return result{}, err
		}
	}
	return out.end(nil, ""), nil
}

// retrieve runs the retrieve transform: the op.N passages of collection
// op.Arg nearest query, as transform.FormatPassages writes them.
func (r *run) retrieve(ctx context.Context, op transform.Op, query string) (string, error) {
	if r.runner.cfg.Retriever == nil {
		return "", rpcerr.New(codes.FailedPrecondition, ReasonPipeline, "this orchestrator serves no collections, so the retrieve transform cannot run")
	}
	resp, err := r.runner.cfg.Retriever.Search(ctx, &retrievalv1.SearchRequest{Collection: op.Arg, Query: strings.TrimSpace(query), TopK: int32(op.N)})
	if err != nil {
		return "", err
	}
	ps := make([]transform.Passage, len(resp.GetResults()))
	for i, h := range resp.GetResults() {
		ps[i] = transform.Passage{Document: h.GetDocumentId(), Text: h.GetText()}
	}
	return transform.FormatPassages(ps), nil
}
