package genai_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestValidateRefusesControlCharacters(t *testing.T) {
	for _, tt := range []struct {
		name  string
		m     genai.Modality
		req   *genaiv1.GenerateRequest
		field string // "" for a valid request
	}{
		{name: "white space is text", m: genai.Text, req: &genaiv1.GenerateRequest{Prompt: "a\tb\nc\r\n\f\v"}},
		{name: "NUL in a prompt", m: genai.Text, req: &genaiv1.GenerateRequest{Prompt: "a\x00b"}, field: "prompt"},
		{name: "ESC in a speech prompt", m: genai.Audio, req: &genaiv1.GenerateRequest{Prompt: "say \x1b[2J"}, field: "prompt"},
		{name: "BEL in a message", m: genai.Text, req: &genaiv1.GenerateRequest{Messages: []*genaiv1.Message{{Role: "user", Content: "hi\a"}}}, field: "messages[0].content"},
		{name: "invalid UTF-8", m: genai.Image, req: &genaiv1.GenerateRequest{Prompt: "a\xffb"}, field: "prompt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := genai.Validate(tt.m, tt.req)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			_, violations := rpcerr.Details(rpcerr.Status(err))
			if len(violations) != 1 || violations[0].Field != tt.field {
				t.Fatalf("Validate: %v (violations %v), want one on %s", err, violations, tt.field)
			}
		})
	}
}

// FuzzValidate checks that Validate never panics, refuses only with
// INVALID_ARGUMENT naming at least one field, and accepts nothing outside
// the documented limits.
func FuzzValidate(f *testing.F) {
	f.Add(uint8(0), "hello", "", "", int32(64), float32(0.7), int32(0), int32(0), int32(0), float32(1))
	f.Add(uint8(0), "", "user", "hi", int32(0), float32(0), int32(0), int32(0), int32(0), float32(0))
	f.Add(uint8(1), "a red kite", "", "", int32(0), float32(0), int32(512), int32(512), int32(2), float32(0))
	f.Add(uint8(2), "Hello.", "", "", int32(0), float32(0), int32(0), int32(0), int32(0), float32(1.5))
	f.Add(uint8(0), "a\x00b", "system", "\xff", int32(-1), float32(math.NaN()), int32(-8), int32(1<<30), int32(-1), float32(math.Inf(1)))
	f.Add(uint8(1), strings.Repeat("x", genai.MaxMediaPromptLen+1), "", "", int32(0), float32(0), int32(63), int32(2049), int32(5), float32(0))
	f.Fuzz(func(t *testing.T, kind uint8, prompt, role, content string, maxTokens int32, temperature float32, width, height, count int32, speed float32) {
		m := []genai.Modality{genai.Text, genai.Image, genai.Audio}[int(kind)%3]
		req := &genaiv1.GenerateRequest{Prompt: prompt}
		if role != "" || content != "" {
			req.Messages = []*genaiv1.Message{{Role: role, Content: content}}
		}
		switch kind / 3 % 4 {
		case 0:
			req.Options = &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{MaxTokens: maxTokens, Temperature: &temperature}}
		case 1:
			req.Options = &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{Width: width, Height: height, Count: count}}
		case 2:
			req.Options = &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{Speed: speed}}
		}
		err := genai.Validate(m, req)
		if err != nil {
			var e *rpcerr.Error
			if !errors.As(err, &e) || e.Code != codes.InvalidArgument || len(e.Violations) == 0 {
				t.Fatalf("Validate returned %v, want INVALID_ARGUMENT with field violations", err)
			}
			return
		}
		// Accepted: every limit holds.
		texts := []string{prompt}
		for _, msg := range req.Messages {
			texts = append(texts, msg.GetContent())
		}
		for _, s := range texts {
			if !utf8.ValidString(s) {
				t.Fatalf("accepted invalid UTF-8 %q", s)
			}
			for _, c := range []byte(s) {
				if c < 0x20 && (c < '\t' || c > '\r') {
					t.Fatalf("accepted control character %#x in %q", c, s)
				}
			}
		}
		if len(req.Messages) == 0 && strings.TrimSpace(prompt) == "" {
			t.Fatal("accepted an empty prompt")
		}
		if o := req.GetText(); o != nil && (o.GetMaxTokens() < 0 || o.GetMaxTokens() > genai.MaxTokensLimit || math.IsNaN(float64(o.GetTemperature()))) {
			t.Fatalf("accepted text options %v", o)
		}
		if o := req.GetImage(); o != nil && (o.GetCount() < 0 || o.GetCount() > genai.MaxImageCount || o.GetWidth() > genai.MaxImageSide || o.GetWidth() < 0) {
			t.Fatalf("accepted image options %v", o)
		}
		if o := req.GetAudio(); o != nil && o.GetSpeed() != 0 && (o.GetSpeed() < genai.MinSpeed || o.GetSpeed() > genai.MaxSpeed || math.IsNaN(float64(o.GetSpeed()))) {
			t.Fatalf("accepted audio options %v", o)
		}
	})
}
