// Package composetest runs docker-compose.yaml under Docker and tests the
// stack through the gateway and Jaeger on the host (`make test-compose`).
// It has only tests.
package composetest
