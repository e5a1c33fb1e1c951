package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Readiness is the body of GET /readyz.
type Readiness struct {
	// Ready is true when every upstream answered SERVING.
	Ready bool `json:"ready"`
	// Upstreams reports each upstream, in a fixed order: text, image, audio, embedding,
	// orchestrator.
	Upstreams []UpstreamHealth `json:"upstreams"`
}

// UpstreamHealth is one upstream's answer to a grpc.health.v1 Check.
type UpstreamHealth struct {
	// Name is "text", "image", "audio", "embedding" or "orchestrator".
	Name string `json:"name"`
	// Target is the address the gateway dials.
	Target string `json:"target"`
	// Service is the gRPC service whose health was asked for.
	Service string `json:"service"`
	// Ready is true when the upstream answered SERVING.
	Ready bool `json:"ready"`
	// Status is the health status it answered (SERVING, NOT_SERVING, ...)
	// or, when the check failed, the gRPC code of the failure (UNAVAILABLE,
	// DEADLINE_EXCEEDED, NOT_FOUND when the server does not know the service).
	Status string `json:"status"`
	// Error says why the upstream is not ready.
	Error string `json:"error,omitempty"`
}

// readyz checks every upstream at once, each bounded by the ready timeout:
// 200 when all are SERVING, else 503.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx, cancel := context.WithTimeout(untraced(r.Context()), g.cfg.ReadyTimeout)
	defer cancel()
	res := Readiness{Ready: true, Upstreams: make([]UpstreamHealth, len(g.upstreams))}
	var wg sync.WaitGroup
	for i, u := range g.upstreams {
		wg.Go(func() { res.Upstreams[i] = u.check(ctx) })
	}
	wg.Wait()
	for _, u := range res.Upstreams {
		res.Ready = res.Ready && u.Ready
	}
	code := http.StatusOK
	if !res.Ready {
		code = http.StatusServiceUnavailable
	}
	body, err := json.Marshal(res)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"ready":false}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

func (u *upstream) check(ctx context.Context) UpstreamHealth {
	h := UpstreamHealth{Name: u.name, Target: u.target, Service: u.service}
	resp, err := u.health.Check(ctx, &healthpb.HealthCheckRequest{Service: u.service})
	switch {
	case err != nil:
		st := status.Convert(err)
		h.Status = reasonFor(st.Code())
		h.Error = st.Message()
		if st.Code() == codes.NotFound {
			h.Error = fmt.Sprintf("the server at %s does not serve %s", u.target, u.service)
		}
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		h.Status = resp.GetStatus().String()
		h.Error = fmt.Sprintf("%s reports %s", u.name, h.Status)
	default:
		h.Status, h.Ready = resp.GetStatus().String(), true
	}
	return h
}

// untraced gives ctx an unsampled parent span, so the health checks of a
// probe that arrives every few seconds stay out of the traces: the SDK's
// default sampler, here and in the upstreams, follows the parent.
func untraced(ctx context.Context) context.Context {
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
}
