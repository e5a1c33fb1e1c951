package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// The orchestrator's job and artifact methods, with the same policy as its
// others (see upstream.go).

func (c *orchestratorClient) CreateJob(ctx context.Context, in *orchestratorv1.CreateJobRequest, opts ...grpc.CallOption) (*orchestratorv1.CreateJobResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.CreateJob, in, opts)
}

func (c *orchestratorClient) GetJob(ctx context.Context, in *orchestratorv1.GetJobRequest, opts ...grpc.CallOption) (*orchestratorv1.GetJobResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.GetJob, in, opts)
}

func (c *orchestratorClient) ListJobs(ctx context.Context, in *orchestratorv1.ListJobsRequest, opts ...grpc.CallOption) (*orchestratorv1.ListJobsResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.ListJobs, in, opts)
}

func (c *orchestratorClient) CancelJob(ctx context.Context, in *orchestratorv1.CancelJobRequest, opts ...grpc.CallOption) (*orchestratorv1.CancelJobResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.CancelJob, in, opts)
}

func (c *orchestratorClient) WatchJob(ctx context.Context, in *orchestratorv1.WatchJobRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[orchestratorv1.WatchJobResponse], error) {
	return streaming(ctx, orchestratorName, c.client.WatchJob, in, opts)
}

func (c *orchestratorClient) GetArtifact(ctx context.Context, in *orchestratorv1.GetArtifactRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[orchestratorv1.GetArtifactResponse], error) {
	return streaming(ctx, orchestratorName, c.client.GetArtifact, in, opts)
}

// serveArtifact answers GET /v1/artifacts/{id} from the orchestrator's
// artifact store, through GetArtifact: http.ServeContent supplies
// Content-Type, Content-Length, ETag matching (the sha256) and ranges, and
// each read it makes fetches just the bytes it needs.
func (g *Gateway) serveArtifact(orch *orchestratorClient) func(http.ResponseWriter, *http.Request, map[string]string) {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		ctx := r.Context()
		id := params["id"]
		info, err := artifactInfo(ctx, orch, id)
		if err != nil {
			g.handleError(ctx, g.mux, g.codec, w, r, err)
			return
		}
		w.Header().Set("Content-Type", info.GetMimeType())
		w.Header().Set("ETag", strconv.Quote(info.GetSha256()))
		// Artifacts never change once stored.
		w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
		content := &artifactReader{ctx: ctx, orch: orch, id: id, size: info.GetSizeBytes()}
		defer content.close()
		http.ServeContent(w, r, "", info.GetCreateTime().AsTime(), content)
	}
}

// artifactInfo fetches an artifact's description (and no bytes).
func artifactInfo(ctx context.Context, orch *orchestratorClient, id string) (*orchestratorv1.ArtifactInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// limit 1 with offset 0 sends the info and at most one byte; an empty
	// artifact sends the info alone.
	s, err := orch.GetArtifact(ctx, &orchestratorv1.GetArtifactRequest{Id: id, Limit: 1})
	if err != nil {
		return nil, err
	}
	first, err := s.Recv()
	if err != nil {
		return nil, upstreamErr(orchestratorName, err)
	}
	info := first.GetInfo()
	if info == nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the orchestrator sent an artifact without its description")
	}
	return info, nil
}

// artifactReader is an io.ReadSeeker over a stored artifact: Seek only
// moves the position; Read opens a GetArtifact stream from there (once per
// position change) and reads it through.
type artifactReader struct {
	ctx    context.Context
	orch   *orchestratorClient
	id     string
	size   int64
	pos    int64
	stream grpc.ServerStreamingClient[orchestratorv1.GetArtifactResponse]
	cancel context.CancelFunc
	buf    []byte
}

func (a *artifactReader) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = a.pos + offset
	case io.SeekEnd:
		pos = a.size + offset
	}
	if pos < 0 {
		return 0, errors.New("artifact: seek before the start")
	}
	if pos != a.pos {
		a.close()
		a.pos = pos
	}
	return pos, nil
}

func (a *artifactReader) Read(p []byte) (int, error) {
	if a.pos >= a.size {
		a.close()
		return 0, io.EOF
	}
	for len(a.buf) == 0 {
		if a.stream == nil {
			ctx, cancel := context.WithCancel(a.ctx)
			s, err := a.orch.client.GetArtifact(ctx, &orchestratorv1.GetArtifactRequest{Id: a.id, Offset: a.pos})
			if err != nil {
				cancel()
				return 0, err
			}
			a.stream, a.cancel = s, cancel
		}
		m, err := a.stream.Recv()
		if errors.Is(err, io.EOF) {
			a.close()
			return 0, fmt.Errorf("artifact %s ended at byte %d of %d", a.id, a.pos, a.size)
		}
		if err != nil {
			a.close()
			return 0, err
		}
		a.buf = m.GetChunk()
	}
	n := copy(p, a.buf)
	a.buf = a.buf[n:]
	a.pos += int64(n)
	if a.pos >= a.size {
		a.close()
	}
	return n, nil
}

func (a *artifactReader) close() {
	if a.cancel != nil {
		a.cancel()
	}
	a.stream, a.cancel, a.buf = nil, nil, nil
}
