package command

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
)

// syntheticModel is a small llama GGUF file built by the engine's synthetic
// builder: a model the engine really loads.
func syntheticModel(tb testing.TB) []byte {
	tb.Helper()
	sp := llama.Synthetic{Name: "tiny", Embedding: 64, Blocks: 2, FFN: 128, Heads: 4, KVHeads: 2,
		Context: 256, Vocab: 300, Type: quant.Q8_0, Seed: 11}
	w, err := sp.Build()
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// fileServer serves files by path with an ETag and Range support
// (http.ServeContent); cutAfter > 0 makes the next whole-file response
// drop its connection after that many bytes.
type fileServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	cutAfter int
	ranges   []string // the Range header of each model request ("" for none)
}

func newFileServer(tb testing.TB, files map[string][]byte) *fileServer {
	tb.Helper()
	fs := &fileServer{files: files}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		b, ok := fs.files[r.URL.Path]
		cut := 0
		if ok && !strings.HasSuffix(r.URL.Path, ".sha256") {
			fs.ranges = append(fs.ranges, r.Header.Get("Range"))
			if r.Header.Get("Range") == "" {
				cut, fs.cutAfter = fs.cutAfter, 0
			}
		}
		fs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(b)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
		var out http.ResponseWriter = w
		if cut > 0 {
			out = &cuttingWriter{ResponseWriter: w, left: cut}
		}
		http.ServeContent(out, r, "", time.Time{}, bytes.NewReader(b))
	}))
	tb.Cleanup(fs.Close)
	return fs
}

// cuttingWriter drops the connection once left bytes are written.
type cuttingWriter struct {
	http.ResponseWriter
	left int
}

func (c *cuttingWriter) Write(p []byte) (int, error) {
	if len(p) >= c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the server closes the connection mid-body
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// dirNames lists dir's entries.
func dirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestModelsAddDownloads(t *testing.T) {
	model := syntheticModel(t)
	srv := newFileServer(t, map[string][]byte{
		"/tiny.gguf":        model,
		"/tiny.gguf.sha256": []byte(hexSum(model) + "  tiny.gguf\n"),
	})
	dir := t.TempDir()
	code, stdout, stderr := run("models", "add", srv.URL+"/tiny.gguf", "-dir", dir, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var res addedModel
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if res.Name != "tiny" || res.SHA256 != hexSum(model) || res.Bytes != int64(len(model)) || res.Arch != "llama" || res.FileType != "Q8_0" || res.Params == 0 {
		t.Errorf("result %+v", res)
	}
	got, err := os.ReadFile(filepath.Join(dir, "tiny.gguf"))
	if err != nil || !bytes.Equal(got, model) {
		t.Errorf("tiny.gguf: %d bytes (want %d), %v", len(got), len(model), err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"tiny.gguf"}) {
		t.Errorf("directory holds %q", names)
	}

	// The directory now lists it; adding it again is refused; rm removes it.
	code, stdout, stderr = run("models", "list", "-dir", dir)
	if code != ExitOK || !strings.Contains(stdout, "tiny") || !strings.Contains(stdout, "Q8_0") || !strings.Contains(stdout, "llama") {
		t.Errorf("list: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code, _, stderr = run("models", "add", srv.URL+"/tiny.gguf", "-dir", dir); code != ExitUsage || !strings.Contains(stderr, "already exists") {
		t.Errorf("second add: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr = run("models", "rm", "tiny", "-dir", dir); code != ExitOK {
		t.Errorf("rm: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, _ = run("models", "rm", "tiny", "-dir", dir); code != ExitNotFound {
		t.Errorf("rm of a missing model: exit %d, want %d", code, ExitNotFound)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("after rm the directory holds %q", names)
	}
}

func TestModelsAddResumes(t *testing.T) {
	model := syntheticModel(t)
	srv := newFileServer(t, map[string][]byte{"/m/tiny.gguf": model})
	cut := len(model) / 3
	srv.cutAfter = cut
	dir := t.TempDir()
	url := srv.URL + "/m/tiny.gguf"
	code, _, stderr := run("models", "add", url, "-dir", dir, "-sha256", hexSum(model))
	if code != ExitUnavailable || !strings.Contains(stderr, "run the same command again to resume") {
		t.Fatalf("cut download: exit %d, stderr:\n%s", code, stderr)
	}
	part := filepath.Join(dir, "tiny.gguf.part")
	if n := fileSize(part); n == 0 || n > int64(cut) {
		t.Fatalf("the .part file holds %d bytes, want 1 to %d", n, cut)
	}
	if _, err := os.Stat(filepath.Join(dir, "tiny.gguf")); !os.IsNotExist(err) {
		t.Fatalf("tiny.gguf exists after a cut download: %v", err)
	}
	have := fileSize(part)

	code, stdout, stderr := run("models", "add", url, "-dir", dir, "-sha256", hexSum(model), "--json")
	if code != ExitOK {
		t.Fatalf("resume: exit %d, stderr:\n%s", code, stderr)
	}
	var res addedModel
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Resumed != have || res.SHA256 != hexSum(model) {
		t.Errorf("resumed from %d (want %d), sha256 %s", res.Resumed, have, res.SHA256)
	}
	srv.mu.Lock()
	ranges := slices.Clone(srv.ranges)
	srv.mu.Unlock()
	if want := []string{"", "bytes=" + strconv.FormatInt(have, 10) + "-"}; !slices.Equal(ranges, want) {
		t.Errorf("Range headers %q, want %q", ranges, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "tiny.gguf")); !bytes.Equal(got, model) {
		t.Errorf("the resumed file differs from the model (%d bytes, want %d)", len(got), len(model))
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"tiny.gguf"}) {
		t.Errorf("directory holds %q", names)
	}
}

func TestModelsAddRefuses(t *testing.T) {
	model := syntheticModel(t)
	srv := newFileServer(t, map[string][]byte{
		"/tiny.gguf":  model,
		"/notes.gguf": []byte("GGUF but not really a model, just text"),
		"/bad.gguf":   model,
		// A sidecar that does not match: the download is refused.
		"/bad.gguf.sha256": []byte(strings.Repeat("0", 64) + "\n"),
	})
	local := filepath.Join(t.TempDir(), "local.gguf")
	if err := os.WriteFile(local, model[:len(model)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/tiny.gguf"
	ln.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "wrong sha256 flag", args: []string{srv.URL + "/tiny.gguf", "-sha256", strings.Repeat("ab", 32)}, wantCode: ExitError, wantErr: "sha256 mismatch"},
		{name: "wrong sha256 sidecar", args: []string{srv.URL + "/bad.gguf"}, wantCode: ExitError, wantErr: "sha256 mismatch"},
		{name: "not a GGUF", args: []string{srv.URL + "/notes.gguf"}, wantCode: ExitUsage, wantErr: "not a model the engine can serve"},
		{name: "truncated local file", args: []string{local}, wantCode: ExitUsage, wantErr: "not a model the engine can serve"},
		{name: "404", args: []string{srv.URL + "/missing.gguf"}, wantCode: ExitNotFound, wantErr: "404"},
		{name: "missing local file", args: []string{local + ".nope.gguf"}, wantCode: ExitNotFound, wantErr: "no such file"},
		{name: "connection refused", args: []string{refused}, wantCode: ExitUnavailable, wantErr: "refused"},
		{name: "over max size", args: []string{srv.URL + "/tiny.gguf", "-max-size", "1000"}, wantCode: ExitUsage, wantErr: "over -max-size"},
		{name: "not .gguf", args: []string{srv.URL + "/tiny.bin"}, wantCode: ExitUsage, wantErr: "does not end in .gguf"},
		{name: "bad -sha256", args: []string{srv.URL + "/tiny.gguf", "-sha256", "xyz"}, wantCode: ExitUsage, wantErr: "not 64 hex digits"},
		{name: "bad -name", args: []string{srv.URL + "/tiny.gguf", "-name", "../x"}, wantCode: ExitUsage, wantErr: "not a usable model file name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			code, _, stderr := run(append([]string{"models", "add", "-dir", dir}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d (want %d), stderr (want %q):\n%s", code, tc.wantCode, tc.wantErr, stderr)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("the directory holds %q after a refusal", names)
			}
		})
	}
}

func TestModelsAddCopiesWithProgress(t *testing.T) {
	model := syntheticModel(t)
	src := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := os.WriteFile(src, model, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := Main(t.Context(), Env{Stdout: &out, Stderr: &errb, terminal: true},
		[]string{"models", "add", src, "-dir", dir, "-name", "copied"})
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "\r\x1b[2K") || !strings.Contains(errb.String(), "(100%)") {
		t.Errorf("no progress bar on a terminal: %q", errb.String())
	}
	if !strings.Contains(out.String(), "added "+filepath.Join(dir, "copied.gguf")) || !strings.Contains(out.String(), hexSum(model)) {
		t.Errorf("stdout:\n%s", out.String())
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "copied.gguf")); !bytes.Equal(got, model) {
		t.Error("the copy differs from the source")
	}
}
