// Package kubeschema derives strict JSON schemas for kubeconform from a
// Kubernetes OpenAPI v2 document, so manifests can be validated offline.
package kubeschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const (
	refPrefix   = "#/definitions/"
	intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	quantity    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
)

// SchemaLocation is kubeconform's -schema-location template for a directory
// written by Write.
func SchemaLocation(dir string) string {
	return filepath.Join(dir, "{{.ResourceKind}}{{.KindSuffix}}.json")
}

// FileName is the file kubeconform looks for, through SchemaLocation, when
// it validates a resource of kind at apiVersion ("apps/v1", "v1"): the kind
// in lower case, the first label of the group, the version, for example
// deployment-apps-v1.json or service-v1.json.
func FileName(apiVersion, kind string) string {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return strings.ToLower(kind) + "-" + strings.ToLower(apiVersion) + ".json"
	}
	group, _, _ = strings.Cut(group, ".")
	return strings.ToLower(kind) + "-" + strings.ToLower(group) + "-" + strings.ToLower(version) + ".json"
}

// Schema is one derived schema: the resource it validates and its JSON.
type Schema struct {
	APIVersion string
	Kind       string
	JSON       []byte
}

// FileName is the file the schema belongs in.
func (s Schema) FileName() string { return FileName(s.APIVersion, s.Kind) }

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

func (g gvk) apiVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// Derive returns one schema per kind and version that doc (an OpenAPI v2
// document such as Kubernetes' swagger.json) defines, ordered by file name.
//
// Each schema is standalone (the definitions it reaches are copied into its
// $defs) and strict like kubectl's validation: an object with listed
// properties allows no others, so a misspelt field fails. Int-or-string
// fields take either type and quantities take strings or numbers, as the API
// server does. Descriptions are dropped to keep the files small.
func Derive(doc []byte) ([]Schema, error) {
	var spec struct {
		Swagger     string                     `json:"swagger"`
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		return nil, fmt.Errorf("kubeschema: reading the OpenAPI document: %w", err)
	}
	if len(spec.Definitions) == 0 {
		return nil, errors.New("kubeschema: the OpenAPI document has no definitions (want an OpenAPI v2 document)")
	}
	defs := make(map[string]any, len(spec.Definitions))
	for name, raw := range spec.Definitions {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("kubeschema: definition %s: %w", name, err)
		}
		defs[name] = strictify(v)
	}
	defs[intOrString] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	defs[quantity] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}

	byFile := map[string]Schema{}
	names := make([]string, 0, len(spec.Definitions))
	for name := range spec.Definitions {
		names = append(names, name)
	}
	sort.Strings(names) // the first definition wins a file name, deterministically
	for _, name := range names {
		var meta struct {
			GVK []gvk `json:"x-kubernetes-group-version-kind"`
		}
		if err := json.Unmarshal(spec.Definitions[name], &meta); err != nil {
			return nil, fmt.Errorf("kubeschema: definition %s: %w", name, err)
		}
		// A definition listed under several kinds (DeleteOptions,
		// WatchEvent) is an envelope, not a resource a manifest holds.
		if len(meta.GVK) != 1 {
			continue
		}
		k := meta.GVK[0]
		s := Schema{APIVersion: k.apiVersion(), Kind: k.Kind}
		if _, dup := byFile[s.FileName()]; dup {
			continue
		}
		root, err := standalone(name, k, defs)
		if err != nil {
			return nil, err
		}
		if s.JSON, err = json.Marshal(root); err != nil {
			return nil, fmt.Errorf("kubeschema: %s: %w", name, err)
		}
		byFile[s.FileName()] = s
	}
	out := make([]Schema, 0, len(byFile))
	for _, s := range byFile {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FileName() < out[j].FileName() })
	return out, nil
}

// Write derives the schemas of doc and writes each into dir under its
// FileName. It returns how many it wrote.
func Write(doc []byte, dir string) (int, error) {
	schemas, err := Derive(doc)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	for _, s := range schemas {
		if err := os.WriteFile(filepath.Join(dir, s.FileName()), s.JSON, 0o644); err != nil {
			return 0, err
		}
	}
	return len(schemas), nil
}

// standalone returns the schema of definition name with every definition it
// reaches under $defs, its kind and apiVersion pinned.
func standalone(name string, k gvk, defs map[string]any) (map[string]any, error) {
	reached := map[string]any{}
	var visit func(v any) error
	visit = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				target := strings.TrimPrefix(ref, "#/$defs/")
				if _, seen := reached[target]; !seen {
					def, ok := defs[target]
					if !ok {
						return fmt.Errorf("kubeschema: %s refers to %s, which the document does not define", name, ref)
					}
					reached[target] = def
					if err := visit(def); err != nil {
						return err
					}
				}
			}
			for _, child := range v {
				if err := visit(child); err != nil {
					return err
				}
			}
		case []any:
			for _, child := range v {
				if err := visit(child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	def := defs[name].(map[string]any)
	if err := visit(def); err != nil {
		return nil, err
	}
	root := map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema"}
	for key, v := range def {
		root[key] = v
	}
	// Pin kind and apiVersion, copying the properties so that $defs, which
	// may hold this same definition, is left as it is.
	if props, ok := def["properties"].(map[string]any); ok {
		pinned := make(map[string]any, len(props))
		for key, v := range props {
			pinned[key] = v
		}
		pinned["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
		pinned["apiVersion"] = map[string]any{"type": "string", "enum": []any{k.apiVersion()}}
		root["properties"] = pinned
	}
	if len(reached) > 0 {
		root["$defs"] = reached
	}
	return root, nil
}

// strictify rewrites one OpenAPI v2 schema into JSON Schema as kubeconform's
// strict mode wants it: $refs point into $defs, descriptions and x-
// extensions go, and objects with properties forbid unlisted ones unless
// they preserve unknown fields.
func strictify(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v)+1)
		for key, child := range v {
			switch {
			case key == "description" || strings.HasPrefix(key, "x-"):
			case key == "$ref":
				ref, _ := child.(string)
				out[key] = "#/$defs/" + strings.TrimPrefix(ref, refPrefix)
			case key == "properties":
				// The keys of properties are field names, not keywords.
				props, _ := child.(map[string]any)
				strict := make(map[string]any, len(props))
				for field, schema := range props {
					strict[field] = strictify(schema)
				}
				out[key] = strict
			default:
				out[key] = strictify(child)
			}
		}
		_, hasProps := v["properties"]
		_, hasAdditional := v["additionalProperties"]
		preserve, _ := v["x-kubernetes-preserve-unknown-fields"].(bool)
		if hasProps && !hasAdditional && !preserve {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, child := range v {
			out[i] = strictify(child)
		}
		return out
	}
	return v
}
