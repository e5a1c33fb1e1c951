package stack

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/platform/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chorus up with no flags puts every server where it listens when started
// alone, and -grpc-port moves the gRPC servers together.
func TestDefaultAddrsMatchTheServers(t *testing.T) {
	got := DefaultAddrs(DefaultHost, DefaultGRPCPortBase, DefaultHTTPPort)
	want := Addrs{Orchestrator: ports.OrchestratorAddr, Text: ports.TextAddr, Image: ports.ImageAddr, Audio: ports.AudioAddr, Embed: ports.EmbedAddr, Gateway: ports.GatewayAddr}
	if got != want {
		t.Errorf("DefaultAddrs = %+v, want %+v", got, want)
	}
	moved := DefaultAddrs("127.0.0.1", 60000, 9000)
	want = Addrs{Orchestrator: "127.0.0.1:60000", Text: "127.0.0.1:60001", Image: "127.0.0.1:60002", Audio: "127.0.0.1:60003", Embed: "127.0.0.1:60004", Gateway: "127.0.0.1:9000"}
	if moved != want {
		t.Errorf("DefaultAddrs from 60000 = %+v, want %+v", moved, want)
	}
}

func TestSpecsWireTheServices(t *testing.T) {
	a := DefaultAddrs("127.0.0.1", 50050, 8080)
	got := map[string]string{}
	for _, s := range Specs("/opt/chorus/bin", a, []string{"A=1"}) {
		got[s.Name] = s.Path + " " + strings.Join(s.Args, " ")
		if len(s.Env) != 1 {
			t.Errorf("%s: env %q, want the given environment", s.Name, s.Env)
		}
	}
	want := map[string]string{
		"text":         "/opt/chorus/bin/text -grpc-addr 127.0.0.1:50051 -metrics-addr 127.0.0.1:51051 -reflection",
		"image":        "/opt/chorus/bin/image -grpc-addr 127.0.0.1:50052 -metrics-addr 127.0.0.1:51052 -reflection",
		"audio":        "/opt/chorus/bin/audio -grpc-addr 127.0.0.1:50053 -metrics-addr 127.0.0.1:51053 -reflection",
		"embed":        "/opt/chorus/bin/embed -grpc-addr 127.0.0.1:50054 -metrics-addr 127.0.0.1:51054 -reflection",
		"orchestrator": "/opt/chorus/bin/orchestrator -grpc-addr 127.0.0.1:50050 -metrics-addr 127.0.0.1:51050 -reflection -text-addr 127.0.0.1:50051 -image-addr 127.0.0.1:50052 -audio-addr 127.0.0.1:50053 -embed-addr 127.0.0.1:50054",
		"gateway":      "/opt/chorus/bin/gateway -http-addr 127.0.0.1:8080 -orchestrator-addr 127.0.0.1:50050 -text-addr 127.0.0.1:50051 -image-addr 127.0.0.1:50052 -audio-addr 127.0.0.1:50053 -embed-addr 127.0.0.1:50054",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s:\n got %s\nwant %s", name, got[name], w)
		}
	}
	if a.GatewayURL() != "http://127.0.0.1:8080" {
		t.Errorf("GatewayURL = %s", a.GatewayURL())
	}
}

func TestMetricsAddrs(t *testing.T) {
	a := DefaultAddrs("127.0.0.1", 60000, 9000)
	tests := []struct{ name, want string }{
		{name: "orchestrator", want: "127.0.0.1:61000"},
		{name: "text", want: "127.0.0.1:61001"},
		{name: "image", want: "127.0.0.1:61002"},
		{name: "audio", want: "127.0.0.1:61003"},
		{name: "embed", want: "127.0.0.1:61004"},
		{name: "gateway", want: "127.0.0.1:9000"},
	}
	for _, tt := range tests {
		if got := a.MetricsAddr(tt.name); got != tt.want {
			t.Errorf("MetricsAddr(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := DefaultAddrs("127.0.0.1", 65000, 9000).MetricsAddr("text"); got != "" {
		t.Errorf("MetricsAddr(text) from 65000 = %q, want none", got)
	}
}

func TestCheckFreeNamesTheBusyService(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	port := lis.Addr().(*net.TCPAddr).Port
	a := Addrs{Orchestrator: "127.0.0.1:0", Text: "127.0.0.1:0", Image: "127.0.0.1:0", Audio: "127.0.0.1:0", Gateway: lis.Addr().String()}
	err = a.CheckFree()
	if err == nil || !strings.Contains(err.Error(), "gateway cannot listen on 127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("CheckFree = %v, want the gateway named", err)
	}
	a.Gateway = "127.0.0.1:0"
	if err := a.CheckFree(); err != nil {
		t.Errorf("CheckFree = %v on free ports", err)
	}
	// A busy metrics port is named too.
	if port <= 1000 {
		return
	}
	a.Text = "127.0.0.1:" + strconv.Itoa(port-1000)
	if err := a.CheckFree(); err == nil || !strings.Contains(err.Error(), "text cannot serve metrics on "+lis.Addr().String()) {
		t.Errorf("CheckFree = %v, want text's metrics port named", err)
	}
}

func TestWaitReady(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		switch n := calls.Add(1); {
		case n < 3:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"ready":false,"upstreams":[{"name":"audio","ready":false}]}`))
		case n == 3:
			// The core path is up, audio is still starting: not settled.
			w.Write([]byte(`{"ready":true,"degraded":true,"upstreams":[{"name":"text","status":"SERVING"},{"name":"audio","status":"UNAVAILABLE"}]}`))
		default:
			// Image answers but has no model: settled all the same.
			w.Write([]byte(`{"ready":true,"degraded":true,"upstreams":[{"name":"text","status":"SERVING"},{"name":"image","status":"NOT_SERVING"},{"name":"audio","status":"SERVING"}]}`))
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := WaitReady(ctx, srv.URL, nil); err != nil {
		t.Fatalf("WaitReady = %v", err)
	}
	if calls.Load() != 4 {
		t.Errorf("polled %d times, want 4 (settled once every upstream answered)", calls.Load())
	}

	t.Run("timeout reports the last answer", func(t *testing.T) {
		calls.Store(-1 << 20)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := WaitReady(ctx, srv.URL, nil)
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), `HTTP 503 {"ready":false,"upstreams":[{"name":"audio"`) {
			t.Errorf("WaitReady = %v", err)
		}
	})
	t.Run("stopped processes end the wait", func(t *testing.T) {
		stop := make(chan struct{})
		close(stop)
		err := WaitReady(context.Background(), "http://127.0.0.1:1", stop)
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("WaitReady = %v", err)
		}
	})
}

func TestScopedEnv(t *testing.T) {
	env := []string{
		"PATH=/bin",
		"CHORUS_OPENAI_BASE_URL=http://shared/v1",
		"CHORUS_TEXT_OPENAI_BASE_URL=http://text-only/v1",
		"CHORUS_IMAGE_OPENAI_MODELS=dall-e-3",
		"CHORUS_TEXT_ADDR=10.0.0.1:1",
		"CHORUS_TEXT_=odd",
	}
	for _, tc := range []struct {
		service string
		want    []string
	}{
		{service: "text", want: []string{"PATH=/bin", "CHORUS_TEXT_OPENAI_BASE_URL=http://text-only/v1", "CHORUS_IMAGE_OPENAI_MODELS=dall-e-3", "CHORUS_TEXT_ADDR=10.0.0.1:1", "CHORUS_TEXT_=odd", "CHORUS_OPENAI_BASE_URL=http://text-only/v1"}},
		{service: "image", want: append(slices.Clone(env), "CHORUS_OPENAI_MODELS=dall-e-3")},
		{service: "audio", want: env},
	} {
		if got := ScopedEnv(env, tc.service); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.service, got, tc.want)
		}
	}
}
