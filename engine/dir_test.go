package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type closer struct {
	name   string
	closed *[]string
}

func (c closer) Close() error { *c.closed = append(*c.closed, c.name); return nil }

func TestOpenDir(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.gguf", "a.gguf", "c.gguf", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var closed []string
	open := func(fail string) func(string) (closer, bool, error) {
		return func(p string) (closer, bool, error) {
			name := filepath.Base(p)
			switch name {
			case fail:
				return closer{}, false, errors.New("broken")
			case "b.gguf":
				return closer{}, false, nil // another service's model
			}
			return closer{name, &closed}, true, nil
		}
	}
	got, err := OpenDir(dir, open(""))
	var names []string
	for _, c := range got {
		names = append(names, c.name)
	}
	if err != nil || !slices.Equal(names, []string{"a.gguf", "c.gguf"}) {
		t.Fatalf("OpenDir = %q, %v; want a.gguf and c.gguf in order, b.gguf declined", names, err)
	}
	if _, err := OpenDir(dir, open("c.gguf")); err == nil || !slices.Equal(closed, []string{"a.gguf"}) {
		t.Errorf("a failing file: %v, closed %q; want the error and a.gguf closed again", err, closed)
	}
	if got, err := OpenDir(filepath.Join(dir, "missing"), open("")); err != nil || len(got) != 0 {
		t.Errorf("missing directory: %v, %v; want nothing and no error", got, err)
	}
}

func TestDescribe(t *testing.T) {
	path := filepath.Join("..", "models", "chorus-mini.gguf") // the shipped model
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, err := Describe(path)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Info()
	if info.Name != want.Name || info.Arch != "llama" || info.FileType != want.FileType || info.Params != want.Params {
		t.Errorf("Describe = %+v; the loaded model says name %q, arch llama, %s, %d parameters", info, want.Name, want.FileType, want.Params)
	}
	junk := filepath.Join(t.TempDir(), "junk.gguf")
	if err := os.WriteFile(junk, []byte("GGUF, and then nothing"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Describe(junk); err == nil {
		t.Error("Describe read a file that is not GGUF")
	}
}
