// Package jaegertest checks tracing without Docker: it runs the Jaeger v2
// binary that `make jaeger` builds as a process on loopback, starts the
// suite as processes exporting to it, runs a pipeline through the gateway
// and finds the run's whole trace through Jaeger's query API. It has only
// tests.
package jaegertest
