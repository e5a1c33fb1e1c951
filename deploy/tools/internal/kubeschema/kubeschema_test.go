package kubeschema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// doc is a small OpenAPI v2 document shaped like Kubernetes': a kind with a
// nested object, an int-or-string, a quantity, a recursive type, a field
// that preserves unknown fields and an envelope listed under two kinds.
const doc = `{
  "swagger": "2.0",
  "definitions": {
    "io.k8s.api.apps.v1.Widget": {
      "description": "A widget.",
      "type": "object",
      "required": ["spec"],
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.WidgetSpec"}
      },
      "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Widget"}]
    },
    "io.k8s.api.apps.v1.WidgetSpec": {
      "type": "object",
      "properties": {
        "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        "memory": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        "replicas": {"type": "integer", "format": "int32"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "extra": {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": true},
        "child": {"$ref": "#/definitions/io.k8s.api.apps.v1.WidgetSpec"}
      }
    },
    "io.k8s.api.core.v1.Gadget": {
      "type": "object",
      "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "size": {"type": "string"}},
      "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Gadget"}]
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {
      "type": "object",
      "properties": {"kind": {"type": "string"}},
      "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "DeleteOptions"}, {"group": "apps", "version": "v1", "kind": "DeleteOptions"}]
    },
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"}
  }
}`

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		apiVersion, kind, want string
	}{
		{apiVersion: "v1", kind: "Service", want: "service-v1.json"},
		{apiVersion: "apps/v1", kind: "Deployment", want: "deployment-apps-v1.json"},
		{apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", want: "networkpolicy-networking-v1.json"},
		{apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", want: "horizontalpodautoscaler-autoscaling-v2.json"},
	} {
		if got := FileName(tc.apiVersion, tc.kind); got != tc.want {
			t.Errorf("FileName(%q, %q) = %q, want %q", tc.apiVersion, tc.kind, got, tc.want)
		}
	}
}

func TestDeriveFiles(t *testing.T) {
	schemas, err := Derive([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range schemas {
		names = append(names, s.FileName())
	}
	// DeleteOptions is an envelope under two kinds: no schema of its own.
	if got, want := strings.Join(names, " "), "gadget-v1.json widget-apps-v1.json"; got != want {
		t.Fatalf("files %s, want %s", got, want)
	}
	if bytes.Contains(schemas[1].JSON, []byte("A widget.")) {
		t.Error("descriptions are kept")
	}
}

// TestDeriveValidates compiles the derived schema with the JSON Schema
// library kubeconform uses and checks what it accepts and rejects.
func TestDeriveValidates(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write([]byte(doc), dir); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	schema, err := c.Compile(filepath.Join(dir, "widget-apps-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc string
		wantErr   string // empty: valid
	}{
		{name: "minimal", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {}}`},
		{name: "every field", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {
			"port": 8080, "memory": "1Gi", "replicas": 2, "labels": {"a": "b"},
			"extra": {"a": "x", "anything": [1]}, "child": {"port": "http", "memory": 1.5}}}`},
		{name: "misspelt field", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {"replica": 2}}`, wantErr: "replica"},
		{name: "misspelt field in a recursive type", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {"child": {"prot": 1}}}`, wantErr: "prot"},
		{name: "unknown top-level field", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {}, "stauts": {}}`, wantErr: "stauts"},
		{name: "wrong type", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {"replicas": "2"}}`, wantErr: "replicas"},
		{name: "int-or-string of another type", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {"port": true}}`, wantErr: "port"},
		{name: "map of the wrong value type", doc: `{"apiVersion": "apps/v1", "kind": "Widget", "spec": {"labels": {"a": 1}}}`, wantErr: "labels"},
		{name: "required field missing", doc: `{"apiVersion": "apps/v1", "kind": "Widget"}`, wantErr: "spec"},
		{name: "wrong kind", doc: `{"apiVersion": "apps/v1", "kind": "Gadget", "spec": {}}`, wantErr: "kind"},
		{name: "wrong apiVersion", doc: `{"apiVersion": "apps/v2", "kind": "Widget", "spec": {}}`, wantErr: "apiVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = schema.Validate(v)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error about %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v, want one about %s", err, tc.wantErr)
			}
		})
	}
}

func TestDeriveErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{name: "not JSON", doc: `swagger: "2.0"`, want: "reading"},
		{name: "no definitions", doc: `{"openapi": "3.0.0", "components": {}}`, want: "no definitions"},
		{name: "dangling reference", doc: `{"definitions": {"io.k8s.api.core.v1.Thing": {
			"type": "object", "properties": {"x": {"$ref": "#/definitions/io.k8s.api.core.v1.Missing"}},
			"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Thing"}]}}}`, want: "Missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Derive([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Derive = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

// TestModuleDocument derives the schemas the chart is checked against from
// the real document, and checks the kinds the chart uses are among them.
func TestModuleDocument(t *testing.T) {
	path, err := ModuleDocument()
	if err != nil {
		t.Fatal(err)
	}
	openapi, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := Derive(openapi)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]json.RawMessage{}
	for _, s := range schemas {
		have[s.FileName()] = s.JSON
	}
	for _, f := range []string{
		"deployment-apps-v1.json", "service-v1.json", "configmap-v1.json", "secret-v1.json",
		"persistentvolumeclaim-v1.json", "serviceaccount-v1.json",
		"horizontalpodautoscaler-autoscaling-v2.json", "poddisruptionbudget-policy-v1.json",
		"networkpolicy-networking-v1.json", "ingress-networking-v1.json",
	} {
		if have[f] == nil {
			t.Errorf("no %s among %d schemas", f, len(schemas))
		}
	}
	// gRPC probes are what the chart's health checks use.
	if !bytes.Contains(have["deployment-apps-v1.json"], []byte("io.k8s.api.core.v1.GRPCAction")) {
		t.Error("the Deployment schema has no gRPC probe")
	}
}
