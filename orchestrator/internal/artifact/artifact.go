// Package artifact stores the large artifacts runs produce in a local
// directory, each under an unguessable id with its size, SHA-256 and MIME
// type, so that events and results can refer to them by URI instead of
// carrying them inline.
package artifact

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// URIPrefix starts every artifact URI: "/v1/artifacts/{id}", a path on the
// gateway that serves the artifact, whose last element is the id that
// OrchestratorService.GetArtifact takes.
const URIPrefix = "/v1/artifacts/"

// ErrNotFound is returned for an id that names no stored artifact (never
// stored, malformed, or removed by retention).
var ErrNotFound = errors.New("artifact: not found")

// Info describes a stored artifact.
type Info struct {
	ID       string    `json:"id"`
	MimeType string    `json:"mime_type"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Created  time.Time `json:"created"`
}

// URI is where the artifact is served.
func (i Info) URI() string { return URIPrefix + i.ID }

// IDFromURI returns the id in an artifact URI, or "" if uri is none.
func IDFromURI(uri string) string {
	id, ok := strings.CutPrefix(uri, URIPrefix)
	if !ok || !validID(id) {
		return ""
	}
	return id
}

// Dir is an artifact store in a local directory: each artifact is a file
// named by its id, with its Info beside it in "<id>.json". It is safe for
// concurrent use (files are written under temporary names and renamed).
type Dir struct {
	root string
}

// OpenDir returns the store in root, creating the directory if needed.
func OpenDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	return &Dir{root: root}, nil
}

// Put stores data and returns its Info. The id is 128 random bits in hex.
func (d *Dir) Put(data []byte, mimeType string) (Info, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	sum := sha256.Sum256(data)
	info := Info{ID: hex.EncodeToString(b[:]), MimeType: mimeType, Size: int64(len(data)),
		SHA256: hex.EncodeToString(sum[:]), Created: time.Now().UTC()}
	meta, err := json.Marshal(info)
	if err != nil {
		return Info{}, err
	}
	// The content first: an artifact exists once its Info does.
	if err := d.write(info.ID, data); err != nil {
		return Info{}, err
	}
	if err := d.write(info.ID+".json", meta); err != nil {
		_ = os.Remove(filepath.Join(d.root, info.ID))
		return Info{}, err
	}
	return info, nil
}

// PutURI stores data and returns its URI (for the runner).
func (d *Dir) PutURI(data []byte, mimeType string) (string, error) {
	info, err := d.Put(data, mimeType)
	return info.URI(), err
}

func (d *Dir) write(name string, data []byte) error {
	f, err := os.CreateTemp(d.root, ".tmp-*")
	if err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d.root, name))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("artifact store: %w", err)
	}
	return nil
}

// Stat returns the Info of artifact id.
func (d *Dir) Stat(id string) (Info, error) {
	if !validID(id) {
		return Info{}, ErrNotFound
	}
	b, err := os.ReadFile(filepath.Join(d.root, id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, ErrNotFound
	}
	if err != nil {
		return Info{}, fmt.Errorf("artifact store: %w", err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("artifact store: %s: %w", id, err)
	}
	return info, nil
}

// Open returns the Info of artifact id and its content, to be closed.
func (d *Dir) Open(id string) (Info, *os.File, error) {
	info, err := d.Stat(id)
	if err != nil {
		return Info{}, nil, err
	}
	f, err := os.Open(filepath.Join(d.root, id))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, nil, ErrNotFound
	}
	if err != nil {
		return Info{}, nil, fmt.Errorf("artifact store: %w", err)
	}
	return info, f, nil
}

// Sweep removes the artifacts stored before cutoff (and temporary files
// left by a crash) and returns how many artifacts it removed.
func (d *Dir) Sweep(cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return 0, fmt.Errorf("artifact store: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		name := e.Name()
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			if fi.ModTime().Before(cutoff) {
				_ = os.Remove(filepath.Join(d.root, name))
			}
		case strings.HasSuffix(name, ".json"):
			id := strings.TrimSuffix(name, ".json")
			info, err := d.Stat(id)
			if err != nil || !info.Created.Before(cutoff) {
				continue
			}
			// The Info first: from then on the artifact is gone.
			if err := os.Remove(filepath.Join(d.root, name)); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := os.Remove(filepath.Join(d.root, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}
