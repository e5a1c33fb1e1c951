package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/admission"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// RetryAfter is the wait a client refused for lack of room is told to
// observe (google.rpc.RetryInfo).
const RetryAfter = 2 * time.Second

// busy is the error of a run refused because every run slot and queue
// place is taken.
func busy() error {
	return rpcerr.New(codes.ResourceExhausted, rpcerr.ReasonQueueFull,
		"the orchestrator is running as many pipelines as it may and its queue is full; retry later").
		WithMetadata("subject", "orchestrator:runs").WithRetryDelay(RetryAfter)
}

// admit waits for a place among the orchestrator's runs, for a synchronous
// run.
func (s *Server) admit(ctx context.Context) (release func(), err error) {
	ticket, err := s.gate.Reserve()
	if errors.Is(err, admission.ErrFull) {
		return nil, busy()
	}
	if err != nil {
		return nil, err
	}
	return ticket.Wait(ctx)
}
