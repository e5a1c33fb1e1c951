package genai_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// meteredHandler is newHandler with its metrics made by mp.
func meteredHandler(tb testing.TB, mp *sdkmetric.MeterProvider, m genai.Modality, routes ...genai.Route) *genai.Handler {
	tb.Helper()
	h, err := genai.NewHandlerWithMeter(m, slog.New(slog.NewTextHandler(io.Discard, nil)), mp, routes...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// points is what a reader collected, by metric name.
type points map[string]metricdata.Aggregation

func collectMetrics(t *testing.T, r *sdkmetric.ManualReader) points {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := points{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// matches reports whether set is exactly want.
func matches(set attribute.Set, want []attribute.KeyValue) bool {
	if set.Len() != len(want) {
		return false
	}
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// count is the number of recordings (histograms) or the sum (counters,
// gauges) of name's points whose attributes are want; NaN if there is none.
func (p points) count(name string, want ...attribute.KeyValue) float64 {
	var n float64
	found := false
	switch d := p[name].(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			if matches(dp.Attributes, want) {
				found = true
				n += float64(dp.Count)
			}
		}
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			if matches(dp.Attributes, want) {
				found = true
				n += float64(dp.Value)
			}
		}
	case metricdata.Sum[float64]:
		for _, dp := range d.DataPoints {
			if matches(dp.Attributes, want) {
				found = true
				n += dp.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			if matches(dp.Attributes, want) {
				found = true
				n += float64(dp.Value)
			}
		}
	}
	if !found {
		return math.NaN()
	}
	return n
}

func TestMetricsRecordEachCall(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	fb := genaitest.NewBackend(genaitest.Echo, genaitest.Hold)
	conn := newTestServer(t,
		meteredHandler(t, mp, genai.Text, genai.Route{Backend: fb, Concurrency: 1, Queue: -1}),
		meteredHandler(t, mp, genai.Audio, genai.Route{Backend: genaitest.NewBackend(genaitest.Voice)}),
	)
	text := genaiv1.NewTextServiceClient(conn)
	ctx := context.Background()

	if _, err := text.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "one two three"}); err != nil {
		t.Fatal(err)
	}
	collect(t, text, &genaiv1.GenerateRequest{Prompt: "four five"})
	collect(t, genaiv1.NewAudioServiceClient(conn), &genaiv1.GenerateRequest{Prompt: "One. Two."})
	if _, err := text.Generate(ctx, &genaiv1.GenerateRequest{Model: "nope", Prompt: "x"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown model: %v, want NotFound", err)
	}

	// Hold the only slot: the next request is rejected, and the gauges
	// see one request running.
	holdCtx, cancel := context.WithCancel(ctx)
	held := make(chan error, 1)
	go func() {
		_, err := text.Generate(holdCtx, &genaiv1.GenerateRequest{Model: genaitest.Hold, Prompt: "a"})
		held <- err
	}()
	fb.Wait(t, "started")
	if _, err := text.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "b"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second request: %v, want ResourceExhausted", err)
	}
	during := collectMetrics(t, reader)
	cancel()
	<-held
	echo := attribute.String("gen_ai.request.model", genaitest.Echo)
	op := attribute.String("gen_ai.operation.name", "text.generate")
	hold := attribute.String("gen_ai.request.model", genaitest.Hold)
	canceled := attribute.String("error.type", "Canceled")
	textBackend := []attribute.KeyValue{attribute.String(genai.AttrBackend, genaitest.Echo), attribute.String("chorus.modality", "text")}
	// The server records the canceled call, and releases its slot, after
	// the client has seen it end: wait (bounded) until it has done both.
	settled := func(p points) bool {
		return p.count(genai.MetricRequestDuration, op, hold, canceled) > 0 && p.count(genai.MetricActive, textBackend...) == 0
	}
	got := collectMetrics(t, reader)
	for deadline := time.Now().Add(5 * time.Second); !settled(got) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got = collectMetrics(t, reader)
	}
	audioOp := attribute.String("gen_ai.operation.name", "audio.generate")
	voice := attribute.String("gen_ai.request.model", genaitest.Voice)
	tests := []struct {
		name   string
		points points
		metric string
		attrs  []attribute.KeyValue
		want   float64
	}{
		{name: "successful text calls", points: got, metric: genai.MetricRequestDuration, attrs: []attribute.KeyValue{op, echo}, want: 2},
		{name: "failed calls by code, no model resolved", points: got, metric: genai.MetricRequestDuration, attrs: []attribute.KeyValue{op, attribute.String("error.type", "NotFound")}, want: 1},
		{name: "rejected call", points: got, metric: genai.MetricRequestDuration, attrs: []attribute.KeyValue{op, echo, attribute.String("error.type", "ResourceExhausted")}, want: 1},
		{name: "canceled call", points: got, metric: genai.MetricRequestDuration, attrs: []attribute.KeyValue{op, hold, canceled}, want: 1},
		{name: "time to first token", points: got, metric: genai.MetricTimeToFirstToken, attrs: []attribute.KeyValue{op, echo}, want: 2},
		{name: "time per output token", points: got, metric: genai.MetricTimePerOutputToken, attrs: []attribute.KeyValue{op, echo}, want: 2},
		{name: "output tokens", points: got, metric: genai.MetricTokens, attrs: []attribute.KeyValue{op, echo, attribute.String("gen_ai.token.type", "output")}, want: 5},
		{name: "input tokens", points: got, metric: genai.MetricTokens, attrs: []attribute.KeyValue{op, echo, attribute.String("gen_ai.token.type", "input")}, want: 5},
		{name: "audio seconds", points: got, metric: genai.MetricAudio, attrs: []attribute.KeyValue{audioOp, voice}, want: 0.08},
		{name: "audio time to first token", points: got, metric: genai.MetricTimeToFirstToken, attrs: []attribute.KeyValue{audioOp, voice}, want: 1},
		{name: "rejections", points: got, metric: genai.MetricRejections, attrs: []attribute.KeyValue{op, echo, attribute.String(genai.AttrReason, "QUEUE_FULL")}, want: 1},
		{name: "running while held", points: during, metric: genai.MetricActive, attrs: textBackend, want: 1},
		{name: "none waiting (no queue)", points: during, metric: genai.MetricQueueWaiting, attrs: textBackend, want: 0},
		{name: "idle afterwards", points: got, metric: genai.MetricActive, attrs: textBackend, want: 0},
	}
	for _, tt := range tests {
		if _, ok := tt.points[tt.metric]; !ok {
			t.Errorf("%s: no %s collected", tt.name, tt.metric)
			continue
		}
		if n := tt.points.count(tt.metric, tt.attrs...); !(math.Abs(n-tt.want) < 1e-9) {
			t.Errorf("%s: %s%v = %v, want %v", tt.name, tt.metric, tt.attrs, n, tt.want)
		}
	}
}
