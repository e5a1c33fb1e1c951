package runner

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Metric names of the runner.
const (
	MetricRunDuration  = "chorus.pipeline.run.duration"
	MetricStepDuration = "chorus.pipeline.step.duration"
)

// Attribute keys of the runner's metrics (and spans).
const (
	AttrPipeline = "chorus.pipeline"
	AttrStep     = "chorus.step"
	AttrModality = "chorus.modality"
	// AttrOutcome is "OK" or the gRPC code a run or step failed with.
	AttrOutcome = "chorus.outcome"
)

// Pipelines run for up to minutes: buckets from 50 ms to 10 min.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 600}

type metrics struct {
	run, step metric.Float64Histogram
}

func newMetrics(mp metric.MeterProvider) *metrics {
	meter := mp.Meter("github.com/chorus-ai/chorus/orchestrator/internal/runner")
	// Errors here are only ever invalid names or units, fixed above; the
	// instruments returned with them are no-ops.
	run, _ := meter.Float64Histogram(MetricRunDuration, metric.WithUnit("s"),
		metric.WithDescription("Time a pipeline run took, from start to its RunCompleted or RunFailed."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	step, _ := meter.Float64Histogram(MetricStepDuration, metric.WithUnit("s"),
		metric.WithDescription("Time a pipeline step took, once started (waiting for its dependencies not included)."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	return &metrics{run: run, step: step}
}

// outcome is "OK", or the gRPC code err maps to.
func outcome(err error) string {
	return rpcerr.Status(err).Code().String()
}

func (m *metrics) recordRun(ctx context.Context, pipeline string, start time.Time, err error) {
	m.run.Record(context.WithoutCancel(ctx), time.Since(start).Seconds(), metric.WithAttributes(
		attribute.String(AttrPipeline, pipeline),
		attribute.String(AttrOutcome, outcome(err)),
	))
}

func (m *metrics) recordStep(ctx context.Context, pipeline, step, modality string, start time.Time, err error) {
	m.step.Record(context.WithoutCancel(ctx), time.Since(start).Seconds(), metric.WithAttributes(
		attribute.String(AttrPipeline, pipeline),
		attribute.String(AttrStep, step),
		attribute.String(AttrModality, modality),
		attribute.String(AttrOutcome, outcome(err)),
	))
}
