package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Health checks one server once: a gRPC server through grpc.health.v1, or
// an HTTP URL that must answer 200. It exists for container health checks,
// since the images carry no curl or grpc_health_probe. With neither flag it
// checks the server of its own container, found from the address that
// server listens on: CHORUS_HTTP_ADDR (the gateway: its /readyz), else
// CHORUS_GRPC_ADDR; so every image carries the same health check.
func Health(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "health", "[-grpc HOST:PORT | -http URL] [flags]",
		"Exits 0 when the server is healthy: a gRPC server that answers SERVING to\n"+
			"grpc.health.v1.Health/Check, or an HTTP URL that answers 200. Without -grpc\n"+
			"and -http, the server that CHORUS_HTTP_ADDR or CHORUS_GRPC_ADDR names, on loopback.")
	grpcAddr := fs.String("grpc", "", "gRPC server to check, host:port")
	service := fs.String("service", "", "gRPC service name to ask about; empty asks about the server as a whole")
	httpURL := fs.String("http", "", "HTTP URL to GET, for example http://127.0.0.1:8080/readyz")
	timeout := fs.Duration("timeout", 3*time.Second, "how long the check may take")
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if *grpcAddr == "" && *httpURL == "" {
		*grpcAddr, *httpURL = ownServer(env)
	}
	if len(pos) > 0 || (*grpcAddr == "") == (*httpURL == "") {
		return usageError(env, fs, "give exactly one of -grpc and -http (or set CHORUS_HTTP_ADDR or CHORUS_GRPC_ADDR)")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *grpcAddr != "" {
		return checkGRPC(ctx, env, *grpcAddr, *service)
	}
	return checkHTTP(ctx, env, *httpURL)
}

func checkGRPC(ctx context.Context, env Env, addr, service string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s: %s", addr, resp.GetStatus())
	}
	fmt.Fprintf(env.Stdout, "%s: SERVING\n", addr)
	return nil
}

func checkHTTP(ctx context.Context, env Env, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status + ": " + string(body))
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", url, resp.Status)
	return nil
}

// ownServer is what Health checks without flags: the server whose listen
// address the environment gives, reached on loopback.
func ownServer(env Env) (grpcAddr, httpURL string) {
	local := func(addr string) string {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return ""
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port)
	}
	if a := local(env.Getenv("CHORUS_HTTP_ADDR")); a != "" {
		return "", "http://" + a + "/readyz"
	}
	return local(env.Getenv("CHORUS_GRPC_ADDR")), ""
}
