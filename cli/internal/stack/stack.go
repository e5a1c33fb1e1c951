// Package stack describes the Chorus suite as local processes: which
// binaries run, on which addresses, and how they are wired to each other.
package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/cli/internal/supervise"
	"github.com/chorus-ai/chorus/platform/ports"
)

// The defaults of `chorus up`: platform/ports's, the ports every server
// listens on when started alone.
const (
	DefaultHost         = ports.Host
	DefaultGRPCPortBase = ports.Orchestrator // text, image, audio and embed follow
	DefaultHTTPPort     = ports.Gateway
)

// Services are the binaries of the suite, in start order: the modality
// services first, then the orchestrator that calls them, then the gateway
// that calls everything.
var Services = []string{"text", "image", "audio", "embed", "orchestrator", "gateway"}

// ErrNotReady means the gateway did not report ready in time.
var ErrNotReady = errors.New("the gateway did not become ready")

// Addrs are the listen addresses of the six servers.
type Addrs struct {
	Orchestrator, Text, Image, Audio, Embed string // gRPC, host:port
	Gateway                                 string // HTTP, host:port
}

// DefaultAddrs lays the servers out from a base gRPC port as platform/ports
// does from the orchestrator's (orchestrator base, text base+1, image
// base+2, audio base+3, embed base+4); the gateway on httpPort.
func DefaultAddrs(host string, grpcBase, httpPort int) Addrs {
	at := func(p int) string { return ports.Addr(host, grpcBase+p-ports.Orchestrator) }
	return Addrs{
		Orchestrator: at(ports.Orchestrator),
		Text:         at(ports.Text),
		Image:        at(ports.Image),
		Audio:        at(ports.Audio),
		Embed:        at(ports.Embed),
		Gateway:      ports.Addr(host, httpPort),
	}
}

// GatewayURL is the gateway's base URL.
func (a Addrs) GatewayURL() string { return "http://" + a.Gateway }

func (a Addrs) byName() map[string]string {
	return map[string]string{"text": a.Text, "image": a.Image, "audio": a.Audio, "embed": a.Embed, "orchestrator": a.Orchestrator, "gateway": a.Gateway}
}

// MetricsAddr is where the named server serves GET /metrics: the gateway on
// its HTTP address, a gRPC server on its gRPC port plus
// ports.MetricsOffset; empty (no metrics) when that port would pass 65535.
func (a Addrs) MetricsAddr(name string) string {
	if name == "gateway" {
		return a.Gateway
	}
	addr, err := ports.MetricsAddr(a.byName()[name])
	if err != nil {
		return ""
	}
	return addr
}

// CheckFree reports the addresses something already listens on, so that
// `chorus up` can say which flag to change before it starts anything.
func (a Addrs) CheckFree() error {
	var errs []error
	check := func(what, addr string) {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s on %s: %w", what, addr, err))
			return
		}
		_ = lis.Close()
	}
	for _, name := range Services {
		check(name+" cannot listen", a.byName()[name])
		if m := a.MetricsAddr(name); name != "gateway" && m != "" {
			check(name+" cannot serve metrics", m)
		}
	}
	return errors.Join(errs...)
}

// Specs returns the processes of the suite: each binary from binDir with
// the flags that give it its address and its upstreams. env (nil means
// this process's environment) reaches every child, which is how CHORUS_*
// settings such as CHORUS_OPENAI_BASE_URL reach the services; see
// ScopedEnv for settings meant for one service only. The flags set here
// win over CHORUS_* variables for the same settings.
func Specs(binDir string, a Addrs, env []string) []supervise.Spec {
	if env == nil {
		env = os.Environ()
	}
	upstreams := []string{"-text-addr", a.Text, "-image-addr", a.Image, "-audio-addr", a.Audio, "-embed-addr", a.Embed}
	args := map[string][]string{
		// A local suite serves gRPC reflection, so grpcurl needs no .proto
		// files; a server started on its own does not, unless -reflection.
		"text":         {"-grpc-addr", a.Text, "-metrics-addr", a.MetricsAddr("text"), "-reflection"},
		"image":        {"-grpc-addr", a.Image, "-metrics-addr", a.MetricsAddr("image"), "-reflection"},
		"audio":        {"-grpc-addr", a.Audio, "-metrics-addr", a.MetricsAddr("audio"), "-reflection"},
		"embed":        {"-grpc-addr", a.Embed, "-metrics-addr", a.MetricsAddr("embed"), "-reflection"},
		"orchestrator": append([]string{"-grpc-addr", a.Orchestrator, "-metrics-addr", a.MetricsAddr("orchestrator"), "-reflection"}, upstreams...),
		"gateway":      append([]string{"-http-addr", a.Gateway, "-orchestrator-addr", a.Orchestrator}, upstreams...),
	}
	specs := make([]supervise.Spec, 0, len(Services))
	for _, name := range Services {
		specs = append(specs, supervise.Spec{Name: name, Path: filepath.Join(binDir, name), Args: args[name], Env: ScopedEnv(env, name)})
	}
	return specs
}

// ScopedEnv returns service's environment: env, with every
// CHORUS_<SERVICE>_<SETTING> variable also given as CHORUS_<SETTING>
// (winning over a plain CHORUS_<SETTING>). Settings that two services name
// alike can so differ: CHORUS_TEXT_OPENAI_BASE_URL for the text service,
// CHORUS_IMAGE_OPENAI_BASE_URL for the image service. Variables ending in
// _ADDR are left alone: CHORUS_TEXT_ADDR is the orchestrator's and the
// gateway's -text-addr, not a setting of the text service.
func ScopedEnv(env []string, service string) []string {
	prefix := "CHORUS_" + strings.ToUpper(service) + "_"
	scoped := map[string]string{}
	var order []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" && !strings.HasSuffix(k, "_ADDR") {
			if _, dup := scoped["CHORUS_"+rest]; !dup {
				order = append(order, "CHORUS_"+rest)
			}
			scoped["CHORUS_"+rest] = v
		}
	}
	if len(scoped) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(order))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, over := scoped[k]; !over {
			out = append(out, kv)
		}
	}
	for _, k := range order {
		out = append(out, k+"="+scoped[k])
	}
	return out
}

// CheckBinaries reports the binaries missing from binDir.
func CheckBinaries(binDir string) error {
	var missing []string
	for _, name := range Services {
		st, err := os.Stat(filepath.Join(binDir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing %q (run `make build`, or pass -bin-dir)", binDir, missing)
	}
	return nil
}

// Settled reports whether a /readyz answer (its status code and body) shows
// the suite up: the gateway ready (its core path serving) and every
// upstream answering its health check, SERVING or NOT_SERVING. A service
// that answers NOT_SERVING runs but has no backend that can serve (an image
// service with no model yet): waiting will not change that, and the rest of
// the suite is usable.
func Settled(code int, body []byte) bool {
	if code != http.StatusOK {
		return false
	}
	var r struct {
		Upstreams []struct {
			Status string `json:"status"`
		} `json:"upstreams"`
	}
	if json.Unmarshal(body, &r) != nil || len(r.Upstreams) == 0 {
		return false
	}
	for _, u := range r.Upstreams {
		if u.Status != "SERVING" && u.Status != "NOT_SERVING" {
			return false
		}
	}
	return true
}

// WaitReady polls the gateway's /readyz until it is Settled, ctx ends, or
// stop is closed (the processes died). The error of a timeout carries the
// last answer, which names the upstream that is not ready.
func WaitReady(ctx context.Context, gatewayURL string, stop <-chan struct{}) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if Settled(resp.StatusCode, body) {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else if ctx.Err() == nil {
			// (An error from the deadline itself would hide the last real
			// answer.)
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ErrNotReady, last)
		case <-stop:
			return fmt.Errorf("%w: the processes stopped", ErrNotReady)
		case <-tick.C:
		}
	}
}
