package genai

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestValidateEmbed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    *genaiv1.EmbedRequest
		fields []string
	}{
		{name: "minimal", req: &genaiv1.EmbedRequest{Inputs: []string{"a"}}},
		{name: "white space is text", req: &genaiv1.EmbedRequest{Inputs: []string{"a\tb\nc\r\v\f"}}},
		{name: "none", req: &genaiv1.EmbedRequest{}, fields: []string{"inputs"}},
		{name: "invalid UTF-8", req: &genaiv1.EmbedRequest{Inputs: []string{"ok", "\xff\xfe"}}, fields: []string{"inputs[1]"}},
		{name: "bell", req: &genaiv1.EmbedRequest{Inputs: []string{"a\x07"}}, fields: []string{"inputs[0]"}},
		{name: "long model", req: &genaiv1.EmbedRequest{Model: strings.Repeat("m", MaxModelLen+1), Inputs: []string{"a"}}, fields: []string{"model"}},
		{name: "several", req: &genaiv1.EmbedRequest{Inputs: []string{""}, Dimensions: -2, InputType: 9}, fields: []string{"dimensions", "input_type", "inputs[0]"}},
	} {
		err := ValidateEmbed(tc.req)
		if len(tc.fields) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		st := rpcerr.Status(err)
		_, v := rpcerr.Details(st)
		var got []string
		for _, f := range v {
			got = append(got, f.Field)
		}
		if st.Code() != codes.InvalidArgument || strings.Join(got, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%s: %v, fields %v, want %v", tc.name, err, got, tc.fields)
		}
	}
}

// countingBackend returns n vectors of (3, 4, 0) whatever it is asked.
type countingBackend struct{ n int }

func (b countingBackend) Models() []*genaiv1.Model {
	return []*genaiv1.Model{{Name: "m", EmbeddingDimensions: 3}}
}

func (b countingBackend) Embed(context.Context, *genaiv1.EmbedRequest) (*genaiv1.EmbedResponse, error) {
	resp := &genaiv1.EmbedResponse{}
	for range b.n {
		resp.Embeddings = append(resp.Embeddings, &genaiv1.Embedding{Values: []float32{0.6, 0.8, 0}})
	}
	return resp, nil
}

func TestEmbedHandler(t *testing.T) {
	h, err := newEmbedHandler(slog.New(slog.DiscardHandler), noop.NewMeterProvider(), EmbedRoute{Backend: countingBackend{n: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	resp, err := h.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"a", "b"}, Dimensions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != "m" || len(resp.GetEmbeddings()) != 2 || resp.GetEmbeddings()[1].GetIndex() != 1 {
		t.Fatalf("response %v", resp)
	}
	if v := resp.GetEmbeddings()[0].GetValues(); len(v) != 1 || math.Abs(float64(v[0])-1) > 1e-6 {
		t.Errorf("dimensions 1: %v, want [1] (cut, then re-normalised)", v)
	}
	_, err = h.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"a"}, Dimensions: 4})
	if st := rpcerr.Status(err); st.Code() != codes.InvalidArgument {
		t.Errorf("dimensions over the model's: %v", err)
	}
	// A backend that answers for the wrong number of inputs is a bug, reported as one.
	_, err = h.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"a", "b", "c"}})
	if st := rpcerr.Status(err); st.Code() != codes.Internal {
		t.Errorf("2 vectors for 3 inputs: %v", err)
	}
}
