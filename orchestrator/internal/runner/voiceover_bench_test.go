package runner

import (
	"fmt"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/wav"
)

// The audio work of one script-then-voiceover run, without its gRPC calls:
// each sentence's segment numbered (withIndex), checked and timed
// (segments.add) and digested as keep does, then the voiceover joined
// (assemble). BenchmarkVoiceoverBefore runs the implementation this
// package had before it was profiled (copied below, for this comparison
// only); `make bench` reports the pair's ratios (bench/README.md).

// voiceoverSentences are the instant script's four sentences (the bench
// harness's Script), voiced by genaitest.Speech: 16 kHz mono, 10 ms a
// character.
var voiceoverSentences = []string{
	"The lighthouse keeper climbs the stairs at dusk.",
	"He trims the wick and polishes the lens until it shines.",
	"Far out at sea a small boat turns toward the light.",
	"By morning the crew is safe in the harbour below.",
}

var voiceoverOutput = &pipeline.Output{Name: "voiceover", MimeType: "audio/wav", Assemble: pipeline.AssembleWAV}

// voiceoverResponses are fresh responses of the audio service, one per
// sentence, as the runner receives them.
func voiceoverResponses() []*genaiv1.GenerateResponse {
	out := make([]*genaiv1.GenerateResponse, len(voiceoverSentences))
	for i, s := range voiceoverSentences {
		out[i] = genaitest.SpeechResponse(&genaiv1.GenerateRequest{Prompt: s})
	}
	return out
}

func BenchmarkVoiceoverBefore(b *testing.B) { benchVoiceover(b, voiceoverBefore) }

func BenchmarkVoiceoverAfter(b *testing.B) { benchVoiceover(b, voiceoverAfter) }

func benchVoiceover(b *testing.B, voice func([]*genaiv1.GenerateResponse) ([]*orchestratorv1.RunOutput, error)) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		resps := voiceoverResponses()
		b.StartTimer()
		if _, err := voice(resps); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVoiceoverBeforeAndAfterAgree checks that the benchmark's two sides
// make the same output, so that the comparison is of equals.
func TestVoiceoverBeforeAndAfterAgree(t *testing.T) {
	before, err := voiceoverBefore(voiceoverResponses())
	if err != nil {
		t.Fatal(err)
	}
	after, err := voiceoverAfter(voiceoverResponses())
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 1 || len(after) != 1 || !proto.Equal(before[0], after[0]) {
		t.Errorf("before and after differ:\n%v\n%v", before, after)
	}
	if d := after[0].GetArtifact().GetMetadata().GetDurationSeconds(); d < 2 {
		t.Errorf("voiceover of %v s, want the four sentences' (over 2 s)", d)
	}
}

// voiceoverAfter is the runner's own code.
func voiceoverAfter(resps []*genaiv1.GenerateResponse) ([]*orchestratorv1.RunOutput, error) {
	var (
		res   result
		audio = segments{bounded: true}
	)
	for i, resp := range resps {
		for _, a := range resp.GetArtifacts() {
			a = withIndex(a, len(res.artifacts))
			if err := audio.add(a, i); err != nil {
				return nil, err
			}
			genai.FillDigest(a)
			res.artifacts = append(res.artifacts, a)
		}
	}
	return assemble(voiceoverOutput, res, true)
}

// voiceoverBefore is the same with the code as it was.
func voiceoverBefore(resps []*genaiv1.GenerateResponse) ([]*orchestratorv1.RunOutput, error) {
	var (
		res   result
		audio segmentsBefore
	)
	for i, resp := range resps {
		for _, a := range resp.GetArtifacts() {
			a = withIndexBefore(a, len(res.artifacts))
			if err := audio.add(a, i); err != nil {
				return nil, err
			}
			genai.FillDigest(a)
			res.artifacts = append(res.artifacts, a)
		}
	}
	return assembleWAVBefore(voiceoverOutput, res)
}

// withIndexBefore is withIndex as it was: a deep copy, data included.
func withIndexBefore(a *genaiv1.Artifact, index int) *genaiv1.Artifact {
	a = proto.Clone(a).(*genaiv1.Artifact)
	if a.Metadata == nil {
		a.Metadata = &genaiv1.ArtifactMetadata{}
	}
	a.Metadata.Index = int32(index)
	return a
}

// segmentsBefore is segments as it was: every segment decoded.
type segmentsBefore struct {
	rate    int
	samples int
	offset  time.Duration
}

func (sg *segmentsBefore) add(a *genaiv1.Artifact, index int) error {
	audio, err := wav.Decode(a.GetData())
	if err != nil {
		return err
	}
	if sg.rate == 0 {
		sg.rate = audio.Rate
	} else if audio.Rate != sg.rate {
		return fmt.Errorf("segment %d is %d Hz, segment 0 is %d Hz", index, audio.Rate, sg.rate)
	}
	sg.samples += len(audio.Samples)
	if wav.EncodedSize(sg.samples) > MaxResultBytes {
		return fmt.Errorf("the voiceover would exceed %d bytes", MaxResultBytes)
	}
	d := audio.Duration()
	a.Metadata.SampleRate = int32(audio.Rate)
	a.Metadata.DurationSeconds = d.Seconds()
	a.Metadata.OffsetSeconds = sg.offset.Seconds()
	sg.offset += d
	return nil
}

// assembleWAVBefore is assemble's "wav" case as it was: every segment
// decoded again, joined, and encoded.
func assembleWAVBefore(o *pipeline.Output, res result) ([]*orchestratorv1.RunOutput, error) {
	segments := make([][]byte, len(res.artifacts))
	for i, a := range res.artifacts {
		segments[i] = a.GetData()
	}
	audio, err := wav.Join(segments)
	if err != nil {
		return nil, err
	}
	if n := wav.EncodedSize(len(audio.Samples)); n > MaxResultBytes {
		return nil, fmt.Errorf("output %s would be %d bytes", o.Name, n)
	}
	a := &genaiv1.Artifact{
		MimeType: o.MimeType,
		Content:  &genaiv1.Artifact_Data{Data: wav.Encode(audio)},
		Metadata: &genaiv1.ArtifactMetadata{DurationSeconds: audio.Duration().Seconds(), SampleRate: int32(audio.Rate)},
	}
	genai.FillDigest(a)
	return []*orchestratorv1.RunOutput{{Name: o.Name, Artifact: a}}, nil
}
