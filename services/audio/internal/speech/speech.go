// Package speech turns a GenerateRequest into speech sentence by sentence,
// for any engine that can voice one sentence: it splits the prompt,
// streams one WAV artifact per sentence, resamples, and assembles the
// response.
package speech

import (
	"context"
	"fmt"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/sentence"
	"github.com/chorus-ai/chorus/platform/wav"
)

// MimeType is the type of every artifact the audio service returns.
const MimeType = "audio/wav"

// MaxArtifactBytes bounds one streamed sentence's WAV: what a client
// reassembling it accepts by default (genai.MaxArtifactBytes, over six
// minutes at 48 kHz). The handler sends a sentence over genai.PartBytes in
// parts, so one long sentence is not limited by gRPC's message size; a
// unary call's whole WAV still is (genai.MaxUnaryResponseBytes).
const MaxArtifactBytes = genai.MaxArtifactBytes

// Options are what an engine needs to voice a sentence.
type Options struct {
	// Voice is the engine's voice name, already checked by the backend.
	Voice string
	// Speed is the speaking rate relative to normal, 1 when unset.
	Speed float64
}

// SynthFunc voices one sentence at the engine's own sample rate. It must
// return promptly once ctx is done.
type SynthFunc func(ctx context.Context, text string, opts Options) (wav.Audio, error)

// Generate voices req's prompt with synth, one sentence at a time. Each
// sentence is emitted as soon as it is ready, as a complete WAV artifact
// with its index, text, offset and duration; the returned response holds
// the whole speech as one WAV. Cancellation is checked between sentences.
//
// The whole WAV of a long prompt can exceed what a unary response may
// carry (genai.MaxUnaryResponseBytes); a unary call then fails with RESOURCE_EXHAUSTED (reason
// RESPONSE_TOO_LARGE, as the handler would) as soon as that is known,
// before the rest is synthesised. A streaming call has no such
// limit, since the handler drops the whole WAV once segments were
// streamed; it is then not assembled at all.
func Generate(ctx context.Context, req *genaiv1.GenerateRequest, voice string, synth SynthFunc, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	sentences := sentence.Split(req.GetPrompt())
	if len(sentences) == 0 {
		return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "prompt", Description: "has no words to speak"})
	}
	opts := Options{Voice: voice, Speed: 1}
	if s := req.GetAudio().GetSpeed(); s != 0 {
		opts.Speed = float64(s)
	}
	rate := int(req.GetAudio().GetSampleRate())
	streaming := genai.Streaming(ctx)

	var (
		parts   []wav.Audio // kept for the whole WAV of a unary call
		outRate int         // of the first sentence; the rest must match
		samples int         // so far, at outRate
		total   int         // bytes of the whole WAV so far
	)
	for i, text := range sentences {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := synth(ctx, text, opts)
		if err != nil {
			return nil, err
		}
		if rate != 0 {
			a = wav.Resample(a, rate)
		}
		if i == 0 {
			outRate = a.Rate
		}
		if a.Rate != outRate || a.Rate <= 0 {
			return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the voice changed sample rate mid-utterance").
				WithCause(fmt.Errorf("speech: sentence %d at %d Hz, first at %d Hz", i, a.Rate, outRate))
		}
		data := wav.Encode(a)
		if len(data) > MaxArtifactBytes {
			return nil, tooLarge(fmt.Sprintf("sentence %d alone would be %d bytes of WAV, over the %d one artifact may be; raise audio.speed, lower audio.sample_rate or shorten the sentence", i+1, len(data), MaxArtifactBytes))
		}
		total += len(data) - 44
		if !streaming && total+44 > genai.MaxUnaryResponseBytes {
			return nil, tooLarge(fmt.Sprintf("the speech would exceed the %d bytes of WAV a unary response may carry; use StreamGenerate (one artifact per sentence, large ones in parts), a shorter prompt, a higher audio.speed or a lower audio.sample_rate", genai.MaxUnaryResponseBytes))
		}
		seg := &genaiv1.Artifact{
			MimeType: MimeType,
			Content:  &genaiv1.Artifact_Data{Data: data},
			Metadata: &genaiv1.ArtifactMetadata{
				DurationSeconds: a.Seconds(),
				SampleRate:      int32(a.Rate),
				Index:           int32(i),
				SourceText:      text,
				OffsetSeconds:   float64(samples) / float64(a.Rate),
			},
		}
		genai.FillDigest(seg)
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: seg}}); err != nil {
			return nil, err
		}
		samples += len(a.Samples)
		if !streaming {
			parts = append(parts, a)
		}
	}

	seconds := float64(samples) / float64(outRate)
	resp := &genaiv1.GenerateResponse{
		Model: req.GetModel(),
		Usage: &genaiv1.Usage{
			AudioSeconds:    seconds,
			InputCharacters: int32(utf8.RuneCountInString(req.GetPrompt())),
		},
		FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP,
	}
	if !streaming {
		whole, err := wav.Concat(parts...)
		if err != nil {
			return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "assembling the speech failed").WithCause(err)
		}
		resp.Artifacts = []*genaiv1.Artifact{{
			MimeType: MimeType,
			Content:  &genaiv1.Artifact_Data{Data: wav.Encode(whole)},
			Metadata: &genaiv1.ArtifactMetadata{DurationSeconds: seconds, SampleRate: int32(outRate)},
		}}
	}
	return resp, nil
}

func tooLarge(msg string) *rpcerr.Error {
	return rpcerr.New(codes.ResourceExhausted, genai.ReasonResponseTooLarge, msg).WithMetadata("subject", "response_bytes")
}
