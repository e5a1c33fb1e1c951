package proto_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates every file that buf.gen.yaml produces
// into a scratch directory and fails if any committed file differs, is
// missing, or is left over from an older generation.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerates with buf; skipped in -short mode")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// buf lives in its own tools module (it needs a pre-release protobuf
	// runtime), outside the workspace.
	tool := exec.Command("go", "-C", filepath.Join(root, "tools"), "tool", "-n", "buf")
	tool.Env = append(os.Environ(), "GOWORK=off")
	out, err := tool.Output()
	if err != nil {
		t.Fatalf("building buf: %v (run `make tools`)", err)
	}
	buf := strings.TrimSpace(string(out))

	scratch := t.TempDir()
	gen := exec.Command(buf, "generate", "-o", scratch)
	gen.Dir = root
	if msg, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, msg)
	}

	fresh := generatedFiles(t, filepath.Join(scratch, "proto"))
	if len(fresh) == 0 {
		t.Fatalf("buf generate wrote no generated files under %s/proto: nothing to compare", scratch)
	}
	committed := generatedFiles(t, filepath.Join(root, "proto"))
	for rel, want := range fresh {
		got, ok := committed[rel]
		switch {
		case !ok:
			t.Errorf("proto/%s is not committed; run `make generate`", rel)
		case !bytes.Equal(got, want):
			t.Errorf("proto/%s is stale; run `make generate`", rel)
		}
	}
	for rel := range committed {
		if _, ok := fresh[rel]; !ok {
			t.Errorf("proto/%s is no longer generated; delete it", rel)
		}
	}
}

// generatedFiles reads every generated file under dir, keyed by its path
// relative to dir.
func generatedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if !strings.HasSuffix(name, ".pb.go") && !strings.HasSuffix(name, ".pb.gw.go") && !strings.HasSuffix(name, ".swagger.json") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
