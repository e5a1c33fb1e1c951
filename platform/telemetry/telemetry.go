// Package telemetry sets up tracing (OpenTelemetry, exported over OTLP),
// metrics (OpenTelemetry, scraped by Prometheus) and structured logs that
// carry trace ids, the same way in every Chorus server.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Setup installs the global tracer provider, meter provider (read by
// MetricsHandler) and W3C propagators for the named service. Spans are exported over OTLP only when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) variable is set;
// OTEL_EXPORTER_OTLP_PROTOCOL picks "grpc" (default) or "http/protobuf",
// and the exporters read the other OTEL_* variables themselves. The
// returned function flushes and stops the exporters.
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	metrics, err := NewMetrics(service)
	if err != nil {
		return nil, err
	}
	install(metrics)
	shutdownTraces, err := setupTracing(ctx, service)
	if err != nil {
		return nil, errors.Join(err, metrics.Provider.Shutdown(ctx))
	}
	return func(ctx context.Context) error {
		return errors.Join(shutdownTraces(ctx), metrics.Provider.Shutdown(ctx))
	}, nil
}

func setupTracing(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		// Still record spans (so logs get trace ids and context flows),
		// but export nothing.
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(newResource(service)))
		otel.SetTracerProvider(tp)
		return tp.Shutdown, nil
	}
	var exp sdktrace.SpanExporter
	switch proto := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")); proto {
	case "", "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported (use grpc or http/protobuf)", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(newResource(service)))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// newResource describes this process: service.name is service unless
// OTEL_SERVICE_NAME says otherwise, plus OTEL_RESOURCE_ATTRIBUTES and the
// SDK's own attributes.
func newResource(service string) *resource.Resource {
	r, err := resource.New(context.Background(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(service)),
		// Detectors merge in order: the environment wins.
		resource.WithFromEnv(),
	)
	if err != nil && r == nil {
		return resource.NewSchemaless(semconv.ServiceName(service))
	}
	return r
}

// NewLogger returns a JSON slog logger writing to w at level ("debug",
// "info", "warn" or "error"), tagged with the service name, that adds
// trace_id and span_id to every record logged with a traced context.
func NewLogger(w io.Writer, service, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("telemetry: log level %q: use debug, info, warn or error", level)
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})
	return slog.New(traceHandler{h}).With("service", service), nil
}

// traceHandler adds the current span's ids to each record.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
