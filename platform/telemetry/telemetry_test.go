package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestLoggerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	log.InfoContext(ctx, "hello", "k", 1)
	log.Debug("hidden at info level")
	span.End()

	var rec map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &rec); err != nil {
		t.Fatalf("want exactly one JSON record, got %q: %v", buf.String(), err)
	}
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("record %v lacks the span's ids", rec)
	}
	if rec["service"] != "text" || rec["msg"] != "hello" {
		t.Errorf("record = %v", rec)
	}
}

func TestLoggerRejectsBadLevel(t *testing.T) {
	if _, err := NewLogger(&bytes.Buffer{}, "x", "loud"); err == nil {
		t.Fatal("NewLogger accepted level \"loud\"")
	}
}

func TestSetupWithoutEndpointExportsNothing(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := Setup(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
	if _, err := Setup(context.Background(), "x"); err == nil {
		t.Fatal("Setup accepted an unknown protocol")
	}
}

func TestResourceNamesTheService(t *testing.T) {
	tests := []struct {
		name string
		env  string
		want string
	}{
		{name: "default", want: "chorus-text"},
		{name: "OTEL_SERVICE_NAME wins", env: "text-canary", want: "text-canary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_SERVICE_NAME", tt.env)
			got, ok := newResource("chorus-text").Set().Value("service.name")
			if !ok || got.AsString() != tt.want {
				t.Fatalf("service.name = %q (present %v), want %q", got.AsString(), ok, tt.want)
			}
		})
	}
}
