package runner

import (
	"fmt"
	"strings"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// Background music sits MusicLevelDB under the voice (RMS), faded in and
// out over MusicFade: clearly there, never in the way of the words.
const (
	MusicLevelDB = -16.0
	MusicFade    = 1500 * time.Millisecond
)

// bed is the WAV of the output's music step: nil when it names none, or
// the step was skipped or returned no WAV.
func (r *run) bed(o *pipeline.Output) []byte {
	if o.Music == "" {
		return nil
	}
	for _, a := range r.states[o.Music].res.artifacts {
		if strings.HasPrefix(a.GetMimeType(), "audio/wav") || strings.HasPrefix(a.GetMimeType(), "audio/x-wav") {
			return a.GetData()
		}
	}
	return nil
}

// withBed mixes bed (a WAV) under audio, keeping audio's rate and length.
func withBed(o *pipeline.Output, audio wav.Audio, bed []byte) (wav.Audio, error) {
	if bed == nil {
		return audio, nil
	}
	music, err := wav.Decode(bed)
	if err != nil {
		return audio, rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf("output %s: the music is not a usable WAV: %v", o.Name, err)).WithCause(err)
	}
	return wav.Underlay(audio, music, MusicLevelDB, MusicFade), nil
}

// underlay mixes bed under the WAV of an assembled "wav" output.
func underlay(o *pipeline.Output, outs []*orchestratorv1.RunOutput, bed []byte) error {
	if bed == nil || len(outs) != 1 {
		return nil
	}
	a := outs[0].GetArtifact()
	voice, err := wav.Decode(a.GetData())
	if err != nil {
		return rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf("output %s: %v", o.Name, err)).WithCause(err)
	}
	mixed, err := withBed(o, voice, bed)
	if err != nil {
		return err
	}
	a.Content = &genaiv1.Artifact_Data{Data: wav.Encode(mixed)}
	a.SizeBytes, a.Sha256 = 0, ""
	genai.FillDigest(a)
	return nil
}
