package runner

import (
	"context"
	"testing"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
)

func TestRunAndStepDurationsAreRecorded(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	e := newTestRunner(t, 4, "One. Two.")
	e.metrics = newMetrics(mp)

	reg, err := pipeline.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	p := reg.Get("script-then-voiceover")
	inputs, err := p.ResolveInputs(map[string]string{"topic": "x"})
	if err != nil {
		t.Fatal(err)
	}
	discard := func(*orchestratorv1.RunPipelineResponse) error { return nil }
	if err := e.Run(t.Context(), p, inputs, discard); err != nil {
		t.Fatalf("Run: %v", err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := e.Run(canceled, p, inputs, discard); err == nil {
		t.Fatal("a canceled run succeeded")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[attribute.Distinct]uint64{}
	sets := map[attribute.Distinct]attribute.Set{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s is a %T, want a histogram", m.Name, m.Data)
			}
			counts[m.Name] = map[attribute.Distinct]uint64{}
			for _, dp := range h.DataPoints {
				counts[m.Name][dp.Attributes.Equivalent()] = dp.Count
				sets[dp.Attributes.Equivalent()] = dp.Attributes
			}
		}
	}
	count := func(name string, kvs ...attribute.KeyValue) uint64 {
		set := attribute.NewSet(kvs...)
		return counts[name][set.Equivalent()]
	}
	pl := attribute.String(AttrPipeline, p.Name)
	ok := attribute.String(AttrOutcome, "OK")
	if n := count(MetricRunDuration, pl, ok); n != 1 {
		t.Errorf("%s{OK} count = %d, want 1 (points %v)", MetricRunDuration, n, sets)
	}
	if n := count(MetricRunDuration, pl, attribute.String(AttrOutcome, "Canceled")); n != 1 {
		t.Errorf("%s{Canceled} count = %d, want 1 (points %v)", MetricRunDuration, n, sets)
	}
	for _, s := range p.Steps {
		if s.When != "" {
			continue // optional (music), skipped without its input: no call to time
		}
		kvs := []attribute.KeyValue{pl, ok, attribute.String(AttrStep, s.Name), attribute.String(AttrModality, s.ModalityName())}
		if n := count(MetricStepDuration, kvs...); n != 1 {
			t.Errorf("%s%v count = %d, want 1 (points %v)", MetricStepDuration, kvs, n, sets)
		}
	}
}
