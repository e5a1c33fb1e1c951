package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/png" // the fake image server's PNGs
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/processtest"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// optionValues holds, for every field of every modality's options message, a
// valid value that is not the default. TestMinimalRequests fails when a field
// has none, so a new option is covered the day it is added.
var optionValues = map[genai.Modality]map[string]func(m *genaiv1.Model) proto.Message{
	genai.Text: {
		"max_tokens":         func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{MaxTokens: 12} },
		"temperature":        func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{Temperature: proto.Float32(0.5)} },
		"top_p":              func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{TopP: proto.Float32(0.9)} },
		"seed":               func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{Seed: proto.Int64(7)} },
		"stop":               func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{Stop: []string{"zqzq"}} },
		"top_k":              func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{TopK: 20} },
		"min_p":              func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{MinP: proto.Float32(0.1)} },
		"repetition_penalty": func(*genaiv1.Model) proto.Message { return &genaiv1.TextOptions{RepetitionPenalty: proto.Float32(1.2)} },
		"json_schema": func(*genaiv1.Model) proto.Message {
			return &genaiv1.TextOptions{JsonSchema: `{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`}
		},
	},
	genai.Image: {
		"width":           func(*genaiv1.Model) proto.Message { return &genaiv1.ImageOptions{Width: 128} },
		"height":          func(*genaiv1.Model) proto.Message { return &genaiv1.ImageOptions{Height: 128} },
		"seed":            func(*genaiv1.Model) proto.Message { return &genaiv1.ImageOptions{Seed: proto.Int64(7)} },
		"count":           func(*genaiv1.Model) proto.Message { return &genaiv1.ImageOptions{Count: 2} },
		"steps":           func(*genaiv1.Model) proto.Message { return &genaiv1.ImageOptions{Steps: 20} },
		"negative_prompt": func(*genaiv1.Model) proto.Message { return &genaiv1.ImageOptions{NegativePrompt: "blur"} },
	},
	genai.Audio: {
		// A voice the model lists, or none for the service's default.
		"voice": func(m *genaiv1.Model) proto.Message {
			if v := m.GetVoices(); len(v) > 0 {
				return &genaiv1.AudioOptions{Voice: v[len(v)-1]}
			}
			return &genaiv1.AudioOptions{}
		},
		"speed":       func(*genaiv1.Model) proto.Message { return &genaiv1.AudioOptions{Speed: 1.5} },
		"format":      func(*genaiv1.Model) proto.Message { return &genaiv1.AudioOptions{Format: "wav"} },
		"sample_rate": func(*genaiv1.Model) proto.Message { return &genaiv1.AudioOptions{SampleRate: 22050} },
	},
}

// withOptions returns req with the modality's options set to o.
func withOptions(req *genaiv1.GenerateRequest, o proto.Message) *genaiv1.GenerateRequest {
	switch o := o.(type) {
	case *genaiv1.TextOptions:
		req.Options = &genaiv1.GenerateRequest_Text{Text: o}
	case *genaiv1.ImageOptions:
		req.Options = &genaiv1.GenerateRequest_Image{Image: o}
	case *genaiv1.AudioOptions:
		req.Options = &genaiv1.GenerateRequest_Audio{Audio: o}
	}
	return req
}

// optionsDescriptor is the options message a modality takes.
func optionsDescriptor(m genai.Modality) protoreflect.MessageDescriptor {
	switch m {
	case genai.Text:
		return (&genaiv1.TextOptions{}).ProtoReflect().Descriptor()
	case genai.Image:
		return (&genaiv1.ImageOptions{}).ProtoReflect().Descriptor()
	}
	return (&genaiv1.AudioOptions{}).ProtoReflect().Descriptor()
}

// requestCase is one request shape sent to one model.
type requestCase struct {
	name string
	req  *genaiv1.GenerateRequest
	// required: this shape must succeed (the minimal request); otherwise a
	// deliberate 4xx is also acceptable (an option a backend does not take).
	required bool
}

// casesFor lists, for one model ("" is the service's default), the minimal
// request (only prompt, or only messages for text) and that request with
// each optional field alone.
func casesFor(t *testing.T, m genai.Modality, model *genaiv1.Model) []requestCase {
	t.Helper()
	prompt := map[genai.Modality]string{
		genai.Text:  "Once upon a time",
		genai.Image: "a red apple",
		genai.Audio: "Hello from Chorus.",
	}[m]
	base := func() *genaiv1.GenerateRequest {
		return &genaiv1.GenerateRequest{Model: model.GetName(), Prompt: prompt}
	}
	cases := []requestCase{{name: "prompt only", req: base(), required: true}}
	if m == genai.Text {
		cases = append(cases, requestCase{name: "messages only", required: true, req: &genaiv1.GenerateRequest{
			Model: model.GetName(), Messages: []*genaiv1.Message{{Role: "user", Content: "hi"}},
		}})
	}
	fields := optionsDescriptor(m).Fields()
	for i := range fields.Len() {
		name := string(fields.Get(i).Name())
		value, ok := optionValues[m][name]
		if !ok {
			t.Errorf("%s option %q has no sample value in optionValues: add one", m, name)
			continue
		}
		cases = append(cases, requestCase{name: name + " alone", req: withOptions(base(), value(model))})
	}
	return cases
}

// outcome is what one call returned, whatever the transport.
type outcome struct {
	artifacts []*genaiv1.Artifact
	text      string // text deltas, for streams
	code      codes.Code
	httpCode  int // 0 over gRPC
	err       string
}

func (o outcome) String() string {
	if o.httpCode != 0 {
		return fmt.Sprintf("HTTP %d %s: %s", o.httpCode, o.code, o.err)
	}
	return fmt.Sprintf("%s: %s", o.code, o.err)
}

// deliberate reports an error a client caused and can act on: the 4xx
// family, never INTERNAL, UNKNOWN, UNAVAILABLE or any 5xx.
func (o outcome) deliberate() bool {
	switch o.code {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.OutOfRange, codes.ResourceExhausted:
		return o.httpCode == 0 || o.httpCode/100 == 4
	}
	return false
}

// checkResult asserts that a successful call carries a real result of its
// modality: generated text, a decodable image, a WAV with sound.
func checkResult(m genai.Modality, o outcome) error {
	switch m {
	case genai.Text:
		text := o.text
		if len(o.artifacts) > 0 {
			text = o.artifacts[0].GetText()
		}
		if strings.TrimSpace(text) == "" {
			return errors.New("no text generated")
		}
	case genai.Image:
		if len(o.artifacts) == 0 {
			return errors.New("no image")
		}
		for _, a := range o.artifacts {
			if _, _, err := image.DecodeConfig(bytes.NewReader(a.GetData())); err != nil {
				return fmt.Errorf("image %s of %d bytes: %w", a.GetMimeType(), len(a.GetData()), err)
			}
		}
	case genai.Audio:
		if len(o.artifacts) == 0 || o.artifacts[0].GetMimeType() != "audio/wav" {
			return fmt.Errorf("no WAV first among %d artifacts", len(o.artifacts))
		}
		for _, a := range o.artifacts {
			if a.GetMimeType() != "audio/wav" {
				// The music model's score (audio/midi) comes second.
				if len(a.GetData()) == 0 {
					return fmt.Errorf("empty %s artifact", a.GetMimeType())
				}
				continue
			}
			w, err := parseWAV(a.GetData())
			if err != nil {
				return err
			}
			if w.samples == 0 || w.peak < 500 {
				return fmt.Errorf("WAV of %d samples, peak %d: silence", w.samples, w.peak)
			}
		}
	}
	return nil
}

// grpcOutcome sends req straight to the service over gRPC.
func grpcOutcome(ctx context.Context, c genai.Client, req *genaiv1.GenerateRequest, stream bool) outcome {
	if !stream {
		resp, err := c.Generate(ctx, req)
		if err != nil {
			st := status.Convert(err)
			return outcome{code: st.Code(), err: st.Message()}
		}
		return outcome{artifacts: resp.GetArtifacts()}
	}
	raw, err := c.StreamGenerate(ctx, req)
	var s grpc.ServerStreamingClient[genaiv1.GenerateChunk]
	if err == nil {
		// A large artifact (a music WAV over 1 MiB) comes in parts.
		s = genai.Reassemble(raw, 0)
	}
	var o outcome
	for err == nil {
		var ch *genaiv1.GenerateChunk
		if ch, err = s.Recv(); err != nil {
			break
		}
		o.text += ch.GetDelta().GetText()
		if a := ch.GetArtifact(); a != nil {
			o.artifacts = append(o.artifacts, a)
		}
		if d := ch.GetDone(); d != nil && len(d.GetArtifacts()) > 0 {
			o.artifacts = d.GetArtifacts()
		}
	}
	if !errors.Is(err, io.EOF) {
		st := status.Convert(err)
		return outcome{code: st.Code(), err: st.Message()}
	}
	return o
}

// restOutcome sends req through the gateway as JSON.
func restOutcome(ctx context.Context, hc *http.Client, gateway string, m genai.Modality, req *genaiv1.GenerateRequest, stream bool) outcome {
	body, err := protojson.Marshal(req)
	if err != nil {
		return outcome{code: codes.Internal, err: err.Error()}
	}
	verb := ":generate"
	if stream {
		verb = ":streamGenerate"
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, gateway+"/v1/"+string(m)+verb, bytes.NewReader(body))
	if err != nil {
		return outcome{code: codes.Internal, err: err.Error()}
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(hreq)
	if err != nil {
		return outcome{code: codes.Unavailable, err: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return outcome{code: codes.Unavailable, httpCode: resp.StatusCode, err: err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return errorOutcome(resp.StatusCode, data)
	}
	if !stream {
		var r genaiv1.GenerateResponse
		if err := protojson.Unmarshal(data, &r); err != nil {
			return outcome{code: codes.Internal, httpCode: resp.StatusCode, err: fmt.Sprintf("undecodable body %q: %v", clipped(data), err)}
		}
		return outcome{artifacts: r.GetArtifacts(), httpCode: resp.StatusCode}
	}
	o := outcome{httpCode: resp.StatusCode}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return outcome{code: codes.Internal, httpCode: resp.StatusCode, err: fmt.Sprintf("undecodable NDJSON line %q: %v", clipped(sc.Bytes()), err)}
		}
		if line.Error != nil {
			// An error inside a 200 stream: judged by its status code.
			e := errorOutcome(0, line.Error)
			e.httpCode = 0
			return e
		}
		var ch genaiv1.GenerateChunk
		if err := protojson.Unmarshal(line.Result, &ch); err != nil {
			return outcome{code: codes.Internal, httpCode: resp.StatusCode, err: fmt.Sprintf("undecodable chunk %q: %v", clipped(line.Result), err)}
		}
		o.text += ch.GetDelta().GetText()
		if a := ch.GetArtifact(); a != nil {
			o.artifacts = append(o.artifacts, a)
		}
		if d := ch.GetDone(); d != nil && len(d.GetArtifacts()) > 0 {
			o.artifacts = d.GetArtifacts()
		}
	}
	return o
}

// errorOutcome reads the gateway's JSON error body; a body that is not one
// is itself a failure (INTERNAL), whatever the HTTP code.
func errorOutcome(httpCode int, data []byte) outcome {
	var e errorBody
	if err := json.Unmarshal(data, &e); err != nil || e.Message == "" {
		return outcome{code: codes.Internal, httpCode: httpCode, err: fmt.Sprintf("not a JSON status body: %q", clipped(data))}
	}
	return outcome{code: codes.Code(e.Code), httpCode: httpCode, err: e.Message}
}

func clipped(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// TestMinimalRequests sends every service, for each model it lists and for
// its default, the smallest valid request and that request with each
// optional field alone, over gRPC and REST, unary and streaming. Each must
// succeed with a real result, or (only for an option) fail deliberately
// with a 4xx and a JSON body; never a 5xx, never a recovered panic (the
// suite's cleanup fails the test on one).
func TestMinimalRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the five servers and runs them as processes; run without -short")
	}
	root := processtest.RepoRoot(t)
	bin := buildServers(t)
	fake := openaitest.New(openaitest.Options{Models: []string{"fake-llm", "fake-painter"}, APIKey: "test-key"})
	t.Cleanup(fake.Close)
	// Every backend that can run here: the embedded chorus-mini and
	// chorus-pixels, flite and espeak in process, and the openai backends of
	// text and image against the fake OpenAI-compatible server.
	env := processtest.HermeticEnv(t,
		"CHORUS_TEXT_MODELS_DIR="+filepath.Join(root, "models"),
		"CHORUS_IMAGE_MODELS_DIR="+filepath.Join(root, "models"),
		"CHORUS_OPENAI_BASE_URL="+fake.BaseURL,
		"CHORUS_OPENAI_API_KEY=test-key",
		"CHORUS_TEXT_OPENAI_MODELS=fake-llm",
		"CHORUS_IMAGE_OPENAI_MODELS=fake-painter",
	)
	s := startSuite(t, bin, env)
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(hc.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	wantModels := map[genai.Modality][]string{
		genai.Text:  {"fake-llm", "chorus-mini"},
		genai.Image: {"chorus-pixels", "fake-painter"},
		genai.Audio: {"flite", "espeak"},
	}
	for _, m := range []genai.Modality{genai.Text, genai.Image, genai.Audio} {
		t.Run(string(m), func(t *testing.T) {
			conn, err := grpc.NewClient(map[genai.Modality]string{genai.Text: s.addrs.Text, genai.Image: s.addrs.Image, genai.Audio: s.addrs.Audio}[m], grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := genai.NewClient(m, conn)
			list, err := c.ListModels(ctx, &genaiv1.ListModelsRequest{})
			if err != nil {
				t.Fatalf("ListModels: %v", err)
			}
			models := []*genaiv1.Model{{}} // the default, named by no one
			var names []string
			for _, md := range list.GetModels() {
				models = append(models, md)
				names = append(names, md.GetName())
			}
			for _, want := range wantModels[m] {
				if !slices.Contains(names, want) {
					t.Errorf("the %s service lists %q, want %q among them", m, names, want)
				}
			}
			var succeeded, refused int
			defer func() { t.Logf("%d calls succeeded, %d refused deliberately", succeeded, refused) }()
			for _, model := range models {
				for _, tc := range casesFor(t, m, model) {
					for _, tr := range []struct {
						name string
						call func() outcome
					}{
						{"gRPC unary", func() outcome { return grpcOutcome(ctx, c, tc.req, false) }},
						{"gRPC stream", func() outcome { return grpcOutcome(ctx, c, tc.req, true) }},
						{"REST unary", func() outcome { return restOutcome(ctx, hc, s.gateway, m, tc.req, false) }},
						{"REST stream", func() outcome { return restOutcome(ctx, hc, s.gateway, m, tc.req, true) }},
					} {
						label := fmt.Sprintf("model %q, %s, %s", model.GetName(), tc.name, tr.name)
						o := tr.call()
						switch {
						case o.code == codes.OK:
							if err := checkResult(m, o); err != nil {
								t.Errorf("%s: %v", label, err)
							}
							succeeded++
						case tc.required || !o.deliberate():
							t.Errorf("%s: %v", label, o)
						default:
							t.Logf("%s: refused deliberately: %v", label, o)
							refused++
						}
					}
				}
			}
		})
	}
}
