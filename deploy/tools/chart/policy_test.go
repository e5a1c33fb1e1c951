package chart

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// sharedFlags are declared by platform/app for every server.
var sharedFlags = []string{"log-level"}

// jobStoreEnv is set for issue 10's job store before the orchestrator has a
// flag for it; config.Parse ignores a CHORUS_* variable that names no flag.
const jobStoreEnv = "CHORUS_JOB_STORE_DSN"

// TestChartPolicies checks what the schemas cannot: that the rendered chart
// keeps the promises deploy/README.md makes, with the defaults and with every
// optional part on.
func TestChartPolicies(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			o := decode(t, render(t, vs.args...))
			for _, srv := range servers {
				t.Run(srv.name, func(t *testing.T) {
					checkServer(t, o, srv.name, srv.flagSrc, srv.port)
				})
			}
			if vs.name == "all-on" {
				checkAllOn(t, o)
			} else if len(o.policies) > 0 || len(o.hpas) > 0 {
				t.Errorf("defaults render %d NetworkPolicies and %d HPAs, want none", len(o.policies), len(o.hpas))
			}
		})
	}
}

func checkServer(t *testing.T, o objects, name string, flagSrc []string, port int32) {
	full := release + "-" + name
	d := o.deployments[full]
	if d == nil {
		t.Fatalf("no Deployment %s", full)
	}
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || !isTrue(sc.RunAsNonRoot) || sc.SeccompProfile == nil ||
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want runAsNonRoot and seccomp RuntimeDefault", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; no Chorus server uses it")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) || !isTrue(sc.RunAsNonRoot) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container security context %+v: want read-only root, non-root, no escalation, ALL capabilities dropped", sc)
	}
	if !mountsEmptyDir(pod, c, "/tmp") {
		t.Error("/tmp is not an emptyDir, and the root filesystem is read-only")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	grpc := name != "gateway"
	// A gRPC server serves /metrics 1000 ports up, the gateway on its own.
	metricsPort, wantPorts := port, 1
	if grpc {
		metricsPort, wantPorts = port+1000, 2
	}
	if len(c.Ports) != wantPorts || c.Ports[0].ContainerPort != port || c.Ports[len(c.Ports)-1].ContainerPort != metricsPort {
		t.Errorf("ports %+v, want %d and metrics on %d", c.Ports, port, metricsPort)
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(int(metricsPort)) || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v: want Prometheus to scrape /metrics on %d", a, metricsPort)
	}

	for probe, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		switch {
		case p == nil:
			t.Errorf("no %s probe", probe)
		case grpc && (p.GRPC == nil || p.GRPC.Port != port):
			t.Errorf("%s probe %+v: want grpc.health.v1 on port %d", probe, p.ProbeHandler, port)
		case !grpc && p.HTTPGet == nil:
			t.Errorf("%s probe %+v: want an HTTP GET", probe, p.ProbeHandler)
		}
	}

	var src []byte
	for _, f := range flagSrc {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "CHORUS_") || e.Name == jobStoreEnv {
			continue
		}
		flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(e.Name, "CHORUS_")), "_", "-")
		if !slices.Contains(sharedFlags, flag) && !strings.Contains(string(src), `"`+flag+`"`) {
			t.Errorf("the chart sets %s, but none of %q declares a -%s flag", e.Name, flagSrc, flag)
		}
		if strings.HasSuffix(e.Name, "_ADDR") && e.Name != "CHORUS_GRPC_ADDR" && e.Name != "CHORUS_HTTP_ADDR" {
			checkTarget(t, o, e)
		}
	}
	if name == "orchestrator" || name == "gateway" {
		for _, up := range []string{"TEXT", "IMAGE", "AUDIO"} {
			if env(c, "CHORUS_"+up+"_ADDR") == "" {
				t.Errorf("CHORUS_%s_ADDR is not set", up)
			}
		}
	}

	if grpc {
		headless := o.services[full+"-headless"]
		if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || headless.Spec.PublishNotReadyAddresses {
			t.Errorf("Service %s-headless %+v: want headless, ready pods only", full, headless)
		}
	}
	if o.services[full] == nil {
		t.Errorf("no Service %s", full)
	}

	if hpa := o.hpas[full]; hpa != nil {
		if hpa.Spec.ScaleTargetRef.Name != full || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("HPA scales %+v, want Deployment %s", hpa.Spec.ScaleTargetRef, full)
		}
		if d.Spec.Replicas != nil {
			t.Error("the Deployment sets replicas although an HPA scales it (each upgrade would reset the count)")
		}
	} else if d.Spec.Replicas == nil {
		t.Error("no replicas and no HPA")
	}
	if pdb := o.pdbs[full]; pdb == nil {
		t.Error("no PodDisruptionBudget")
	} else if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PDB selector %v does not select the pods %v", pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
}

// checkTarget checks that an upstream address is a dns:/// target of a
// headless Service of this release, on a port that Service serves.
func checkTarget(t *testing.T, o objects, e corev1.EnvVar) {
	t.Helper()
	hostport, ok := strings.CutPrefix(e.Value, "dns:///")
	if !ok {
		t.Errorf("%s=%s: want a dns:/// target, for round_robin over every pod", e.Name, e.Value)
		return
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Errorf("%s=%s: %v", e.Name, e.Value, err)
		return
	}
	svcName, rest, _ := strings.Cut(host, ".")
	if rest != namespace+".svc" {
		t.Errorf("%s=%s: want a name in namespace %s", e.Name, e.Value, namespace)
	}
	svc := o.services[svcName]
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("%s=%s: no headless Service %s", e.Name, e.Value, svcName)
		return
	}
	if len(svc.Spec.Ports) != 1 || port != strconv.Itoa(int(svc.Spec.Ports[0].Port)) {
		t.Errorf("%s=%s: Service %s serves %+v", e.Name, e.Value, svcName, svc.Spec.Ports)
	}
}

func checkAllOn(t *testing.T, o objects) {
	from := map[string][]string{
		"text":         {"orchestrator", "gateway"},
		"image":        {"orchestrator", "gateway"},
		"audio":        {"orchestrator", "gateway"},
		"embed":        {"orchestrator", "gateway"},
		"orchestrator": {"gateway"},
		"model-server": {"text"},
	}
	metricsRules := 0
	for name, want := range from {
		p := o.policies[release+"-"+name]
		if p == nil {
			t.Errorf("no NetworkPolicy for %s", name)
			continue
		}
		var got []string
		for _, rule := range p.Spec.Ingress {
			if name != "model-server" && len(rule.Ports) == 1 && rule.Ports[0].Port != nil && rule.Ports[0].Port.IntValue() > 51000 {
				// The metrics port: open to networkPolicy.metricsFrom only.
				if len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil ||
					rule.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
					t.Errorf("%s metrics ingress %+v: want networkPolicy.metricsFrom", name, rule)
				}
				metricsRules++
				continue
			}
			if len(rule.From) == 0 {
				t.Errorf("%s takes ingress from anywhere", name)
			}
			for _, peer := range rule.From {
				if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil {
					t.Errorf("%s takes ingress from %+v, beyond the release's pods", name, peer)
					continue
				}
				got = append(got, peer.PodSelector.MatchLabels["app.kubernetes.io/component"])
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s takes ingress from %v, want %v", name, got, want)
		}
	}
	if metricsRules != 5 {
		t.Errorf("%d NetworkPolicies open a metrics port, want the 5 gRPC servers'", metricsRules)
	}
	if p := o.policies[release+"-gateway"]; p == nil || len(p.Spec.Ingress) != 1 || len(p.Spec.Ingress[0].From) != 1 ||
		p.Spec.Ingress[0].From[0].NamespaceSelector == nil {
		t.Errorf("gateway NetworkPolicy %+v: want ingress from networkPolicy.gatewayFrom", p)
	}

	text := o.deployments[release+"-text"].Spec.Template.Spec.Containers[0]
	if got, want := env(text, "CHORUS_OPENAI_BASE_URL"), "http://"+release+"-model-server."+namespace+".svc:8000/v1"; got != want {
		t.Errorf("text's CHORUS_OPENAI_BASE_URL = %q, want the model server %q", got, want)
	}
	if o.services[release+"-model-server"] == nil {
		t.Error("no Service for the model server")
	}
	ms := o.deployments[release+"-model-server"]
	if ms == nil {
		t.Fatal("no model server Deployment")
	}
	gpus := ms.Spec.Template.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]
	if gpus.Value() != 1 {
		t.Errorf("model server GPU limit %v, want 1", gpus.String())
	}
	orch := o.deployments[release+"-orchestrator"].Spec.Template.Spec.Containers[0]
	if env(orch, "CHORUS_PIPELINES_DIR") == "" || !mountsVolume(orch, "/etc/chorus/pipelines") {
		t.Error("the orchestrator does not get the pipelines ConfigMap")
	}
	if !hasSecretEnv(orch, jobStoreEnv) {
		t.Errorf("the orchestrator has no %s from a Secret", jobStoreEnv)
	}
	if !hasSecretEnv(text, "CHORUS_OPENAI_API_KEY") {
		t.Error("text has no CHORUS_OPENAI_API_KEY from a Secret")
	}
	if !mountsVolume(text, "/models") {
		t.Error("text does not mount the models volume")
	}
	for _, kind := range []string{"Ingress", "Secret", "ConfigMap", "PersistentVolumeClaim", "ServiceAccount"} {
		if o.kinds[kind] == 0 {
			t.Errorf("no %s rendered", kind)
		}
	}
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func hasSecretEnv(c corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return true
		}
	}
	return false
}

func mountsVolume(c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

func mountsEmptyDir(pod corev1.PodSpec, c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }
