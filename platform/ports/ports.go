// Package ports holds where the Chorus servers listen by default: one place
// for the ports and addresses that every main, `chorus up` and the tests
// use.
package ports

import (
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
	Gateway      = 8080
)

// The default listen addresses, Host with each server's port.
var (
	OrchestratorAddr = Addr(Host, Orchestrator)
	TextAddr         = Addr(Host, Text)
	ImageAddr        = Addr(Host, Image)
	AudioAddr        = Addr(Host, Audio)
	GatewayAddr      = Addr(Host, Gateway)
)

// Addr joins host and port into a listen address.
func Addr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
