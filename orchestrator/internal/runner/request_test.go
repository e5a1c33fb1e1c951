package runner

import (
	"fmt"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestRequestOptions(t *testing.T) {
	clients := map[genai.Modality]genai.Client{}
	for _, m := range genai.Modalities() {
		clients[m] = genaitest.Serve(t, m, &genaitest.Service{})
	}
	r := &run{runner: New(Config{Clients: clients}), p: &pipeline.Pipeline{Name: "options"}}
	for _, tc := range []struct {
		name     string
		modality genai.Modality
		options  string // the step's options, as YAML
		want     proto.Message
		wantErrs []string // or what the error must say
	}{
		{name: "text, none set", modality: genai.Text, want: &genaiv1.GenerateRequest{
			Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{}},
		}},
		{name: "text, every option", modality: genai.Text,
			options: `{max_tokens: "{{.n}}", temperature: "0.5", repetition_penalty: "1.25", seed: "3000000000", stop: ["END", "{{.n}}"]}`,
			want: &genaiv1.GenerateRequest{Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{
				MaxTokens: 64, Temperature: proto.Float32(0.5), RepetitionPenalty: proto.Float32(1.25), Seed: proto.Int64(3000000000), Stop: []string{"END", "64"},
			}}}},
		{name: "audio", modality: genai.Audio, options: `{voice: alba, speed: "1.5", sample_rate: "22050"}`,
			want: &genaiv1.GenerateRequest{Options: &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{Voice: "alba", Speed: 1.5, SampleRate: 22050}}}},
		{name: "image", modality: genai.Image, options: `{width: "64", height: " 32 ", count: "2", seed: "7"}`,
			want: &genaiv1.GenerateRequest{Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{Width: 64, Height: 32, Count: 2, Seed: proto.Int64(7)}}}},
		{name: "not numbers", modality: genai.Text, options: `{max_tokens: lots, temperature: hot}`,
			wantErrs: []string{`option max_tokens: "lots" is not an integer`, `option temperature: "hot" is not a number`}},
		{name: "over int32", modality: genai.Image, options: `{width: "3000000000"}`,
			wantErrs: []string{`option width: "3000000000" is not an integer`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := fmt.Sprintf("name: options\ninputs: [{name: n, default: \"64\"}]\nsteps:\n  - name: s\n    modality: %s\n    prompt: go\n", tc.modality)
			if tc.options != "" {
				doc += "    options: " + tc.options + "\n"
			}
			doc += "outputs: [{name: out, mime_type: x/y, from: s}]\n"
			p, err := pipeline.ParseBytes([]byte(doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			in, err := p.ResolveInputs(nil)
			if err != nil {
				t.Fatal(err)
			}
			req, client, _, err := r.request(t.Context(), p.Step("s"), pipeline.NewData(in, nil))
			if tc.wantErrs != nil {
				if rpcerr.Status(err).Code() != codes.Internal {
					t.Fatalf("request error %v; want INTERNAL", err)
				}
				for _, want := range tc.wantErrs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("request error %q does not say %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if client != clients[tc.modality] {
				t.Errorf("request chose the wrong service's client")
			}
			want := proto.Clone(tc.want).(*genaiv1.GenerateRequest)
			want.Prompt = "go"
			if !proto.Equal(req, want) {
				t.Errorf("request = %v\nwant      %v", req, want)
			}
		})
	}
}
