package genaitest_test

import (
	"math"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestEmbedder(t *testing.T) {
	e := genaitest.NewEmbedder()
	c := genaitest.ServeEmbedder(t, e)
	resp, err := c.Embed(t.Context(), &genaiv1.EmbedRequest{Inputs: []string{"How do I run the tests?", "Run make test.", "Bananas are yellow.", "?"}})
	if err != nil {
		t.Fatal(err)
	}
	vs := resp.GetEmbeddings()
	if len(vs) != 4 || resp.GetModel() != genaitest.FakeEmbedModel || resp.GetUsage().GetInputTokens() == 0 || e.Calls.Load() != 1 || e.Inputs.Load() != 4 {
		t.Fatalf("Embed = %v (calls %d, inputs %d)", resp, e.Calls.Load(), e.Inputs.Load())
	}
	for i, v := range vs {
		if v.GetIndex() != int32(i) || len(v.GetValues()) != 256 || math.Abs(dot(v.GetValues(), v.GetValues())-1) > 1e-5 {
			t.Errorf("embedding %d: index %d, %d values, norm² %v; want unit vectors in order", i, v.GetIndex(), len(v.GetValues()), dot(v.GetValues(), v.GetValues()))
		}
	}
	q, near, far := vs[0].GetValues(), vs[1].GetValues(), vs[2].GetValues()
	if dot(q, near) <= dot(q, far) || dot(q, near) < 0.5 {
		t.Errorf("similarity to the question: %v (shared words) vs %v (none)", dot(q, near), dot(q, far))
	}
	if again := e.Vector("How do I run the tests?"); dot(again, q) < 1-1e-5 {
		t.Error("the same text embeds differently")
	}
	models, err := c.ListModels(t.Context(), &genaiv1.ListModelsRequest{})
	if m := models.GetModels(); err != nil || len(m) != 1 || !m[0].GetDefault() || m[0].GetEmbeddingDimensions() != 256 {
		t.Errorf("ListModels = %v, %v", models, err)
	}
	for _, req := range []*genaiv1.EmbedRequest{{}, {Inputs: []string{""}}, {Model: "other", Inputs: []string{"x"}}} {
		if _, err := c.Embed(t.Context(), req); status.Code(err) == codes.OK {
			t.Errorf("Embed(%v) succeeded", req)
		}
	}
}
