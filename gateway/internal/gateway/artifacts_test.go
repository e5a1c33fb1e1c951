package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// fakeArtifact is the one artifact the fake orchestrator stores: 2.5 MiB,
// so that it travels in several chunks, each byte telling its position.
var fakeArtifact = func() []byte {
	b := make([]byte, 5<<19)
	for i := range b {
		b[i] = byte(i * 7 / 3)
	}
	return b
}()

const fakeArtifactID = "0123456789abcdef0123456789abcdef"

func fakeArtifactSHA() string {
	sum := sha256.Sum256(fakeArtifact)
	return hex.EncodeToString(sum[:])
}

// GetArtifact serves fakeArtifact as the orchestrator does: the info, then
// the bytes from offset (at most limit) in chunks of at most 1 MiB.
func (*fakeOrchestrator) GetArtifact(req *orchestratorv1.GetArtifactRequest, stream grpc.ServerStreamingServer[orchestratorv1.GetArtifactResponse]) error {
	if req.GetId() != fakeArtifactID {
		return rpcerr.New(codes.NotFound, "ARTIFACT_NOT_FOUND", "no such artifact; it may have expired")
	}
	size := int64(len(fakeArtifact))
	off, limit := req.GetOffset(), req.GetLimit()
	if off < 0 || off > size || limit < 0 {
		return rpcerr.Invalid(rpcerr.FieldViolation{Field: "offset", Description: "out of range"})
	}
	if limit == 0 || limit > size-off {
		limit = size - off
	}
	if err := stream.Send(&orchestratorv1.GetArtifactResponse{Part: &orchestratorv1.GetArtifactResponse_Info{Info: &orchestratorv1.ArtifactInfo{
		Id: fakeArtifactID, MimeType: "audio/wav", SizeBytes: size, Sha256: fakeArtifactSHA(),
		CreateTime: timestamppb.New(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)),
	}}}); err != nil {
		return err
	}
	rest := fakeArtifact[off : off+limit]
	for len(rest) > 0 {
		n := min(len(rest), 1<<20)
		if err := stream.Send(&orchestratorv1.GetArtifactResponse{Part: &orchestratorv1.GetArtifactResponse_Chunk{Chunk: rest[:n]}}); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

func TestArtifactsServedWithRanges(t *testing.T) {
	env := newTestServer(t)
	size := len(fakeArtifact)
	etag := strconv.Quote(fakeArtifactSHA())
	path := "/v1/artifacts/" + fakeArtifactID
	for _, tc := range []struct {
		name       string
		header     []string
		wantStatus int
		wantBody   []byte
		wantRange  string
	}{
		{name: "whole", wantStatus: http.StatusOK, wantBody: fakeArtifact},
		{name: "a range", header: []string{"Range", "bytes=100-199"}, wantStatus: http.StatusPartialContent,
			wantBody: fakeArtifact[100:200], wantRange: fmt.Sprintf("bytes 100-199/%d", size)},
		{name: "a range across chunks", header: []string{"Range", fmt.Sprintf("bytes=%d-%d", 1<<20-5, 2<<20+5)}, wantStatus: http.StatusPartialContent,
			wantBody: fakeArtifact[1<<20-5 : 2<<20+6], wantRange: fmt.Sprintf("bytes %d-%d/%d", 1<<20-5, 2<<20+5, size)},
		{name: "the last bytes", header: []string{"Range", "bytes=-10"}, wantStatus: http.StatusPartialContent,
			wantBody: fakeArtifact[size-10:], wantRange: fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size)},
		{name: "open-ended", header: []string{"Range", fmt.Sprintf("bytes=%d-", size-3)}, wantStatus: http.StatusPartialContent,
			wantBody: fakeArtifact[size-3:], wantRange: fmt.Sprintf("bytes %d-%d/%d", size-3, size-1, size)},
		{name: "beyond the end", header: []string{"Range", fmt.Sprintf("bytes=%d-", size+1)}, wantStatus: http.StatusRequestedRangeNotSatisfiable},
		{name: "unchanged", header: []string{"If-None-Match", etag}, wantStatus: http.StatusNotModified},
		{name: "range if unchanged", header: []string{"Range", "bytes=0-9", "If-Range", etag}, wantStatus: http.StatusPartialContent,
			wantBody: fakeArtifact[:10], wantRange: fmt.Sprintf("bytes 0-9/%d", size)},
		{name: "range if changed", header: []string{"Range", "bytes=0-9", "If-Range", `"other"`}, wantStatus: http.StatusOK, wantBody: fakeArtifact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.do(t, http.MethodGet, path, "", tc.header...)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			// net/http drops the validators from error responses (416).
			if got := resp.Header.Get("ETag"); got != etag && tc.wantStatus < 400 {
				t.Errorf("ETag %q, want %q", got, etag)
			}
			if tc.wantBody == nil {
				return
			}
			if !bytes.Equal(body, tc.wantBody) {
				t.Errorf("body of %d bytes differs from the %d expected", len(body), len(tc.wantBody))
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(tc.wantBody)) {
				t.Errorf("Content-Length %q, want %d", got, len(tc.wantBody))
			}
			if got := resp.Header.Get("Content-Type"); got != "audio/wav" {
				t.Errorf("Content-Type %q", got)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.wantRange {
				t.Errorf("Content-Range %q, want %q", got, tc.wantRange)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		resp, body := env.do(t, http.MethodGet, "/v1/artifacts/ffffffffffffffffffffffffffffffff", "")
		if resp.StatusCode != http.StatusNotFound || decodeError(t, body).reason() != "ARTIFACT_NOT_FOUND" {
			t.Fatalf("status %d, body %s", resp.StatusCode, body)
		}
	})
}
