package runner

import (
	"context"
	"fmt"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// PreflightTimeout bounds each service's answer to Preflight.
const PreflightTimeout = 2 * time.Second

// Preflight asks each modality service that p's steps call whether it
// answers (ListModels, uncached), so that a run whose service is down fails
// before it starts, with UNAVAILABLE naming the first step that needs it,
// rather than midway through a stream the client has already begun to read.
// Only a service that does not answer fails it: any answer, an error
// included, means the service is there.
func (rn *Runner) Preflight(ctx context.Context, p *pipeline.Pipeline) error {
	checked := map[genai.Modality]bool{}
	for _, s := range p.Steps {
		if s.Transform != "" || checked[s.Modality] {
			continue
		}
		checked[s.Modality] = true
		c, ok := rn.cfg.Clients[s.Modality]
		if !ok {
			continue // the step fails with its own, clearer, error
		}
		cctx, cancel := context.WithTimeout(ctx, PreflightTimeout)
		_, err := c.ListModels(cctx, &genaiv1.ListModelsRequest{})
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if code := status.Code(err); code == codes.Unavailable || code == codes.DeadlineExceeded {
			return rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown,
				fmt.Sprintf("step %s: the %s service is unavailable", s.Name, s.Modality)).
				WithCause(err).WithMetadata("service", string(s.Modality)).WithMetadata("step", s.Name)
		}
	}
	return nil
}
