package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Readiness is the body of GET /readyz.
type Readiness struct {
	// Ready is true when every required upstream (the core path: text and
	// the orchestrator) answered SERVING, or with ?all every upstream.
	Ready bool `json:"ready"`
	// Degraded is true when an upstream that is not required (image,
	// audio, embedding) is not serving: the gateway stays in rotation, and
	// the routes to that upstream answer 503 until it is back.
	Degraded bool `json:"degraded"`
	// Upstreams reports each upstream, in a fixed order: text, image, audio, embedding,
	// orchestrator.
	Upstreams []UpstreamHealth `json:"upstreams"`
}

// UpstreamHealth is one upstream's answer to a grpc.health.v1 Check. It
// names no address and quotes no error: the address the gateway dials and
// why a check failed go to the gateway's log (once per change), not to
// whoever can reach /readyz.
type UpstreamHealth struct {
	// Name is "text", "image", "audio", "embedding" or "orchestrator".
	Name string `json:"name"`
	// Service is the gRPC service whose health was asked for.
	Service string `json:"service"`
	// Required says whether the gateway's readiness depends on it.
	Required bool `json:"required"`
	// Ready is true when the upstream answered SERVING.
	Ready bool `json:"ready"`
	// Status is the health status it answered (SERVING, NOT_SERVING, ...)
	// or, when the check failed, the gRPC code of the failure (UNAVAILABLE,
	// DEADLINE_EXCEEDED, NOT_FOUND when the server does not know the service).
	Status string `json:"status"`
}

// readyz checks every upstream at once, each bounded by the ready timeout:
// 200 when the required ones are SERVING (with ?all, every one), else 503.
// An image or audio outage leaves the gateway in rotation, marked degraded;
// a load balancer should not take away the text and pipeline routes with
// it. The e2e suite waits for ?all; `chorus up` for every upstream to answer (stack.Settled).
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	all := r.URL.Query().Has("all")
	ctx, cancel := context.WithTimeout(untraced(r.Context()), g.cfg.ReadyTimeout)
	defer cancel()
	res := Readiness{Ready: true, Upstreams: make([]UpstreamHealth, len(g.upstreams))}
	var wg sync.WaitGroup
	for i, u := range g.upstreams {
		wg.Go(func() { res.Upstreams[i] = u.check(ctx, g.log) })
	}
	wg.Wait()
	for _, u := range res.Upstreams {
		if u.Ready {
			continue
		}
		if !u.Required {
			res.Degraded = true
		}
		if u.Required || all {
			res.Ready = false
		}
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

func (u *upstream) check(ctx context.Context, log *slog.Logger) UpstreamHealth {
	h := UpstreamHealth{Name: u.name, Service: u.service, Required: u.required}
	resp, err := u.health.Check(ctx, &healthpb.HealthCheckRequest{Service: u.service})
	var why string
	switch {
	case err != nil:
		st := status.Convert(err)
		h.Status, why = reasonFor(st.Code()), st.Message()
		if st.Code() == codes.NotFound {
			why = "the server at that address does not serve " + u.service
		}
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		h.Status = resp.GetStatus().String()
		why = u.name + " reports " + h.Status
	default:
		h.Status, h.Ready = resp.GetStatus().String(), true
	}
	u.mu.Lock()
	changed := u.lastStatus != h.Status
	u.lastStatus = h.Status
	u.mu.Unlock()
	if changed {
		attrs := []any{"upstream", u.name, "target", u.target, "service", u.service, "status", h.Status}
		if h.Ready {
			log.InfoContext(ctx, "upstream ready", attrs...)
		} else {
			log.WarnContext(ctx, "upstream not ready", append(attrs, "error", why)...)
		}
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
