package genai

import (
	"context"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Metric names. The gen_ai.server.* histograms are the OpenTelemetry GenAI
// semantic conventions' (with their recommended buckets); the chorus.genai.*
// counters and gauges have no convention. Tokens are a counter, not a
// tokens-per-second gauge: Prometheus computes throughput from it with
// rate(), over any window, summed over any labels, which a gauge of
// per-request speeds cannot give; the speed of one generation is
// gen_ai.server.time_per_output_token.
const (
	MetricRequestDuration    = "gen_ai.server.request.duration"
	MetricTimeToFirstToken   = "gen_ai.server.time_to_first_token"
	MetricTimePerOutputToken = "gen_ai.server.time_per_output_token"
	MetricTokens             = "chorus.genai.tokens"
	MetricAudio              = "chorus.genai.audio.duration"
	MetricImages             = "chorus.genai.images"
	MetricRejections         = "chorus.genai.rejections"
	MetricQueueWaiting       = "chorus.genai.queue.waiting"
	MetricActive             = "chorus.genai.active_requests"
)

// Attribute keys of the metrics, besides the conventions' own
// gen_ai.operation.name, gen_ai.request.model, gen_ai.token.type and
// error.type.
const (
	// AttrBackend names a backend (its admission limits are per backend)
	// by the first model it serves.
	AttrBackend = "chorus.backend"
	// AttrReason is an ErrorInfo reason of a rejection.
	AttrReason = "chorus.reason"
)

// metrics are a Handler's instruments.
type metrics struct {
	duration, ttft, tpot metric.Float64Histogram
	tokens               metric.Int64Counter
	audio                metric.Float64Counter
	images               metric.Int64Counter
	rejections           metric.Int64Counter
	queue                metric.Registration
}

func newMetrics(mp metric.MeterProvider, h *Handler) (*metrics, error) {
	meter := mp.Meter("github.com/chorus-ai/chorus/platform/genai")
	var m metrics
	var err error
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	var e error
	m.duration, e = meter.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Time a Generate or StreamGenerate call took, queueing included."),
		metric.WithExplicitBucketBoundaries(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92))
	must(e)
	m.ttft, e = meter.Float64Histogram(MetricTimeToFirstToken, metric.WithUnit("s"),
		metric.WithDescription("Time from the request to its first output: the first streamed chunk (a text delta, a sentence of speech), or the whole result of a backend that streams none."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0))
	must(e)
	m.tpot, e = meter.Float64Histogram(MetricTimePerOutputToken, metric.WithUnit("s"),
		metric.WithDescription("Time per output token after the first, per successful generation."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5))
	must(e)
	m.tokens, e = meter.Int64Counter(MetricTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Tokens read (gen_ai.token.type=input) and generated (output); rate() gives tokens per second."))
	must(e)
	m.audio, e = meter.Float64Counter(MetricAudio, metric.WithUnit("s"),
		metric.WithDescription("Seconds of audio generated."))
	must(e)
	m.images, e = meter.Int64Counter(MetricImages, metric.WithUnit("{image}"),
		metric.WithDescription("Images generated."))
	must(e)
	m.rejections, e = meter.Int64Counter(MetricRejections, metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused RESOURCE_EXHAUSTED, by reason: QUEUE_FULL when every slot and queue place of the backend was taken."))
	must(e)
	waiting, e := meter.Int64ObservableGauge(MetricQueueWaiting, metric.WithUnit("{request}"),
		metric.WithDescription("Requests waiting for a turn, per backend."))
	must(e)
	active, e := meter.Int64ObservableGauge(MetricActive, metric.WithUnit("{request}"),
		metric.WithDescription("Requests a backend is running now."))
	must(e)
	if err != nil {
		return nil, err
	}
	m.queue, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, b := range h.backends {
			attrs := metric.WithAttributes(attribute.String(AttrBackend, b.name), attribute.String("chorus.modality", string(h.modality)))
			o.ObserveInt64(waiting, int64(b.limiter.Waiting()), attrs)
			o.ObserveInt64(active, int64(b.limiter.InUse()), attrs)
		}
		return nil
	}, waiting, active)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// call is what the metrics learn of one call.
type call struct {
	start time.Time
	first time.Time // the first chunk; zero if none was emitted
	model string    // resolved; empty if the request named no model served
}

// record records a finished call.
func (m *metrics) record(ctx context.Context, op string, c call, resp *genaiv1.GenerateResponse, err error) {
	end := time.Now()
	attrs := []attribute.KeyValue{attribute.String("gen_ai.operation.name", op)}
	if c.model != "" {
		attrs = append(attrs, attribute.String("gen_ai.request.model", c.model))
	}
	if err != nil {
		code := rpcerr.Status(err).Code()
		m.duration.Record(ctx, end.Sub(c.start).Seconds(), metric.WithAttributes(append(attrs, attribute.String("error.type", code.String()))...))
		if code == codes.ResourceExhausted {
			if reason, _ := rpcerr.Details(rpcerr.Status(err)); reason != "" {
				m.rejections.Add(ctx, 1, metric.WithAttributes(append(attrs, attribute.String(AttrReason, reason))...))
			}
		}
		if !c.first.IsZero() {
			m.ttft.Record(ctx, c.first.Sub(c.start).Seconds(), metric.WithAttributes(attrs...))
		}
		return
	}
	set := metric.WithAttributes(attrs...)
	m.duration.Record(ctx, end.Sub(c.start).Seconds(), set)
	first := c.first
	if first.IsZero() {
		first = end
	}
	m.ttft.Record(ctx, first.Sub(c.start).Seconds(), set)
	u := resp.GetUsage()
	if n := u.GetOutputTokens(); n > 1 {
		m.tpot.Record(ctx, end.Sub(first).Seconds()/float64(n-1), set)
	}
	if n := u.GetInputTokens(); n > 0 {
		m.tokens.Add(ctx, int64(n), metric.WithAttributes(append(attrs, attribute.String("gen_ai.token.type", "input"))...))
	}
	if n := u.GetOutputTokens(); n > 0 {
		m.tokens.Add(ctx, int64(n), metric.WithAttributes(append(attrs, attribute.String("gen_ai.token.type", "output"))...))
	}
	if s := u.GetAudioSeconds(); s > 0 {
		m.audio.Add(ctx, s, set)
	}
	if n := u.GetImages(); n > 0 {
		m.images.Add(ctx, int64(n), set)
	}
}
