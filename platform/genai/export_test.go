package genai

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
)

// NewHandlerWithMeter is NewHandler with the meter provider given, so that
// tests read the metrics with their own reader.
func NewHandlerWithMeter(m Modality, log *slog.Logger, mp metric.MeterProvider, routes ...Route) (*Handler, error) {
	return newHandler(m, log, mp, routes...)
}
