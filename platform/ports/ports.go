// Package ports holds where the Chorus servers listen by default: one place
// for the ports and addresses that every main, `chorus up` and the tests
// use.
package ports

import (
	"fmt"
	"net"
	"strconv"
)

// Host is the interface every server listens on by default: loopback, so a
// server started with no flags is not reachable from other machines.
const Host = "127.0.0.1"

// The default ports. The gRPC servers sit side by side from the
// orchestrator's port up (`chorus up -grpc-port` moves them together); the
// gateway serves HTTP.
const (
	Orchestrator = 50050
	Text         = Orchestrator + 1
	Image        = Orchestrator + 2
	Audio        = Orchestrator + 3
	Embed        = Orchestrator + 4
	Gateway      = 8080
)

// MetricsOffset places a gRPC server's Prometheus endpoint: its metrics
// port is its gRPC port plus MetricsOffset (51050 to 51054 by default), so
// that moving the gRPC ports (`chorus up -grpc-port`) moves them too, and
// two suites on different ports never share one. (9090, a common choice,
// is Prometheus's own port.) The gateway serves /metrics on its HTTP port.
const MetricsOffset = 1000

// The default listen addresses, Host with each server's port.
var (
	OrchestratorAddr = Addr(Host, Orchestrator)
	TextAddr         = Addr(Host, Text)
	ImageAddr        = Addr(Host, Image)
	AudioAddr        = Addr(Host, Audio)
	EmbedAddr        = Addr(Host, Embed)
	GatewayAddr      = Addr(Host, Gateway)

	OrchestratorMetricsAddr = Addr(Host, Orchestrator+MetricsOffset)
	TextMetricsAddr         = Addr(Host, Text+MetricsOffset)
	ImageMetricsAddr        = Addr(Host, Image+MetricsOffset)
	AudioMetricsAddr        = Addr(Host, Audio+MetricsOffset)
	EmbedMetricsAddr        = Addr(Host, Embed+MetricsOffset)
)

// Addr joins host and port into a listen address.
func Addr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// MetricsAddr is the metrics address of the gRPC server listening on
// grpcAddr: the same host, the port MetricsOffset higher. Port 0 (any free
// port) stays 0.
func MetricsAddr(grpcAddr string) (string, error) {
	host, p, err := net.SplitHostPort(grpcAddr)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port+MetricsOffset > 65535 {
		return "", fmt.Errorf("ports: %q has no port with room for a metrics port %d above it", grpcAddr, MetricsOffset)
	}
	if port == 0 {
		return grpcAddr, nil
	}
	return Addr(host, port+MetricsOffset), nil
}
