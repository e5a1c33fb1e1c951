package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/orchestrator/internal/video"
	"github.com/chorus-ai/chorus/orchestrator/internal/webvtt"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// assemble makes one declared output from its step's result. bounded says
// that outputs must fit in one gRPC message (there is no artifact store).
func assemble(o *pipeline.Output, res result, bounded bool) ([]*orchestratorv1.RunOutput, error) {
	one := func(a *genaiv1.Artifact) []*orchestratorv1.RunOutput {
		genai.FillDigest(a)
		return []*orchestratorv1.RunOutput{{Name: o.Name, Artifact: a}}
	}
	switch o.Assemble {
	case pipeline.AssembleText:
		return one(&genaiv1.Artifact{MimeType: o.MimeType, Content: &genaiv1.Artifact_Text{Text: res.text}}), nil
	case pipeline.AssembleWAV:
		if len(res.artifacts) == 0 {
			return nil, rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf("output %s has no audio: the step it is made from produced no sentences to voice", o.Name))
		}
		segments := make([][]byte, len(res.artifacts))
		for i, a := range res.artifacts {
			segments[i] = a.GetData()
		}
		// Joined as they are, not decoded: segments.add checked each.
		data, audio, err := wav.JoinEncoded(segments)
		if err != nil {
			return nil, rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf("output %s: the audio segments cannot be joined into one WAV: %v", o.Name, err)).WithCause(err)
		}
		if n := len(data); bounded && n > MaxResultBytes {
			return nil, tooLarge(fmt.Sprintf("output %s would be %d bytes, over the %d-byte limit of one gRPC message; lower max_tokens", o.Name, n, MaxResultBytes))
		}
		return one(&genaiv1.Artifact{
			MimeType: o.MimeType,
			Content:  &genaiv1.Artifact_Data{Data: data},
			Metadata: &genaiv1.ArtifactMetadata{DurationSeconds: audio.Duration().Seconds(), SampleRate: int32(audio.Rate)},
		}), nil
	case pipeline.AssembleWebVTT:
		return one(&genaiv1.Artifact{MimeType: o.MimeType, Content: &genaiv1.Artifact_Text{Text: captions(res)}}), nil
	case pipeline.AssembleEach:
		out := make([]*orchestratorv1.RunOutput, 0, len(res.artifacts))
		for i, a := range res.artifacts {
			out = append(out, &orchestratorv1.RunOutput{Name: fmt.Sprintf("%s[%d]", o.Name, i), Artifact: a})
		}
		return out, nil
	}
	return nil, rpcerr.New(codes.Internal, ReasonPipeline, fmt.Sprintf("output %s: unknown assembly %q", o.Name, o.Assemble)).WithCause(errors.ErrUnsupported)
}

// captions are WebVTT captions of an audio step's segments.
func captions(res result) string {
	cues := make([]webvtt.Cue, 0, len(res.artifacts))
	for _, a := range res.artifacts {
		md := a.GetMetadata()
		start := seconds(md.GetOffsetSeconds())
		cues = append(cues, webvtt.Cue{Start: start, End: start + seconds(md.GetDurationSeconds()), Text: md.GetSourceText()})
	}
	return webvtt.Format(cues)
}

// slideshow makes an "mp4" output: image i shown for as long as audio
// segment i lasts, over the segments joined, with captions as subtitles.
func slideshow(ctx context.Context, o *pipeline.Output, narration, images result, bed []byte) ([]*orchestratorv1.RunOutput, error) {
	if len(images.artifacts) != len(narration.artifacts) || len(images.artifacts) == 0 {
		return nil, rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf(
			"output %s: %d images for %d audio segments; a slideshow needs one image per segment", o.Name, len(images.artifacts), len(narration.artifacts)))
	}
	segments := make([][]byte, len(narration.artifacts))
	slides := make([]video.Slide, len(narration.artifacts))
	for i, a := range narration.artifacts {
		segments[i] = a.GetData()
		slides[i] = video.Slide{Image: images.artifacts[i].GetData(), Duration: seconds(a.GetMetadata().GetDurationSeconds())}
	}
	audio, err := wav.Join(segments)
	if err != nil {
		return nil, rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf("output %s: the audio segments cannot be joined into one WAV: %v", o.Name, err)).WithCause(err)
	}
	if audio, err = withBed(o, audio, bed); err != nil {
		return nil, err
	}
	mp4, err := video.Slideshow(ctx, slides, wav.Encode(audio), captions(narration))
	switch {
	case errors.Is(err, video.ErrNoFFmpeg):
		return nil, rpcerr.New(codes.FailedPrecondition, ReasonPipeline, fmt.Sprintf("output %s: this orchestrator's machine has no ffmpeg to make the video", o.Name)).WithCause(err)
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, rpcerr.New(codes.Internal, ReasonPipeline, fmt.Sprintf("output %s: making the video failed", o.Name)).WithCause(err)
	}
	a := &genaiv1.Artifact{MimeType: o.MimeType, Content: &genaiv1.Artifact_Data{Data: mp4},
		Metadata: &genaiv1.ArtifactMetadata{DurationSeconds: audio.Duration().Seconds(), Width: video.Width, Height: video.Height}}
	genai.FillDigest(a)
	return []*orchestratorv1.RunOutput{{Name: o.Name, Artifact: a}}, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
