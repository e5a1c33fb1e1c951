package engine

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// OpenDir opens every *.gguf file in dir, in name order, with open, which
// may decline a file (ok false: a model for another service) or fail, in
// which case what was opened is closed again. A missing or empty directory
// is not an error: it yields nothing.
func OpenDir[M io.Closer](dir string, open func(path string) (m M, ok bool, err error)) ([]M, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	}
	sort.Strings(paths)
	var out []M
	for _, p := range paths {
		m, ok, err := open(p)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// FileInfo describes a GGUF file from its header, without loading it.
type FileInfo struct {
	Name     string // general.name, empty when absent
	Arch     string // general.architecture
	FileType string // quantisation, e.g. "Q8_0", "Q4_K_M"
	Params   int64  // weights in the file
}

// Describe reads the header of the GGUF file at path: what `chorus models
// list` shows of each file in a models directory.
func Describe(path string) (FileInfo, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return FileInfo{}, err
	}
	defer f.Close()
	name, _ := f.String("general.name")
	arch, _ := f.String("general.architecture")
	var params int64
	for _, t := range f.Tensors() {
		params += int64(t.Elements())
	}
	return FileInfo{Name: name, Arch: arch, FileType: fileType(f), Params: params}, nil
}
