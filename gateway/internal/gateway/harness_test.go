package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/serve"
	"github.com/chorus-ai/chorus/platform/syncio"

	"github.com/chorus-ai/chorus/gateway/internal/gateway"
)

// spans records every span ended in this test binary (the gateway's and the
// upstreams' alike, since they share the process).
var spans = tracetest.NewSpanRecorder()

func TestMain(m *testing.M) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	goleak.VerifyTestMain(m)
}

// testEnv is a gateway in front of real gRPC servers (platform/serve, the
// real platform/genai handler over fake backends, a fake orchestrator), all
// on 127.0.0.1.
type testEnv struct {
	url                 string
	client              *http.Client
	text, image, audio  *genaitest.Backend
	logs                *syncio.Writer
	gateway             *gateway.Gateway
	textAddr, audioAddr string
}

type envOptions struct {
	// config adjusts the gateway's configuration.
	config func(*gateway.Config)
	// audioAddr replaces the audio upstream.
	audioAddr string
	// text adds routes to the text service, after the genaitest backend.
	text []genai.Route
	// image replaces the image service's backend.
	image genai.Backend
	// upstreamAuth is every upstream's key configuration.
	upstreamAuth apikey.Config
}

func newTestServer(tb testing.TB, opts ...envOptions) *testEnv {
	tb.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	env := &testEnv{
		text:  genaitest.NewBackend("echo", "step", "hold", "break", "trace"),
		image: genaitest.NewBackend("fake-image"),
		audio: genaitest.NewBackend("voice", "hold"),
		logs:  &syncio.Writer{},
	}
	startGenai := func(tb testing.TB, m genai.Modality, routes ...genai.Route) string {
		return startGenaiWith(tb, o.upstreamAuth, m, routes...)
	}
	startServer := func(tb testing.TB, register func(*serve.Server)) string {
		return startServerWith(tb, o.upstreamAuth, register)
	}
	env.textAddr = startGenai(tb, genai.Text, append([]genai.Route{{Backend: env.text, Concurrency: 4}}, o.text...)...)
	var imageBackend genai.Backend = env.image
	if o.image != nil {
		imageBackend = o.image
	}
	imageAddr := startGenai(tb, genai.Image, genai.Route{Backend: imageBackend})
	env.audioAddr = o.audioAddr
	if env.audioAddr == "" {
		// One slot and no queue: a single held request fills it.
		env.audioAddr = startGenai(tb, genai.Audio, genai.Route{Backend: env.audio, Concurrency: 1, Queue: -1})
	}
	embedAddr := startServer(tb, func(s *serve.Server) {
		h, err := genai.NewEmbedHandler(discard(), genai.EmbedRoute{Backend: genaitest.NewEmbedBackend("fake-embed")})
		if err != nil {
			tb.Fatalf("genai.NewEmbedHandler: %v", err)
		}
		tb.Cleanup(func() { h.Close() })
		genaiv1.RegisterEmbeddingServiceServer(s.GRPC(), h)
		s.SetServing(genaiv1.EmbeddingService_ServiceDesc.ServiceName)
	})
	orchAddr := startServer(tb, func(s *serve.Server) {
		orchestratorv1.RegisterOrchestratorServiceServer(s.GRPC(), &fakeOrchestrator{})
		s.SetServing(orchestratorv1.OrchestratorService_ServiceDesc.ServiceName)
	})

	cfg := gateway.Config{
		TextAddr:         env.textAddr,
		ImageAddr:        imageAddr,
		AudioAddr:        env.audioAddr,
		EmbedAddr:        embedAddr,
		OrchestratorAddr: orchAddr,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.New(cfg, log)
	if err != nil {
		tb.Fatalf("gateway.New: %v", err)
	}
	srv := httptest.NewServer(g.Handler())
	tb.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	env.url, env.client, env.gateway = srv.URL, srv.Client(), g
	return env
}

// startGenai runs the real Generate handler for modality m over routes and
// returns its address.
func startGenai(tb testing.TB, m genai.Modality, routes ...genai.Route) string {
	tb.Helper()
	return startGenaiWith(tb, apikey.Config{}, m, routes...)
}

// startGenaiWith is startGenai on a server with auth's keys.
func startGenaiWith(tb testing.TB, auth apikey.Config, m genai.Modality, routes ...genai.Route) string {
	tb.Helper()
	h, err := genai.NewHandler(m, discard(), routes...)
	if err != nil {
		tb.Fatalf("genai.NewHandler: %v", err)
	}
	return startServerWith(tb, auth, func(s *serve.Server) { s.SetServing(genai.Register(s.GRPC(), h)) })
}

// startServer runs a platform/serve server set up by register until the
// test ends.
func startServer(tb testing.TB, register func(*serve.Server)) string {
	tb.Helper()
	return startServerWith(tb, apikey.Config{}, register)
}

// startServerWith is startServer on a server with auth's keys.
func startServerWith(tb testing.TB, auth apikey.Config, register func(*serve.Server)) string {
	tb.Helper()
	s, err := serve.New(serve.Config{Addr: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second, OnPanic: serve.FailOnPanic(tb), Auth: auth}, discard())
	if err != nil {
		tb.Fatalf("serve.New: %v", err)
	}
	register(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("upstream Run: %v", err)
		}
	})
	return s.Addr().String()
}

// startHealthOnly runs a gRPC server with nothing but a health service the
// test controls, standing in for an upstream whose health flips.
func startHealthOnly(tb testing.TB) (addr string, h *health.Server) {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := grpc.NewServer()
	h = health.NewServer()
	healthpb.RegisterHealthServer(s, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	tb.Cleanup(func() {
		s.Stop()
		<-done
	})
	return lis.Addr().String(), h
}

// deadAddr returns an address nothing listens on.
func deadAddr(tb testing.TB) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// do sends one request and returns the response with its body read.
func (env *testEnv) do(tb testing.TB, method, path, body string, header ...string) (*http.Response, []byte) {
	tb.Helper()
	resp := env.send(tb, context.Background(), method, path, body, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

func (env *testEnv) send(tb testing.TB, ctx context.Context, method, path, body string, header ...string) *http.Response {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, env.url+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := env.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// errorBody is the google.rpc.Status JSON of an error response, with the
// details the tests look at.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string            `json:"@type"`
		Reason          string            `json:"reason"`
		Domain          string            `json:"domain"`
		Metadata        map[string]string `json:"metadata"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

func decodeError(tb testing.TB, b []byte) errorBody {
	tb.Helper()
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil {
		tb.Fatalf("error body is not JSON: %v\n%s", err, b)
	}
	return e
}

func (e errorBody) reason() string {
	for _, d := range e.Details {
		if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" {
			return d.Reason
		}
	}
	return ""
}

func (e errorBody) fields() []string {
	var fs []string
	for _, d := range e.Details {
		for _, v := range d.FieldViolations {
			fs = append(fs, v.Field)
		}
	}
	return fs
}

// ndjson splits a streaming body into its lines, checking each is JSON.
func ndjson(tb testing.TB, b []byte) []string {
	tb.Helper()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			tb.Fatalf("stream line is not JSON: %s", sc.Bytes())
		}
		lines = append(lines, sc.Text())
	}
	return lines
}

// checkGolden compares a JSON document with testdata/name.json, after
// normalising whitespace (protojson varies it on purpose). Run the tests
// with CHORUS_UPDATE_GOLDEN=1 to rewrite the files.
func checkGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, got); err != nil {
		tb.Fatalf("golden %s: not JSON: %v\n%s", name, err, got)
	}
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		tb.Fatal(err)
	}
	indented.WriteByte('\n')
	path := filepath.Join("testdata", name+".json")
	if os.Getenv("CHORUS_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, indented.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (CHORUS_UPDATE_GOLDEN=1 creates it)", err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		tb.Errorf("response differs from %s (CHORUS_UPDATE_GOLDEN=1 rewrites it)\ngot:\n%s\nwant:\n%s", path, indented.Bytes(), want)
	}
}

// checkGoldenLines snapshots an NDJSON stream as a JSON array of its lines.
func checkGoldenLines(tb testing.TB, name string, lines []string) {
	tb.Helper()
	checkGolden(tb, name, []byte("["+strings.Join(lines, ",")+"]"))
}
