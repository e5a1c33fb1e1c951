// Package dial opens traced gRPC client connections to other Chorus servers.
package dial

import (
	"fmt"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// retryPolicy retries calls that fail with UNAVAILABLE before any response
// arrived (a peer restarting, a connection refused): safe for every Chorus
// RPC, since none had started work. Streams are retried only until their
// first message.
const retryPolicy = `,
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }`

// serviceConfig is the connections' service config; %s is the retry policy
// or nothing. retryThrottling stops retries once failures outnumber
// successes (each failure takes a token, each success gives back 0.1;
// retries stop below half of 10): a peer that stays down is asked once per
// call, not four times.
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
  "methodConfig": [{
    "name": [{}]%s
  }]
}`

// Reconnect is the backoff between attempts to reconnect to a peer that
// went away: gRPC's default grows to 120 s, so a service restarted after a
// crash could wait two minutes for its clients; capped at 2 s they are back
// within about 2 s of it serving again.
var Reconnect = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}

// Dial returns a client connection to target (a host:port, or any gRPC
// target such as dns:///text:50051 for client-side load balancing over a
// headless Service). The connection is lazy: it connects on first use.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(serviceConfig, retryPolicy)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: Reconnect, MinConnectTimeout: 5 * time.Second}),
		// A peer that vanished without closing the connection (a node lost,
		// a partition) is noticed within about 40 s, not at the next TCP
		// timeout.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

// WithoutRetries is a Dial option for a client that retries calls itself
// (the orchestrator's steps, runner.Retry): the connection retries nothing,
// so the attempts do not multiply (4 here times 3 there would call a
// failing service 12 times for one item, each perhaps billed).
func WithoutRetries() grpc.DialOption {
	return grpc.WithDefaultServiceConfig(fmt.Sprintf(serviceConfig, ""))
}
