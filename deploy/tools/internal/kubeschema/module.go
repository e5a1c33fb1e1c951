package kubeschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the Go module whose OpenAPI document ModuleDocument returns: a
// dependency of helm, so it is in the module cache once helm is built, at
// the version this tools module's go.mod selects.
const Module = "k8s.io/cli-runtime"

// DocumentPath is where in Module the OpenAPI v2 document lies.
const DocumentPath = "artifacts/openapi/swagger.json"

// ModuleDocument returns the path of Module's OpenAPI document in the Go
// module cache, at the version this tools module's go.mod selects,
// downloading the module through the module proxy only if the cache lacks
// it. It must run in this tools module's directory, or below it.
func ModuleDocument() (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", Module)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", Module, err, strings.TrimSpace(stderr.String()))
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", Module, err)
	}
	path := filepath.Join(mod.Dir, DocumentPath)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s has no OpenAPI document: %w", Module, err)
	}
	return path, nil
}
