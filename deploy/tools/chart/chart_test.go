package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/chorus-ai/chorus/deploy/tools/internal/kubeschema"
)

const (
	chartDir  = "../../helm/chorus"
	allOn     = chartDir + "/ci/all-on-values.yaml"
	repoRoot  = "../../.."
	release   = "chorus"
	namespace = "chorus"
	// kubeVersion is the Kubernetes release of the OpenAPI document the
	// schemas come from (k8s.io/cli-runtime's, 1.24: it still has
	// batch/v1beta1 and already has gRPC probes), and the chart's minimum.
	// A helm built by go tool has no default of its own to speak of (1.20).
	kubeVersion = "1.24.0"
)

// The pinned tools and the schemas, set up once by TestMain.
var (
	helm, kubeconform string
	schemaDir         string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var err error
	// go tool builds each once and caches it; -n prints the cached binary.
	if helm, err = goTool("helm"); err != nil {
		return 0, err
	}
	if kubeconform, err = goTool("kubeconform"); err != nil {
		return 0, err
	}
	doc, err := kubeschema.ModuleDocument()
	if err != nil {
		return 0, err
	}
	openapi, err := os.ReadFile(doc)
	if err != nil {
		return 0, err
	}
	work, err := os.MkdirTemp("", "chart-check-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	schemaDir = filepath.Join(work, "schemas")
	if _, err := kubeschema.Write(openapi, schemaDir); err != nil {
		return 0, err
	}
	// helm reads and writes nothing of the user's: no repositories or
	// plugins are involved, and a home of its own keeps it that way.
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		if err := os.Setenv(v, filepath.Join(work, "helm", v)); err != nil {
			return 0, err
		}
	}
	return m.Run(), nil
}

func goTool(name string) (string, error) {
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n %s: %w: %s", name, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// valueSets are the renderings every check covers: the defaults, and every
// optional part on.
var valueSets = []struct {
	name string
	args []string
}{
	{name: "defaults"},
	{name: "all-on", args: []string{"-f", allOn}},
}

func run(tb testing.TB, stdin []byte, name string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func render(tb testing.TB, args ...string) string {
	tb.Helper()
	out, stderr, err := run(tb, nil, helm, append([]string{"template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		tb.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

type summary struct {
	Resources []struct {
		Filename, Kind, Name, Status, Msg string
	} `json:"resources"`
	Summary struct {
		Valid, Invalid, Errors, Skipped int
	} `json:"summary"`
}

// validate runs kubeconform -strict on manifests with the derived schemas.
func validate(tb testing.TB, manifests string) (summary, error) {
	tb.Helper()
	out, stderr, err := run(tb, []byte(manifests), kubeconform,
		"-strict", "-summary", "-output", "json", "-verbose",
		"-schema-location", kubeschema.SchemaLocation(schemaDir), "-")
	var s summary
	if jerr := json.Unmarshal([]byte(out), &s); jerr != nil {
		tb.Fatalf("kubeconform output: %v\n%s\n%s", jerr, out, stderr)
	}
	return s, err
}

func TestHelmLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, stderr, err := run(t, nil, helm, append([]string{"lint", "--strict", "--kube-version", kubeVersion, chartDir}, vs.args...)...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s%s", err, out, stderr)
			}
		})
	}
}

func TestKubeconform(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			s, err := validate(t, render(t, vs.args...))
			for _, r := range s.Resources {
				if r.Status != "statusValid" {
					t.Errorf("%s %s: %s %s", r.Kind, r.Name, r.Status, r.Msg)
				}
			}
			if err != nil || s.Summary.Invalid+s.Summary.Errors+s.Summary.Skipped > 0 {
				t.Fatalf("kubeconform: %v, summary %+v", err, s.Summary)
			}
			if s.Summary.Valid == 0 {
				t.Fatal("kubeconform validated no resources")
			}
			t.Logf("%d resources valid", s.Summary.Valid)
		})
	}
}

// TestKubeconformRejectsMistakes proves the check can fail: each case breaks
// the rendered chart (or renders it from a broken value) and kubeconform must
// reject it, for the reason given.
func TestKubeconformRejectsMistakes(t *testing.T) {
	good := render(t, "-f", allOn)
	for _, tc := range []struct {
		name      string
		manifests func(t *testing.T) string
		want      string // in kubeconform's message
	}{
		{
			name:      "misspelt field",
			manifests: replace(good, "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"),
			want:      "readOnlyRootFileSystem",
		},
		{
			name:      "field at the wrong level",
			manifests: replace(good, "      automountServiceAccountToken: false", "      automountServiceAccountToken: false\n      replicas: 3"),
			want:      "replicas",
		},
		{
			name:      "string for an integer",
			manifests: replace(good, "containerPort: 50051", `containerPort: "50051"`),
			want:      "containerPort",
		},
		{
			name:      "gRPC probe on a named port",
			manifests: replace(good, "grpc:\n              port: 50053", "grpc:\n              port: grpc"),
			want:      "port",
		},
		{
			name:      "unknown kind",
			manifests: replace(good, "kind: PodDisruptionBudget", "kind: PodDisruptionBudgte"),
			want:      "could not find schema",
		},
		{
			name: "broken value rendered by the chart",
			manifests: func(t *testing.T) string {
				// values.schema.json leaves resources free-form: kubeconform
				// is what catches a misspelt key in them.
				return render(t, "-f", allOn, "--set-json", `audio.resources={"request": {"cpu": "1"}}`)
			},
			want: "request",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := validate(t, tc.manifests(t))
			if err == nil || s.Summary.Invalid+s.Summary.Errors == 0 {
				t.Fatalf("kubeconform accepted the broken manifests: %+v", s.Summary)
			}
			var msgs []string
			for _, r := range s.Resources {
				if r.Status != "statusValid" {
					msgs = append(msgs, r.Msg)
				}
			}
			if !strings.Contains(strings.Join(msgs, "\n"), tc.want) {
				t.Errorf("kubeconform rejected them, but not for %q: %s", tc.want, strings.Join(msgs, "\n"))
			}
		})
	}
}

// TestChartRefusesBadValues checks that helm itself refuses values that
// would make a broken or misleading release: values.schema.json and the
// templates' own checks.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "misspelt top-level key", args: []string{"--set", "txt.replicas=3"}, want: "'txt' not allowed"},
		{name: "misspelt component key", args: []string{"--set", "text.replica=3"}, want: "'replica' not allowed"},
		{name: "port not a number", args: []string{"--set", "audio.port=fifty"}, want: "/audio/port"},
		{name: "unknown log level", args: []string{"--set", "logLevel=verbose"}, want: "/logLevel"},
		{name: "image base URL without models", args: []string{"--set", "image.openai.baseURL=https://api.openai.com/v1"}, want: "image.openai.models is required"},
		{name: "postgres without a DSN", args: []string{"--set", "postgres.enabled=true"}, want: "postgres.enabled needs"},
		{name: "pipeline file the orchestrator would skip", args: []string{"--set", `orchestrator.pipelines.extra\.txt=name: x`}, want: "must end in .yaml or .yml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := run(t, nil, helm, append([]string{"template", release, chartDir, "--kube-version", kubeVersion}, tc.args...)...)
			if err == nil {
				t.Fatal("helm template accepted the values")
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("helm template failed, but not for %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// replace returns the manifests with the first old replaced, failing when
// old is absent (so a case cannot pass by breaking nothing).
func replace(manifests, old, new string) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		if !strings.Contains(manifests, old) {
			t.Fatalf("rendered chart has no %q to break", old)
		}
		return strings.Replace(manifests, old, new, 1)
	}
}

// objects are the rendered manifests, decoded.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
	policies    map[string]*networkingv1.NetworkPolicy
	kinds       map[string]int
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

func decode(t *testing.T, manifests string) objects {
	t.Helper()
	o := objects{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		hpas:        map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:        map[string]*policyv1.PodDisruptionBudget{},
		policies:    map[string]*networkingv1.NetworkPolicy{},
		kinds:       map[string]int{},
	}
	for _, doc := range docSeparator.Split(manifests, -1) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue
		}
		o.kinds[meta.Kind]++
		switch meta.Kind {
		case "Deployment":
			d := new(appsv1.Deployment)
			unmarshal(t, doc, d)
			o.deployments[d.Name] = d
		case "Service":
			s := new(corev1.Service)
			unmarshal(t, doc, s)
			o.services[s.Name] = s
		case "HorizontalPodAutoscaler":
			h := new(autoscalingv2.HorizontalPodAutoscaler)
			unmarshal(t, doc, h)
			o.hpas[h.Name] = h
		case "PodDisruptionBudget":
			p := new(policyv1.PodDisruptionBudget)
			unmarshal(t, doc, p)
			o.pdbs[p.Name] = p
		case "NetworkPolicy":
			n := new(networkingv1.NetworkPolicy)
			unmarshal(t, doc, n)
			o.policies[n.Name] = n
		}
	}
	return o
}

func unmarshal(t *testing.T, doc string, into any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(doc), into); err != nil {
		t.Fatalf("%v in\n%s", err, doc)
	}
}

// The files that declare the flags every modality service shares, and those
// of their OpenAI-compatible backends.
const (
	modalityFlags = "platform/serve/modality.go"
	openaiFlags   = "platform/openaiapi/client.go"
)

// servers are the Chorus servers the chart deploys, with the files that
// declare the flags their CHORUS_* variables set.
var servers = []struct {
	name    string
	flagSrc []string
	port    int32
}{
	{"text", []string{"services/text/internal/server/config.go", "services/text/internal/backend/openai/openai.go", openaiFlags, modalityFlags}, 50051},
	{"image", []string{"services/image/internal/server/config.go", "services/image/internal/backend/openai/openai.go", openaiFlags, modalityFlags}, 50052},
	{"audio", []string{"services/audio/internal/server/config.go", modalityFlags}, 50053},
	{"embed", []string{"services/embed/internal/server/config.go", "services/embed/internal/backend/openai/openai.go", openaiFlags, modalityFlags}, 50054},
	{"orchestrator", []string{"orchestrator/internal/service/config.go"}, 50050},
	{"gateway", []string{"gateway/internal/gateway/server.go"}, 8080},
}
