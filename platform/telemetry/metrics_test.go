package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// scrape GETs /metrics from h and returns the body.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	return string(b)
}

func TestMetricsHandlerServesRecordedInstruments(t *testing.T) {
	m, err := NewMetrics("chorus-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Provider.Shutdown(context.Background()) })
	meter := m.Provider.Meter("test")
	ctx := context.Background()
	requests, err := meter.Int64Counter("chorus.test.requests")
	if err != nil {
		t.Fatal(err)
	}
	latency, err := meter.Float64Histogram("chorus.test.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.1, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"OK", "OK", "NOT_FOUND"} {
		requests.Add(ctx, 1, metric.WithAttributes(attribute.String("code", code)))
		latency.Record(ctx, 0.5, metric.WithAttributes(attribute.String("code", code)))
	}

	body := scrape(t, m.Handler())
	for _, want := range []string{
		`chorus_test_requests_total{code="OK",otel_scope_name="test"`,
		`chorus_test_duration_seconds_bucket{code="OK",otel_scope_name="test",otel_scope_schema_url="",otel_scope_version="",le="1"} 2`,
		`chorus_test_duration_seconds_count{code="NOT_FOUND"`,
		`target_info{service_name="chorus-test"`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
	if line := grepLine(body, `chorus_test_requests_total{code="OK"`); !strings.HasSuffix(line, " 2") {
		t.Errorf("OK count line %q, want 2", line)
	}
}

func grepLine(body, prefix string) string {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

func TestSetupInstallsTheGlobalMeterProvider(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := Setup(context.Background(), "chorus-global")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	c, err := otel.Meter("global-test").Int64Counter("chorus.test.global")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3)
	body := scrape(t, MetricsHandler())
	if line := grepLine(body, "chorus_test_global_total{"); !strings.HasSuffix(line, " 3") {
		t.Errorf("global counter line %q, want 3; scrape:\n%s", line, body)
	}
}
