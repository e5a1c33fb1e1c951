package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"image/png"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorus-ai/chorus/e2e/internal/suite"
)

// TestOpenAIClient uses the official OpenAI Go client, as a user's program
// would, against the real suite on its offline defaults: chorus-mini (the
// embedded text model) for chat and completions, chorus-pixels (the
// embedded image model) for images, flite for speech, chorus-embed (the
// embedded embedding model) for embeddings.
func TestOpenAIClient(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and starts the whole suite; run without -short")
	}
	s := suite.Start(t, suite.Options{})
	ctx := suite.Context(t, 5*time.Minute)
	client := openai.NewClient(
		option.WithBaseURL(s.URL+"/v1/"),
		option.WithAPIKey("unused"), // Chorus takes no key; the client insists on one
		option.WithMaxRetries(0),    // every failure shows
	)

	t.Run("models.list", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			if m.Object != "model" || m.OwnedBy == "" {
				t.Errorf("model %+v", m)
			}
			ids = append(ids, m.ID)
		}
		for _, want := range []string{"chorus-mini", "chorus-pixels", "flite", "chorus-embed"} {
			if !slices.Contains(ids, want) {
				t.Errorf("models %v lack %s", ids, want)
			}
		}
		m, err := client.Models.Get(ctx, "flite")
		if err != nil || m.ID != "flite" {
			t.Errorf("models.get flite: %v %+v", err, m)
		}
	})

	chatParams := openai.ChatCompletionNewParams{
		Model:               "chorus-mini",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me about the sea.")},
		MaxCompletionTokens: openai.Int(24),
		Temperature:         openai.Float(0.8),
		Seed:                openai.Int(7),
	}
	var chatText string
	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, chatParams)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Model != "chorus-mini" || len(resp.Choices) != 1 {
			t.Fatalf("response %s", resp.RawJSON())
		}
		c := resp.Choices[0]
		chatText = c.Message.Content
		if strings.TrimSpace(chatText) == "" || (c.FinishReason != "stop" && c.FinishReason != "length") {
			t.Errorf("choice %s", resp.RawJSON())
		}
		if u := resp.Usage; u.PromptTokens == 0 || u.CompletionTokens == 0 || u.CompletionTokens > 24 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage %+v", u)
		}
		t.Logf("chat: %q (%s, %d tokens)", chatText, c.FinishReason, resp.Usage.CompletionTokens)
	})

	t.Run("chat streaming", func(t *testing.T) {
		params := chatParams
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(acc.Choices) != 1 {
			t.Fatalf("accumulated %+v", acc.ChatCompletion)
		}
		got := acc.Choices[0].Message.Content
		// The same seed and options give the same text, streamed or not.
		if chatText != "" && got != chatText {
			t.Errorf("streamed %q, unary %q", got, chatText)
		}
		if chunks < 3 || acc.Usage.CompletionTokens == 0 {
			t.Errorf("%d chunks, usage %+v", chunks, acc.Usage)
		}
		t.Logf("chat streaming: %d chunks", chunks)
	})

	completionParams := openai.CompletionNewParams{
		Model:     "chorus-mini",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("And God said,")},
		MaxTokens: openai.Int(16),
		Seed:      openai.Int(3),
		Stop:      openai.CompletionNewParamsStopUnion{OfStringArray: []string{"\n\n"}},
	}
	var completionText string
	t.Run("completions", func(t *testing.T) {
		resp, err := client.Completions.New(ctx, completionParams)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 1 || strings.TrimSpace(resp.Choices[0].Text) == "" || resp.Usage.CompletionTokens > 16 {
			t.Fatalf("response %s", resp.RawJSON())
		}
		completionText = resp.Choices[0].Text
		t.Logf("completion: %q", completionText)
	})

	t.Run("completions streaming", func(t *testing.T) {
		stream := client.Completions.NewStreaming(ctx, completionParams)
		defer stream.Close()
		var text strings.Builder
		finish := ""
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				text.WriteString(c.Text)
				if c.FinishReason != "" {
					finish = string(c.FinishReason)
				}
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if completionText != "" && text.String() != completionText {
			t.Errorf("streamed %q, unary %q", text.String(), completionText)
		}
		if finish != "stop" && finish != "length" {
			t.Errorf("finish reason %q", finish)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		inputs := []string{"bank: Sloping land beside a body of water.", "They pulled the canoe up on the bank.", "The bank lent them money."}
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "chorus-embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Model != "chorus-embed" || len(resp.Data) != len(inputs) || resp.Usage.PromptTokens == 0 {
			t.Fatalf("response %s", resp.RawJSON())
		}
		vecs := make([][]float64, len(inputs))
		for i, d := range resp.Data {
			var ss float64
			for _, x := range d.Embedding {
				ss += x * x
			}
			if d.Index != int64(i) || len(d.Embedding) < 32 || ss < 0.999 || ss > 1.001 {
				t.Errorf("embedding %d: index %d, %d values, |v|² %.4f", i, d.Index, len(d.Embedding), ss)
			}
			vecs[i] = d.Embedding
		}
		// One string, cut to 16 dimensions, as base64 (the client decodes it).
		one, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model:          "chorus-embed",
			Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String(inputs[0])},
			Dimensions:     openai.Int(16),
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(one.Data) != 1 || len(one.Data[0].Embedding) != 16 {
			t.Fatalf("response %s", one.RawJSON())
		}
		// The cut vector is the full one's first 16 values, re-normalised.
		var ss, dot float64
		for _, x := range vecs[0][:16] {
			ss += x * x
		}
		for j, x := range one.Data[0].Embedding {
			dot += x * vecs[0][j]
		}
		if cos := dot / math.Sqrt(ss); cos < 0.999 {
			t.Errorf("dimensions 16: cosine %.4f with the full vector's first 16 values", cos)
		}
		_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "chorus-embed", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(inputs[0])}, Dimensions: openai.Int(100000),
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Param != "dimensions" {
			t.Errorf("dimensions over the model's: %v", err)
		}
	})

	t.Run("images", func(t *testing.T) {
		resp, err := client.Images.Generate(ctx, openai.ImageGenerateParams{
			Model:          "chorus-pixels",
			Prompt:         "a red kite over the sea",
			N:              openai.Int(2),
			Size:           "256x256",
			ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 {
			t.Fatalf("%d images, want 2", len(resp.Data))
		}
		for i, d := range resp.Data {
			raw, err := base64.StdEncoding.DecodeString(d.B64JSON)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("image %d: %v", i, err)
			}
			if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
				t.Errorf("image %d is %dx%d", i, b.Dx(), b.Dy())
			}
		}
	})

	var wavSeconds float64
	speech := func(t *testing.T, format openai.AudioSpeechNewParamsResponseFormat) (string, []byte) {
		t.Helper()
		resp, err := client.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{
			Model:          "flite",
			Input:          "Hello from Chorus. The sea is calm tonight.",
			Voice:          openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("slt")},
			ResponseFormat: format,
			Speed:          openai.Float(1.0),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("Content-Type"), b
	}
	t.Run("speech wav", func(t *testing.T) {
		ct, b := speech(t, openai.AudioSpeechNewParamsResponseFormatWAV)
		if ct != "audio/wav" || len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
			t.Fatalf("%s, %d bytes: not a WAV", ct, len(b))
		}
		rate := binary.LittleEndian.Uint32(b[24:28])
		wavSeconds = float64(len(b)-44) / 2 / float64(rate)
		if wavSeconds < 1 || wavSeconds > 10 {
			t.Errorf("%.2f s of speech at %d Hz", wavSeconds, rate)
		}
		t.Logf("speech: %.2f s at %d Hz", wavSeconds, rate)
	})
	t.Run("speech pcm", func(t *testing.T) {
		ct, b := speech(t, openai.AudioSpeechNewParamsResponseFormatPCM)
		if ct != "audio/pcm" || len(b)%2 != 0 {
			t.Fatalf("%s, %d bytes", ct, len(b))
		}
		// OpenAI's pcm: 16-bit samples at 24 kHz, the same speech.
		seconds := float64(len(b)) / 2 / 24000
		if wavSeconds > 0 && (seconds < 0.95*wavSeconds || seconds > 1.05*wavSeconds) {
			t.Errorf("pcm is %.2f s, the WAV %.2f s", seconds, wavSeconds)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			name                  string
			params                openai.ChatCompletionNewParams
			status                int
			typ, param, errorCode string
		}{
			{"max_tokens over the limit", openai.ChatCompletionNewParams{Model: "chorus-mini", Messages: chatParams.Messages, MaxTokens: openai.Int(9000)},
				http.StatusBadRequest, "invalid_request_error", "max_tokens", "invalid_argument"},
			{"unknown model", openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: chatParams.Messages},
				http.StatusNotFound, "invalid_request_error", "", "model_not_found"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := client.Chat.Completions.New(ctx, tt.params)
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %v, want an *openai.Error", err)
				}
				if apiErr.StatusCode != tt.status || apiErr.Type != tt.typ || apiErr.Param != tt.param || apiErr.Code != tt.errorCode {
					t.Errorf("got %d %q %q %q (%s), want %d %q %q %q", apiErr.StatusCode, apiErr.Type, apiErr.Param, apiErr.Code, apiErr.Message,
						tt.status, tt.typ, tt.param, tt.errorCode)
				}
			})
		}
	})
}
