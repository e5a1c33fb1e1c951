package genai_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// fakeArtifactBackend is a test-only backend returning artifacts of the
// given sizes filled with seeded random bytes, emitting them as it goes
// when emit is set (as the audio service does) or only returning them (as
// the image service does).
type fakeArtifactBackend struct {
	sizes []int
	emit  bool
}

func (b *fakeArtifactBackend) Models() []*genaiv1.Model { return []*genaiv1.Model{{Name: "parts"}} }

func (b *fakeArtifactBackend) Generate(_ context.Context, _ *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	resp := &genaiv1.GenerateResponse{}
	for i, a := range fakeArtifacts(b.sizes) {
		if b.emit {
			if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
				return nil, err
			}
			if i == 0 {
				_ = emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Progress{Progress: &genaiv1.Progress{Step: 1, Total: 2}}})
			}
		}
		resp.Artifacts = append(resp.Artifacts, a)
	}
	return resp, nil
}

func fakeArtifacts(sizes []int) []*genaiv1.Artifact {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []*genaiv1.Artifact
	for i, n := range sizes {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		out = append(out, &genaiv1.Artifact{MimeType: "application/octet-stream", Content: &genaiv1.Artifact_Data{Data: data},
			Metadata: &genaiv1.ArtifactMetadata{Index: int32(i), SampleRate: 44100}})
	}
	return out
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestArtifactsTravelInParts(t *testing.T) {
	sizes := []int{5<<20 + 17, 1000, genai.PartBytes, genai.PartBytes + 1}
	want := fakeArtifacts(sizes)
	tests := []struct {
		name string
		emit bool
	}{
		{name: "emitted by the backend", emit: true},
		{name: "returned in done", emit: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := genaiv1.NewAudioServiceClient(newTestServer(t, newHandler(t, genai.Audio,
				genai.Route{Backend: &fakeArtifactBackend{sizes: sizes, emit: tt.emit}})))

			// On the wire: no message carries more than PartBytes of
			// content, and the parts of each artifact are consecutive.
			var parts, wholes int
			for _, c := range collect(t, client, &genaiv1.GenerateRequest{Prompt: "x"}) {
				if p := c.GetArtifactPart(); p != nil {
					parts++
					if len(p.GetChunk()) > genai.PartBytes {
						t.Errorf("a part carries %d bytes", len(p.GetChunk()))
					}
				}
				if c.GetArtifact() != nil {
					wholes++
				}
				if d := c.GetDone(); d != nil && len(d.GetArtifacts()) != 0 {
					t.Errorf("done repeats %d artifacts already streamed", len(d.GetArtifacts()))
				}
			}
			if parts != 6+2 || wholes != 2 {
				t.Errorf("stream has %d parts and %d whole artifacts, want 8 and 2", parts, wholes)
			}

			// Through Collect: every artifact whole, in order.
			resp, err := genai.Collect(context.Background(), client, &genaiv1.GenerateRequest{Prompt: "x"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetArtifacts()) != len(want) {
				t.Fatalf("Collect gave %d artifacts, want %d", len(resp.GetArtifacts()), len(want))
			}
			for i, a := range resp.GetArtifacts() {
				w := want[i].GetData()
				if !bytes.Equal(a.GetData(), w) || a.GetSha256() != digest(w) || a.GetSizeBytes() != int64(len(w)) {
					t.Errorf("artifact %d: %d bytes sha256 %.12s (size %d), want %d bytes %.12s", i, len(a.GetData()), a.GetSha256(), a.GetSizeBytes(), len(w), digest(w))
				}
				if a.GetMimeType() != "application/octet-stream" || a.GetMetadata().GetIndex() != int32(i) || a.GetMetadata().GetSampleRate() != 44100 {
					t.Errorf("artifact %d lost its description: %v", i, a.GetMetadata())
				}
			}
		})
	}
}

// fakeSpeechBackend is a test-only backend that emits one WAV segment per
// entry of seconds, as the audio service streams sentences.
type fakeSpeechBackend struct{ seconds []int }

func (b *fakeSpeechBackend) Models() []*genaiv1.Model { return []*genaiv1.Model{{Name: "speech"}} }

func (b *fakeSpeechBackend) Generate(_ context.Context, _ *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	for i, s := range b.seconds {
		a := wav.Audio{Rate: 44100, Samples: make([]int16, s*44100)}
		for j := range a.Samples {
			a.Samples[j] = int16(j*(i+1)) % 8000
		}
		err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: &genaiv1.Artifact{
			MimeType: "audio/wav", Content: &genaiv1.Artifact_Data{Data: wav.Encode(a)},
			Metadata: &genaiv1.ArtifactMetadata{Index: int32(i), SourceText: fmt.Sprintf("S%d.", i)},
		}}})
		if err != nil {
			return nil, err
		}
	}
	return &genaiv1.GenerateResponse{}, nil
}

func TestCollectJoinsSpeech(t *testing.T) {
	client := genaiv1.NewAudioServiceClient(newTestServer(t, newHandler(t, genai.Audio,
		genai.Route{Backend: &fakeSpeechBackend{seconds: []int{50, 1, 20}}})))
	resp, err := genai.Collect(context.Background(), client, &genaiv1.GenerateRequest{Prompt: "x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetArtifacts()) != 1 {
		t.Fatalf("Collect gave %d artifacts, want the one joined WAV", len(resp.GetArtifacts()))
	}
	a := resp.GetArtifacts()[0]
	audio, err := wav.Decode(a.GetData())
	if err != nil {
		t.Fatal(err)
	}
	md := a.GetMetadata()
	if len(audio.Samples) != 71*44100 || md.GetDurationSeconds() != 71 || md.GetSampleRate() != 44100 || md.GetSourceText() != "S0. S1. S2." {
		t.Fatalf("joined WAV: %d samples, metadata %v; want 71 s at 44100 Hz voicing all three", len(audio.Samples), md)
	}
	if a.GetSha256() != digest(a.GetData()) || a.GetSizeBytes() != int64(len(a.GetData())) || a.GetSizeBytes() <= 4<<20 {
		t.Fatalf("joined WAV of %d bytes has size %d and sha256 %s", len(a.GetData()), a.GetSizeBytes(), a.GetSha256())
	}
}

func TestCollectBound(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
	}{
		{name: "one artifact over the bound", sizes: []int{3 << 20}},
		{name: "small artifacts over the bound in all", sizes: []int{900 << 10, 900 << 10, 900 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := genaiv1.NewAudioServiceClient(newTestServer(t, newHandler(t, genai.Audio,
				genai.Route{Backend: &fakeArtifactBackend{sizes: tt.sizes, emit: true}})))
			_, err := genai.Collect(context.Background(), client, &genaiv1.GenerateRequest{Prompt: "x"}, 2<<20)
			st := status.Convert(err)
			if reason, _ := rpcerr.Details(st); st.Code() != codes.ResourceExhausted || reason != genai.ReasonArtifactTooLarge {
				t.Fatalf("Collect bounded at 2 MiB = %v, want RESOURCE_EXHAUSTED %s", err, genai.ReasonArtifactTooLarge)
			}
		})
	}
}

// fakeStream is a test-only client stream replaying chunks, then io.EOF.
type fakeStream struct {
	grpc.ClientStream
	chunks []*genaiv1.GenerateChunk
}

func (s *fakeStream) Recv() (*genaiv1.GenerateChunk, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func part(info *genaiv1.Artifact, offset int64, chunk []byte) *genaiv1.GenerateChunk {
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_ArtifactPart{ArtifactPart: &genaiv1.ArtifactPart{Info: info, Offset: offset, Chunk: chunk}}}
}

func TestReassembleRejectsBrokenParts(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 30)
	info := func(size int, sum string) *genaiv1.Artifact {
		return &genaiv1.Artifact{MimeType: "image/png", SizeBytes: int64(size), Sha256: sum}
	}
	good := info(len(data), digest(data))
	progress := &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Progress{Progress: &genaiv1.Progress{}}}
	tests := []struct {
		name       string
		chunks     []*genaiv1.GenerateChunk
		max        int64
		wantCode   codes.Code
		wantReason string
	}{
		{name: "whole", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100]), part(nil, 100, data[100:200]), part(nil, 200, data[200:])}},
		{name: "missing part", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100]), part(nil, 200, data[200:])},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "parts swapped", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100]), part(nil, 200, data[200:]), part(nil, 100, data[100:200])},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "corrupt part", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100]), part(nil, 100, bytes.Repeat([]byte("x"), 200))},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "sha256 mismatch", chunks: []*genaiv1.GenerateChunk{part(info(len(data), digest(data[1:])), 0, data)},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "cut short", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100])},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "another chunk between parts", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100]), progress, part(nil, 100, data[100:])},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "new artifact before the last ends", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100]), part(good, 100, data[100:])},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "parts past the size", chunks: []*genaiv1.GenerateChunk{part(info(100, digest(data[:100])), 0, data)},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "part without info", chunks: []*genaiv1.GenerateChunk{part(nil, 0, data)},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "no digest", chunks: []*genaiv1.GenerateChunk{part(info(len(data), ""), 0, data)},
			wantCode: codes.Internal, wantReason: genai.ReasonBrokenArtifact},
		{name: "over the bound", chunks: []*genaiv1.GenerateChunk{part(good, 0, data[:100])}, max: 299,
			wantCode: codes.ResourceExhausted, wantReason: genai.ReasonArtifactTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := genai.Reassemble(&fakeStream{chunks: tt.chunks}, tt.max)
			c, err := s.Recv()
			if tt.wantCode == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				if a := c.GetArtifact(); !bytes.Equal(a.GetData(), data) || a.GetMimeType() != "image/png" {
					t.Fatalf("reassembled %d bytes of %q, want %d of image/png", len(a.GetData()), a.GetMimeType(), len(data))
				}
				if _, err := s.Recv(); !errors.Is(err, io.EOF) {
					t.Fatalf("after the artifact: %v, want io.EOF", err)
				}
				return
			}
			st := status.Convert(err)
			if reason, _ := rpcerr.Details(st); st.Code() != tt.wantCode || reason != tt.wantReason {
				t.Fatalf("Recv = %v, want %s %s", err, tt.wantCode, tt.wantReason)
			}
		})
	}
}

// cancelAfterFirst is a test-only stream wrapper that cancels the call once
// the first chunk has arrived.
type cancelAfterFirst struct {
	grpc.ServerStreamingClient[genaiv1.GenerateChunk]
	cancel context.CancelFunc
}

func (s *cancelAfterFirst) Recv() (*genaiv1.GenerateChunk, error) {
	c, err := s.ServerStreamingClient.Recv()
	s.cancel()
	return c, err
}

func TestCancelMidArtifact(t *testing.T) {
	client := genaiv1.NewAudioServiceClient(newTestServer(t, newHandler(t, genai.Audio,
		genai.Route{Backend: &fakeArtifactBackend{sizes: []int{16 << 20}, emit: true}})))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	raw, err := client.StreamGenerate(ctx, &genaiv1.GenerateRequest{Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = genai.Reassemble(&cancelAfterFirst{ServerStreamingClient: raw, cancel: cancel}, 0).Recv()
	if status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancelling mid-artifact = %v, want Canceled", err)
	}
	// goleak (TestMain) checks that the server's and client's goroutines end.
}
