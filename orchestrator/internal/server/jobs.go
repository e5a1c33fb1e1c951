package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Limits of the job RPCs.
const (
	maxRequestID    = 128
	defaultPageSize = 20
	maxPageSize     = 100
	chunkSize       = 1 << 20
)

// ReasonArtifactNotFound is the ErrorInfo reason for an unknown artifact.
const ReasonArtifactNotFound = "ARTIFACT_NOT_FOUND"

func (s *Server) needJobs() error {
	if s.jobs == nil {
		return rpcerr.New(codes.Unimplemented, "JOBS_DISABLED", "this orchestrator keeps no jobs")
	}
	return nil
}

// CreateJob implements OrchestratorServiceServer.
func (s *Server) CreateJob(ctx context.Context, req *orchestratorv1.CreateJobRequest) (*orchestratorv1.CreateJobResponse, error) {
	if err := s.needJobs(); err != nil {
		return nil, err
	}
	if len(req.GetRequestId()) > maxRequestID {
		return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "request_id", Description: fmt.Sprintf("at most %d bytes", maxRequestID)})
	}
	p, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	inputs, err := p.ResolveInputs(req.GetInputs())
	if err != nil {
		return nil, err
	}
	job, err := s.jobs.Create(ctx, p, req.GetInputs(), inputs, req.GetRequestId())
	if errors.Is(err, jobs.ErrFull) {
		return nil, busy()
	}
	if err != nil {
		return nil, err
	}
	return &orchestratorv1.CreateJobResponse{Job: job}, nil
}

// GetJob implements OrchestratorServiceServer.
func (s *Server) GetJob(ctx context.Context, req *orchestratorv1.GetJobRequest) (*orchestratorv1.GetJobResponse, error) {
	if err := s.needJobs(); err != nil {
		return nil, err
	}
	job, err := s.jobs.Get(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &orchestratorv1.GetJobResponse{Job: job}, nil
}

// ListJobs implements OrchestratorServiceServer.
func (s *Server) ListJobs(ctx context.Context, req *orchestratorv1.ListJobsRequest) (*orchestratorv1.ListJobsResponse, error) {
	if err := s.needJobs(); err != nil {
		return nil, err
	}
	var bad []rpcerr.FieldViolation
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size < 0 || size > maxPageSize:
		bad = append(bad, rpcerr.FieldViolation{Field: "page_size", Description: fmt.Sprintf("must be 0 (meaning %d) to %d", defaultPageSize, maxPageSize)})
	}
	var before int64
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.ParseInt(t, 36, 64)
		if err != nil || n <= 0 {
			bad = append(bad, rpcerr.FieldViolation{Field: "page_token", Description: "not a token from an earlier ListJobs"})
		}
		before = n
	}
	if _, ok := orchestratorv1.JobState_name[int32(req.GetState())]; !ok {
		bad = append(bad, rpcerr.FieldViolation{Field: "state", Description: "unknown state"})
	}
	if len(bad) > 0 {
		return nil, rpcerr.Invalid(bad...)
	}
	list, next, err := s.jobs.List(ctx, jobs.Filter{State: req.GetState(), Pipeline: req.GetPipeline(), Before: before, Limit: size})
	if err != nil {
		return nil, err
	}
	out := &orchestratorv1.ListJobsResponse{Jobs: list}
	if next > 0 {
		out.NextPageToken = strconv.FormatInt(next, 36)
	}
	return out, nil
}

// CancelJob implements OrchestratorServiceServer.
func (s *Server) CancelJob(ctx context.Context, req *orchestratorv1.CancelJobRequest) (*orchestratorv1.CancelJobResponse, error) {
	if err := s.needJobs(); err != nil {
		return nil, err
	}
	job, err := s.jobs.Cancel(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &orchestratorv1.CancelJobResponse{Job: job}, nil
}

// WatchJob implements OrchestratorServiceServer.
func (s *Server) WatchJob(req *orchestratorv1.WatchJobRequest, stream grpc.ServerStreamingServer[orchestratorv1.WatchJobResponse]) error {
	if err := s.needJobs(); err != nil {
		return err
	}
	err := s.jobs.Watch(stream.Context(), req.GetId(), stream.Send)
	if err != nil && stream.Context().Err() != nil {
		return stream.Context().Err()
	}
	return err
}

// GetArtifact implements OrchestratorServiceServer.
func (s *Server) GetArtifact(req *orchestratorv1.GetArtifactRequest, stream grpc.ServerStreamingServer[orchestratorv1.GetArtifactResponse]) error {
	notFound := rpcerr.New(codes.NotFound, ReasonArtifactNotFound, "no such artifact; it may have expired").
		WithMetadata("artifact_id", rpcerr.Clip(req.GetId(), 64))
	if s.artifacts == nil {
		return notFound
	}
	info, f, err := s.artifacts.Open(req.GetId())
	if errors.Is(err, artifact.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the artifact store failed").WithCause(err)
	}
	defer f.Close()
	off, limit := req.GetOffset(), req.GetLimit()
	if off < 0 || off > info.Size || limit < 0 {
		return rpcerr.Invalid(rpcerr.FieldViolation{Field: "offset", Description: fmt.Sprintf("offset must be 0..%d and limit at least 0", info.Size)})
	}
	if limit == 0 || limit > info.Size-off {
		limit = info.Size - off
	}
	if err := stream.Send(&orchestratorv1.GetArtifactResponse{Part: &orchestratorv1.GetArtifactResponse_Info{Info: &orchestratorv1.ArtifactInfo{
		Id: info.ID, MimeType: info.MimeType, SizeBytes: info.Size, Sha256: info.SHA256, CreateTime: timestamppb.New(info.Created),
	}}}); err != nil {
		return err
	}
	r := io.NewSectionReader(f, off, limit)
	buf := make([]byte, min(chunkSize, max(limit, 1)))
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&orchestratorv1.GetArtifactResponse{Part: &orchestratorv1.GetArtifactResponse_Chunk{Chunk: buf[:n]}}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the artifact store failed").WithCause(err)
		}
	}
}
