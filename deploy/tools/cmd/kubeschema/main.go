// Command kubeschema writes strict JSON schemas for kubeconform, derived
// offline from the Kubernetes OpenAPI document that the k8s.io/cli-runtime
// module ships, in the layout kubeconform's -schema-location expects:
//
//	go run ./cmd/kubeschema -o DIR
//	kubeconform -strict -schema-location 'DIR/{{.ResourceKind}}{{.KindSuffix}}.json' ...
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/chorus-ai/chorus/deploy/tools/internal/kubeschema"
)

func main() {
	out := flag.String("o", "", "directory to write the schemas into (required)")
	openapi := flag.String("openapi", "", "OpenAPI v2 document to derive from (default: k8s.io/cli-runtime's artifacts/openapi/swagger.json from the module cache)")
	flag.Parse()
	if err := run(*out, *openapi); err != nil {
		fmt.Fprintln(os.Stderr, "kubeschema:", err)
		os.Exit(1)
	}
}

func run(out, openapi string) error {
	if out == "" {
		return fmt.Errorf("-o is required: the directory to write the schemas into")
	}
	if openapi == "" {
		var err error
		if openapi, err = kubeschema.ModuleDocument(); err != nil {
			return err
		}
	}
	doc, err := os.ReadFile(openapi)
	if err != nil {
		return err
	}
	n, err := kubeschema.Write(doc, out)
	if err != nil {
		return err
	}
	fmt.Printf("kubeschema: %d schemas from %s in %s\n", n, openapi, out)
	fmt.Printf("kubeconform -strict -schema-location '%s' ...\n", kubeschema.SchemaLocation(out))
	return nil
}
