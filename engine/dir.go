package engine

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
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
