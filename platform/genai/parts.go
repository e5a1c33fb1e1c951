package genai

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// Large artifacts travel over StreamGenerate as ArtifactPart chunks (see
// the proto's GenerateChunk): the handler splits them on the way out, so
// backends emit and return whole artifacts, and Reassemble joins them on the
// way in, so consumers see whole artifacts too.

// PartBytes is the most content bytes one ArtifactPart carries; an artifact
// whose inline data is over it is streamed in parts. It matches the
// orchestrator's GetArtifact chunks.
const PartBytes = 1 << 20

// MaxArtifactBytes is the largest artifact Reassemble accepts unless told
// otherwise: room for five minutes of 48 kHz stereo WAV or a 2048x2048 PNG,
// and a bound on what one stream can make a client hold.
const MaxArtifactBytes = 64 << 20

// ReasonBrokenArtifact is the ErrorInfo reason when a stream's artifact parts
// do not make a whole artifact: out of order, cut short, or not matching
// their size or sha256.
const ReasonBrokenArtifact = "BROKEN_ARTIFACT_STREAM"

// ReasonArtifactTooLarge is the ErrorInfo reason when a streamed artifact is
// over the receiver's bound.
const ReasonArtifactTooLarge = "ARTIFACT_TOO_LARGE"

// sendArtifact sends a as one artifact chunk, or, when its inline data is
// over PartBytes, as consecutive ArtifactPart chunks: the first with a's
// description and digest, every one with the next PartBytes of data.
func sendArtifact(send func(*genaiv1.GenerateChunk) error, a *genaiv1.Artifact) error {
	data := a.GetData()
	if len(data) <= PartBytes {
		return send(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}})
	}
	sum := sha256.Sum256(data)
	info := &genaiv1.Artifact{MimeType: a.GetMimeType(), SizeBytes: int64(len(data)), Sha256: hex.EncodeToString(sum[:]), Metadata: a.GetMetadata()}
	for off := 0; off < len(data); off += PartBytes {
		part := &genaiv1.ArtifactPart{Offset: int64(off), Chunk: data[off:min(off+PartBytes, len(data))]}
		if off == 0 {
			part.Info = info
		}
		if err := send(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_ArtifactPart{ArtifactPart: part}}); err != nil {
			return err
		}
	}
	return nil
}

// SendResponse ends a StreamGenerate stream with resp as its done chunk;
// when any of resp's artifacts is over PartBytes, all of them are sent
// ahead of done, in order (that one in parts), and done carries none.
func SendResponse(send func(*genaiv1.GenerateChunk) error, resp *genaiv1.GenerateResponse) error {
	if slices.ContainsFunc(resp.GetArtifacts(), func(a *genaiv1.Artifact) bool { return len(a.GetData()) > PartBytes }) {
		for _, a := range resp.GetArtifacts() {
			if err := sendArtifact(send, withDigest(a)); err != nil {
				return err
			}
		}
		resp = proto.Clone(resp).(*genaiv1.GenerateResponse)
		resp.Artifacts = nil
	}
	return send(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Done{Done: resp}})
}

// withDigest returns a with its size and sha256 filled in (FillDigest), a
// itself when they are there, else a shallow copy: the content is shared,
// not copied, and a is left as the backend made it.
func withDigest(a *genaiv1.Artifact) *genaiv1.Artifact {
	if a.GetSha256() != "" && a.GetSizeBytes() != 0 {
		return a
	}
	c := &genaiv1.Artifact{MimeType: a.GetMimeType(), Content: a.GetContent(), SizeBytes: a.GetSizeBytes(), Sha256: a.GetSha256(), Metadata: a.GetMetadata()}
	FillDigest(c)
	return c
}

// Reassemble wraps a StreamGenerate client stream so that Recv returns each
// artifact sent in parts as one whole artifact chunk, once its size and
// sha256 are checked; every other chunk passes through unchanged. An
// artifact over maxBytes (MaxArtifactBytes when 0) fails with
// RESOURCE_EXHAUSTED before its bytes are held; parts that do not make a
// whole artifact fail with INTERNAL (ReasonBrokenArtifact). Use Recv, not
// RecvMsg, on the result.
func Reassemble(s grpc.ServerStreamingClient[genaiv1.GenerateChunk], maxBytes int64) grpc.ServerStreamingClient[genaiv1.GenerateChunk] {
	if maxBytes <= 0 {
		maxBytes = MaxArtifactBytes
	}
	return &reassembler{ServerStreamingClient: s, max: maxBytes}
}

type reassembler struct {
	grpc.ServerStreamingClient[genaiv1.GenerateChunk]
	max int64
}

func (r *reassembler) Recv() (*genaiv1.GenerateChunk, error) {
	c, err := r.ServerStreamingClient.Recv()
	if err != nil {
		return nil, err
	}
	first := c.GetArtifactPart()
	if first == nil {
		return c, nil
	}
	info := first.GetInfo()
	if info == nil || first.GetOffset() != 0 {
		return nil, broken(fmt.Sprintf("a part at offset %d came with no artifact begun", first.GetOffset()))
	}
	size := info.GetSizeBytes()
	switch {
	case size > r.max:
		return nil, rpcerr.New(codes.ResourceExhausted, ReasonArtifactTooLarge,
			fmt.Sprintf("a streamed %s artifact is %d bytes, over the %d this client accepts", info.GetMimeType(), size, r.max)).
			WithMetadata("subject", "artifact_bytes")
	case size <= 0 || len(info.GetSha256()) != 2*sha256.Size:
		return nil, broken(fmt.Sprintf("the first part gives size %d and sha256 %q", size, rpcerr.Clip(info.GetSha256(), 64)))
	}
	data := make([]byte, 0, size)
	for part := first; ; {
		if part.GetOffset() != int64(len(data)) {
			return nil, broken(fmt.Sprintf("a part starts at offset %d where %d was expected", part.GetOffset(), len(data)))
		}
		if part != first && part.GetInfo() != nil {
			return nil, broken(fmt.Sprintf("a new artifact began at offset %d of one of %d bytes", len(data), size))
		}
		if int64(len(data)+len(part.GetChunk())) > size {
			return nil, broken(fmt.Sprintf("the parts run past the artifact's %d bytes", size))
		}
		data = append(data, part.GetChunk()...)
		if int64(len(data)) == size {
			break
		}
		c, err := r.ServerStreamingClient.Recv()
		if errors.Is(err, io.EOF) {
			return nil, broken(fmt.Sprintf("the stream ended %d bytes into an artifact of %d", len(data), size))
		}
		if err != nil {
			return nil, err
		}
		if part = c.GetArtifactPart(); part == nil {
			return nil, broken(fmt.Sprintf("another chunk came %d bytes into an artifact of %d", len(data), size))
		}
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, info.GetSha256()) {
		return nil, broken(fmt.Sprintf("the artifact's %d bytes have sha256 %s, not the %s announced", size, got, info.GetSha256()))
	}
	a := proto.Clone(info).(*genaiv1.Artifact)
	a.Content = &genaiv1.Artifact_Data{Data: data}
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}, nil
}

func broken(msg string) *rpcerr.Error {
	return rpcerr.New(codes.Internal, ReasonBrokenArtifact, "broken artifact stream: "+msg)
}

// Collect makes one StreamGenerate call and returns its whole result as
// Generate would, without Generate's MaxUnaryResponseBytes bound: the
// streamed artifacts, reassembled, followed by those of the done chunk, at
// most maxBytes (MaxArtifactBytes when 0) in all, beyond which it fails with
// RESOURCE_EXHAUSTED. Several streamed WAV segments (the audio service's
// sentences) are joined into one WAV, the one audio file Generate returns.
// Text deltas and progress are dropped; the text stays whole in done's
// artifacts.
func Collect(ctx context.Context, client Client, req *genaiv1.GenerateRequest, maxBytes int64) (*genaiv1.GenerateResponse, error) {
	if maxBytes <= 0 {
		maxBytes = MaxArtifactBytes
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := client.StreamGenerate(ctx, req)
	if err != nil {
		return nil, err
	}
	stream := Reassemble(s, maxBytes)
	var (
		streamed []*genaiv1.Artifact
		total    int64
	)
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, broken("the stream ended without a final chunk")
		}
		if err != nil {
			return nil, err
		}
		switch c := c.GetChunk().(type) {
		case *genaiv1.GenerateChunk_Artifact:
			if total += int64(proto.Size(c.Artifact)); total > maxBytes {
				return nil, tooMuch(total, maxBytes)
			}
			streamed = append(streamed, c.Artifact)
		case *genaiv1.GenerateChunk_Done:
			resp := c.Done
			if total += int64(proto.Size(resp)); total > maxBytes {
				return nil, tooMuch(total, maxBytes)
			}
			if len(streamed) > 1 && allWAV(streamed) {
				whole, err := JoinWAV(streamed)
				if err != nil {
					return nil, err
				}
				streamed = []*genaiv1.Artifact{whole}
			}
			resp.Artifacts = append(streamed, resp.GetArtifacts()...)
			return resp, nil
		}
	}
}

func tooMuch(n, maxBytes int64) *rpcerr.Error {
	return rpcerr.New(codes.ResourceExhausted, ReasonArtifactTooLarge,
		fmt.Sprintf("the streamed result comes to more than %d bytes (%d so far), over the %d this client accepts", maxBytes, n, maxBytes)).
		WithMetadata("subject", "artifact_bytes")
}

func allWAV(arts []*genaiv1.Artifact) bool {
	for _, a := range arts {
		if a.GetMimeType() != "audio/wav" || a.GetData() == nil {
			return false
		}
	}
	return true
}

// JoinWAV joins WAV segments of one sample rate, in order, into one WAV
// artifact: the audio service's streamed sentences into the one file its
// Generate returns, with the duration, sample rate and source texts of the
// whole. Segments that are not WAV of one rate fail with INTERNAL.
func JoinWAV(segments []*genaiv1.Artifact) (*genaiv1.Artifact, error) {
	raw := make([][]byte, len(segments))
	texts := make([]string, 0, len(segments))
	for i, a := range segments {
		raw[i] = a.GetData()
		if t := a.GetMetadata().GetSourceText(); t != "" {
			texts = append(texts, t)
		}
	}
	audio, err := wav.Join(raw)
	if err != nil {
		return nil, rpcerr.New(codes.Internal, ReasonBrokenArtifact, "the streamed WAV segments cannot be joined").WithCause(err)
	}
	a := &genaiv1.Artifact{MimeType: "audio/wav", Content: &genaiv1.Artifact_Data{Data: wav.Encode(audio)}, Metadata: &genaiv1.ArtifactMetadata{
		DurationSeconds: audio.Seconds(), SampleRate: int32(audio.Rate), SourceText: strings.Join(texts, " "),
	}}
	FillDigest(a)
	return a, nil
}
