package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/proto/openapi"
)

// TestAPIDocsListEveryRoute keeps docs/api.md in step with the routes: every
// path of the OpenAPI document and every OpenAI-compatible route must have
// its row there.
func TestAPIDocsListEveryRoute(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatalf("reading the API reference: %v", err)
	}
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &spec); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for path, methods := range spec.Paths {
		for method := range methods {
			rows = append(rows, "| "+strings.ToUpper(method)+" | `"+path+"` |")
		}
	}
	o := &openAI{}
	for _, rt := range o.routes() {
		rows = append(rows, "| "+rt.method+" | `"+strings.ReplaceAll(rt.path, "...}", "}")+"` |")
	}
	if len(rows) < 15 {
		t.Fatalf("only %d routes found: %v", len(rows), rows)
	}
	for _, row := range rows {
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/api.md has no row %q", row)
		}
	}
}
