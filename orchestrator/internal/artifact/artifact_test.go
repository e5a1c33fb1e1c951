package artifact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPutOpenSweep(t *testing.T) {
	d, err := OpenDir(filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("chorus"), 1000)
	old, err := d.Put(data, "audio/wav")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if len(old.ID) != 32 || old.Size != int64(len(data)) || old.SHA256 != hex.EncodeToString(sum[:]) || old.MimeType != "audio/wav" {
		t.Fatalf("info %+v", old)
	}
	if IDFromURI(old.URI()) != old.ID {
		t.Errorf("IDFromURI(%q) = %q", old.URI(), IDFromURI(old.URI()))
	}
	info, f, err := d.Open(old.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) || info != old {
		t.Fatalf("Open: %+v, %d bytes", info, len(got))
	}
	newer, err := d.Put([]byte("x"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if newer.ID == old.ID {
		t.Fatal("two artifacts got one id")
	}
	n, err := d.Sweep(newer.Created)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the older one removed", n, err)
	}
	if _, _, err := d.Open(old.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the swept artifact: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.root, old.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("its content is still there: %v", err)
	}
	if _, err := d.Stat(newer.ID); err != nil {
		t.Errorf("the newer one: %v", err)
	}
	if n, _ := d.Sweep(time.Now().Add(-time.Hour)); n != 0 {
		t.Errorf("a sweep of nothing removed %d", n)
	}
}

func TestMalformedIDsAreNotFound(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF", "0123", "0123456789abcdef0123456789abcdeg"} {
		if _, _, err := d.Open(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", id, err)
		}
	}
	for _, uri := range []string{"/v1/artifacts/", "chorus://x", "/v1/artifacts/../x"} {
		if id := IDFromURI(uri); id != "" {
			t.Errorf("IDFromURI(%q) = %q", uri, id)
		}
	}
}
