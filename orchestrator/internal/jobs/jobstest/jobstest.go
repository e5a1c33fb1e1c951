// Package jobstest holds what the tests of the orchestrator's jobs API
// share, in process or against an orchestrator process.
package jobstest

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// Watch collects a job's events until WatchJob ends (when the job has
// ended), failing tb on any error or after 30 seconds.
func Watch(tb testing.TB, c orchestratorv1.OrchestratorServiceClient, id string) []*orchestratorv1.WatchJobResponse {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	stream, err := c.WatchJob(ctx, &orchestratorv1.WatchJobRequest{Id: id})
	if err != nil {
		tb.Fatal(err)
	}
	var out []*orchestratorv1.WatchJobResponse
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("WatchJob %s: %v (after %d events)", id, err, len(out))
		}
		out = append(out, ev)
	}
}
