package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/processtest"
)

// server is what the compose file and the Dockerfile's build target of the
// same name must agree on for one Chorus server; its ports are the defaults
// of platform/ports, so the stack listens where every other way of running
// Chorus does.
type server struct {
	name      string
	flagSrc   []string // the files that declare the server's flags, which the CHORUS_* variables set
	addrVar   string   // the variable that sets its listen address, and so what `chorus health` checks
	port      string
	upstreams map[string]string
	dependsOn []string
}

// upstream is a server's address inside the stack: its service name and
// its default port.
func upstream(name string, port int) string { return name + ":" + strconv.Itoa(port) }

// The shared flags of the modality services, and of their OpenAI-compatible
// backends.
const (
	modalityFlags = "platform/serve/modality.go"
	openaiFlags   = "platform/openaiapi/client.go"
)

var servers = []server{
	{name: "text", flagSrc: []string{"services/text/internal/server/config.go", "services/text/internal/backend/openai/openai.go", openaiFlags, modalityFlags}, addrVar: "CHORUS_GRPC_ADDR", port: strconv.Itoa(ports.Text), dependsOn: []string{"jaeger"}},
	{name: "image", flagSrc: []string{"services/image/internal/server/config.go", "services/image/internal/backend/openai/openai.go", openaiFlags, modalityFlags}, addrVar: "CHORUS_GRPC_ADDR", port: strconv.Itoa(ports.Image), dependsOn: []string{"jaeger"}},
	{name: "audio", flagSrc: []string{"services/audio/internal/server/config.go", modalityFlags}, addrVar: "CHORUS_GRPC_ADDR", port: strconv.Itoa(ports.Audio), dependsOn: []string{"jaeger"}},
	{name: "embed", flagSrc: []string{"services/embed/internal/server/config.go", "services/embed/internal/backend/openai/openai.go", openaiFlags, modalityFlags}, addrVar: "CHORUS_GRPC_ADDR", port: strconv.Itoa(ports.Embed), dependsOn: []string{"jaeger"}},
	{
		name: "orchestrator", flagSrc: []string{"orchestrator/internal/service/config.go"}, addrVar: "CHORUS_GRPC_ADDR", port: strconv.Itoa(ports.Orchestrator),
		upstreams: map[string]string{"CHORUS_TEXT_ADDR": upstream("text", ports.Text), "CHORUS_IMAGE_ADDR": upstream("image", ports.Image), "CHORUS_AUDIO_ADDR": upstream("audio", ports.Audio), "CHORUS_EMBED_ADDR": upstream("embed", ports.Embed)},
		dependsOn: []string{"text", "image", "audio", "embed"},
	},
	{
		name: "gateway", flagSrc: []string{"gateway/internal/gateway/server.go"}, addrVar: "CHORUS_HTTP_ADDR", port: strconv.Itoa(ports.Gateway),
		upstreams: map[string]string{"CHORUS_TEXT_ADDR": upstream("text", ports.Text), "CHORUS_IMAGE_ADDR": upstream("image", ports.Image), "CHORUS_AUDIO_ADDR": upstream("audio", ports.Audio), "CHORUS_EMBED_ADDR": upstream("embed", ports.Embed), "CHORUS_ORCHESTRATOR_ADDR": upstream("orchestrator", ports.Orchestrator)},
		dependsOn: []string{"embed", "orchestrator"},
	},
}

// load loads and validates a compose file as `docker compose` would, with
// an empty environment so that the result does not depend on the shell.
func load(tb testing.TB, root, file string, env ...string) (*types.Project, error) {
	tb.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(append([]string{}, env...)),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestComposeFile(t *testing.T) {
	root := processtest.RepoRoot(t)
	p, err := load(t, root, filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	if p.Name != "chorus" {
		t.Errorf("project name %q, want chorus", p.Name)
	}
	want := []string{"audio", "embed", "gateway", "image", "jaeger", "orchestrator", "text"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services %q, want %q", got, want)
	}

	jaeger := p.Services["jaeger"]
	if !strings.HasPrefix(jaeger.Image, "jaegertracing/jaeger:2.") {
		t.Errorf("jaeger image %q, want jaegertracing/jaeger:2.x", jaeger.Image)
	}
	if got := published(jaeger); !slices.Equal(got, []string{"127.0.0.1:16686->16686", "127.0.0.1:4317->4317", "127.0.0.1:4318->4318"}) {
		t.Errorf("jaeger ports %q", got)
	}
	if got := published(p.Services["gateway"]); !slices.Equal(got, []string{"127.0.0.1:8080->8080"}) {
		t.Errorf("gateway ports %q, want 8080 published on loopback", got)
	}

	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s := p.Services[srv.name]
			if s.Build == nil || s.Build.Context != root || s.Build.Dockerfile != "Dockerfile" || s.Build.Target != srv.name {
				t.Errorf("build %+v, want context %s, the Dockerfile there and its target %s", s.Build, root, srv.name)
			}
			env := map[string]string{}
			for k, v := range s.Environment {
				if v != nil {
					env[k] = *v
				}
			}
			if env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://jaeger:4317" {
				t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT = %q", env["OTEL_EXPORTER_OTLP_ENDPOINT"])
			}
			if want := "0.0.0.0:" + srv.port; env[srv.addrVar] != want {
				t.Errorf("%s = %q, want %q (reachable from the other containers)", srv.addrVar, env[srv.addrVar], want)
			}
			for k, want := range srv.upstreams {
				if env[k] != want {
					t.Errorf("%s = %q, want %q", k, env[k], want)
				}
			}
			// Without flags, chorus health checks the server srv.addrVar names.
			if s.HealthCheck == nil || !slices.Equal([]string(s.HealthCheck.Test), []string{"CMD", "/usr/local/bin/chorus", "health"}) {
				t.Errorf("healthcheck %+v, want chorus health", s.HealthCheck)
			}
			var deps []string
			for name, d := range s.DependsOn {
				deps = append(deps, name)
				wantCond := types.ServiceConditionHealthy
				if name == "jaeger" {
					wantCond = types.ServiceConditionStarted
				}
				if d.Condition != wantCond {
					t.Errorf("depends_on %s: condition %q, want %q", name, d.Condition, wantCond)
				}
			}
			if !slices.Equal(sorted(deps), sorted(srv.dependsOn)) {
				t.Errorf("depends_on %q, want %q", deps, srv.dependsOn)
			}
			if want := "chorus/" + srv.name + ":latest"; s.Image != want {
				t.Errorf("image %q, want %q (the tag `make images` builds)", s.Image, want)
			}
			if s.Restart != types.RestartPolicyUnlessStopped {
				t.Errorf("restart %q, want %q (a crashed server comes back by itself)", s.Restart, types.RestartPolicyUnlessStopped)
			}
			checkFlags(t, root, srv, s.Environment)
			checkDockerfile(t, root, srv)
		})
	}
}

// checkFlags checks that every CHORUS_* variable the compose file sets is
// a flag of the server (config.Parse: CHORUS_TEXT_ADDR sets -text-addr).
func checkFlags(t *testing.T, root string, srv server, env types.MappingWithEquals) {
	t.Helper()
	var src []byte
	for _, f := range srv.flagSrc {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			return
		}
		src = append(src, b...)
	}
	for k := range env {
		if !strings.HasPrefix(k, "CHORUS_") {
			continue
		}
		flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "CHORUS_")), "_", "-")
		if !strings.Contains(string(src), `"`+flag+`"`) {
			t.Errorf("%s sets %s, but none of %q declares a -%s flag", srv.name, k, srv.flagSrc, flag)
		}
	}
}

// checkDockerfile checks that the Dockerfile at the root has a build target
// for the server, which listens and exposes the port the compose file uses
// and runs the server, and that the Dockerfile says where its base images
// come from and checks health with `chorus health`.
func checkDockerfile(t *testing.T, root string, srv server) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Errorf("Dockerfile: %v", err)
		return
	}
	df := string(b)
	if !strings.HasPrefix(df, "#") || !strings.Contains(strings.ReplaceAll(df, "\n# ", " "), "must be available locally") {
		t.Error("Dockerfile: the leading comment must say that the base images must be available locally")
	}
	if !strings.Contains(df, `HEALTHCHECK`) || strings.Count(df, `CMD ["/usr/local/bin/chorus", "health"]`) != strings.Count(df, "HEALTHCHECK") {
		t.Error(`Dockerfile: every HEALTHCHECK must be CMD ["/usr/local/bin/chorus", "health"]`)
	}
	stage := regexp.MustCompile(`(?ms)^FROM \S+ AS ` + srv.name + `\n(.*?)(?:^FROM |\z)`).FindStringSubmatch(df)
	if stage == nil {
		t.Errorf("Dockerfile has no build target %s", srv.name)
		return
	}
	for _, want := range []string{
		"ENV " + srv.addrVar + "=0.0.0.0:" + srv.port,
		// Listening on every interface without API keys is refused
		// unless allowed explicitly (platform/apikey).
		"ENV CHORUS_ALLOW_INSECURE_BIND=true",
		"EXPOSE " + srv.port,
		`ENTRYPOINT ["/usr/local/bin/` + srv.name + `"]`,
	} {
		if !strings.Contains(stage[1], want) {
			t.Errorf("Dockerfile target %s lacks %s", srv.name, want)
		}
	}
}

func TestComposeOpenAISettings(t *testing.T) {
	root := processtest.RepoRoot(t)
	for _, tc := range []struct {
		name                string
		env                 []string
		wantText, wantImage string
	}{
		{name: "unset", wantText: "", wantImage: ""},
		{name: "shared", env: []string{"CHORUS_OPENAI_BASE_URL=http://llm:8000/v1"}, wantText: "http://llm:8000/v1", wantImage: "http://llm:8000/v1"},
		{
			name:     "per service",
			env:      []string{"CHORUS_OPENAI_BASE_URL=http://shared/v1", "CHORUS_TEXT_OPENAI_BASE_URL=http://host.docker.internal:11434/v1"},
			wantText: "http://host.docker.internal:11434/v1", wantImage: "http://shared/v1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := load(t, root, filepath.Join(root, "docker-compose.yaml"), tc.env...)
			if err != nil {
				t.Fatal(err)
			}
			for svc, want := range map[string]string{"text": tc.wantText, "image": tc.wantImage} {
				got := p.Services[svc].Environment["CHORUS_OPENAI_BASE_URL"]
				if got == nil || *got != want {
					t.Errorf("%s: CHORUS_OPENAI_BASE_URL = %v, want %q", svc, got, want)
				}
			}
			if _, ok := p.Services["audio"].Environment["CHORUS_OPENAI_BASE_URL"]; ok {
				t.Error("audio gets OpenAI settings it has no flags for")
			}
			// The embedding service takes only its own (an embeddings server
			// is rarely the text service's).
			if got := p.Services["embed"].Environment["CHORUS_OPENAI_BASE_URL"]; got == nil || *got != "" {
				t.Errorf("embed: CHORUS_OPENAI_BASE_URL = %v, want empty", got)
			}
		})
	}
}

// TestComposeHostPorts checks that the published ports move with their
// variables (a second stack, or the compose test, beside a running one),
// and that images take CHORUS_IMAGE_TAG.
func TestComposeHostPorts(t *testing.T) {
	root := processtest.RepoRoot(t)
	p, err := load(t, root, filepath.Join(root, "docker-compose.yaml"),
		"CHORUS_GATEWAY_PORT=18080", "CHORUS_JAEGER_UI_PORT=26686", "CHORUS_JAEGER_OTLP_PORT=24317",
		"CHORUS_JAEGER_OTLP_HTTP_PORT=24318", "CHORUS_IMAGE_TAG=dev")
	if err != nil {
		t.Fatal(err)
	}
	if got := published(p.Services["gateway"]); !slices.Equal(got, []string{"127.0.0.1:18080->8080"}) {
		t.Errorf("gateway ports %q", got)
	}
	if got := published(p.Services["jaeger"]); !slices.Equal(got, []string{"127.0.0.1:24317->4317", "127.0.0.1:24318->4318", "127.0.0.1:26686->16686"}) {
		t.Errorf("jaeger ports %q", got)
	}
	if got := p.Services["text"].Image; got != "chorus/text:dev" {
		t.Errorf("text image %q, want chorus/text:dev", got)
	}
}

// TestJaegerVersion checks that the Jaeger image the compose file names is
// the release that deploy/tools/jaeger builds from the Go module (Jaeger
// tags each release v1.N.0 for the module and v2.(N-63).0 for the binary
// and image; `make images` wraps that build under the compose file's tag).
func TestJaegerVersion(t *testing.T) {
	root := processtest.RepoRoot(t)
	p, err := load(t, root, filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "deploy/tools/jaeger/go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/jaegertracing/jaeger v1\.(\d+)\.0\b`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("deploy/tools/jaeger/go.mod requires no github.com/jaegertracing/jaeger v1.N.0")
	}
	minor, _ := strconv.Atoi(string(m[1]))
	want := "jaegertracing/jaeger:2." + strconv.Itoa(minor-63) + ".0"
	if got := p.Services["jaeger"].Image; got != want {
		t.Errorf("jaeger image %q, but deploy/tools/jaeger builds module v1.%d.0, release %s", got, minor, want)
	}
}

func TestComposeValidationCatchesMistakes(t *testing.T) {
	root := processtest.RepoRoot(t)
	orig, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new string
		wantErr        string
	}{
		{name: "misspelt service key", old: "    healthcheck: *healthcheck\n", new: "    helthcheck: *healthcheck\n", wantErr: "helthcheck"},
		{name: "misspelt top-level key", old: "\nservices:\n", new: "\nservice:\n", wantErr: "service"},
		{name: "unknown dependency", old: "      orchestrator:\n        condition: service_healthy", new: "      orchestrater:\n        condition: service_healthy", wantErr: "orchestrater"},
		{name: "bad condition", old: "      orchestrator:\n        condition: service_healthy", new: "      orchestrator:\n        condition: healthy", wantErr: "condition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(orig), tc.old) {
				t.Fatalf("docker-compose.yaml no longer contains %q", tc.old)
			}
			bad := strings.Replace(string(orig), tc.old, tc.new, 1)
			path := filepath.Join(t.TempDir(), "docker-compose.yaml")
			if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := load(t, root, path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("load = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
}

func published(s types.ServiceConfig) []string {
	var out []string
	for _, p := range s.Ports {
		out = append(out, p.HostIP+":"+p.Published+"->"+strconv.FormatUint(uint64(p.Target), 10))
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
