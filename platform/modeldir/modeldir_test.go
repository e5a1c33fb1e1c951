package modeldir_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/modeldir"
	"github.com/chorus-ai/chorus/platform/syncio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeModel stands in for a loaded model file: it answers with the file's
// content, and a request it serves waits for hold (when set) to close.
type fakeModel struct {
	name, text string
	hold       chan struct{}
	started    chan struct{}
	closed     atomic.Bool
	closedCh   chan struct{} // closed by Close
}

// Slots is the fake's concurrency, which Dir.Concurrency passes on.
func (f *fakeModel) Slots() int { return 3 }

func (f *fakeModel) Models() []*genaiv1.Model { return []*genaiv1.Model{{Name: f.name}} }

func (f *fakeModel) Generate(ctx context.Context, req *genaiv1.GenerateRequest, _ func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	if f.hold != nil {
		close(f.started)
		<-f.hold
	}
	if f.closed.Load() {
		return nil, errors.New("served by a closed model")
	}
	return &genaiv1.GenerateResponse{Model: f.name, Artifacts: []*genaiv1.Artifact{{Content: &genaiv1.Artifact_Text{Text: f.text}}}}, nil
}

func (f *fakeModel) Close() error {
	if !f.closed.Swap(true) {
		close(f.closedCh)
	}
	return nil
}

// hooks let a test hold a request inside the (one) fake model and see it
// closed.
type hooks struct{ hold, started, closed chan struct{} }

// fakeOpen loads files that start with "model", declines "other" ones
// (another service's) and fails on the rest.
func fakeOpen(h *hooks) modeldir.Opener[*fakeModel] {
	return func(p string) (*fakeModel, bool, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, false, err
		}
		switch {
		case bytes.HasPrefix(b, []byte("other")):
			return nil, false, nil
		case !bytes.HasPrefix(b, []byte("model")):
			return nil, false, errors.New("not a model")
		}
		name := strings.TrimSuffix(filepath.Base(p), ".gguf")
		m := &fakeModel{name: name, text: string(b), closedCh: make(chan struct{})}
		if h != nil {
			m.hold, m.started, m.closedCh = h.hold, h.started, h.closed
		}
		return m, true, nil
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func names(d *modeldir.Dir[*fakeModel]) string {
	var ns []string
	for _, m := range d.Models() {
		ns = append(ns, m.GetName())
	}
	return strings.Join(ns, ",")
}

func open(t *testing.T, dir string, h *hooks, rescan time.Duration) (*modeldir.Dir[*fakeModel], *syncio.Writer) {
	t.Helper()
	logs := &syncio.Writer{}
	d, err := modeldir.Open(dir, fakeOpen(h), rescan, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, logs
}

func TestOpenFailsOnAFileThatDoesNotLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.gguf", "model a")
	write(t, dir, "b.gguf", "garbage")
	if d, err := modeldir.Open(dir, fakeOpen(nil), 0, slog.New(slog.DiscardHandler)); err == nil {
		d.Close()
		t.Fatal("Open loaded a directory with a corrupt file")
	}
	// A missing directory serves nothing, until files appear.
	d, _ := open(t, filepath.Join(dir, "missing"), nil, 0)
	if got := names(d); got != "" {
		t.Errorf("a missing directory lists %q", got)
	}
}

func TestRescanFollowsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.gguf", "model a")
	write(t, dir, "pixels.gguf", "other service's")
	write(t, dir, "notes.txt", "model, but not a .gguf file")
	d, logs := open(t, dir, nil, 0)
	if got := names(d); got != "a" {
		t.Fatalf("at start: %q", got)
	}
	write(t, dir, "c.gguf", "cut sho") // a copy still being written
	write(t, dir, "b.gguf", "model b")
	if err := d.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got := names(d); got != "a,b" {
		t.Fatalf("after adding b and a broken c: %q", got)
	}
	if !strings.Contains(logs.String(), "does not load") || !strings.Contains(logs.String(), "c.gguf") {
		t.Errorf("the broken file was not logged:\n%s", logs.String())
	}
	write(t, dir, "c.gguf", "model c, complete") // the copy finished: it changed
	write(t, dir, "a.gguf", "model a, version 2")
	if err := os.Remove(filepath.Join(dir, "b.gguf")); err != nil {
		t.Fatal(err)
	}
	if err := d.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got := names(d); got != "a,c" {
		t.Fatalf("after removing b and finishing c: %q", got)
	}
	resp, err := d.Generate(t.Context(), &genaiv1.GenerateRequest{Model: "a"}, nil)
	if err != nil || resp.GetArtifacts()[0].GetText() != "model a, version 2" {
		t.Errorf("a changed file was not reloaded: %v, %v", resp, err)
	}
	if _, err := d.Generate(t.Context(), &genaiv1.GenerateRequest{Model: "b"}, nil); status.Code(err) != codes.NotFound {
		t.Errorf("a removed model: %v, want NOT_FOUND", err)
	}
	if a, b := d.Concurrency("a"), d.Concurrency("b"); a != 3 || b != 0 {
		t.Errorf("Concurrency: a %d (want its Slots, 3), removed b %d (want 0)", a, b)
	}
}

func TestTheTickerRescans(t *testing.T) {
	dir := t.TempDir()
	d, _ := open(t, dir, nil, 5*time.Millisecond)
	write(t, dir, "a.gguf", "model a")
	for deadline := time.Now().Add(5 * time.Second); names(d) != "a" && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := names(d); got != "a" {
		t.Fatalf("a file added while running was not picked up: %q", got)
	}
}

func TestARemovedModelFinishesItsRunningRequests(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.gguf", "model a")
	h := &hooks{hold: make(chan struct{}), started: make(chan struct{}), closed: make(chan struct{})}
	hold, started, closed := h.hold, h.started, h.closed
	d, _ := open(t, dir, h, 0)
	m := d.Models()
	if len(m) != 1 {
		t.Fatalf("models %v", m)
	}
	type result struct {
		resp *genaiv1.GenerateResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := d.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "a"}, nil)
		done <- result{resp, err}
	}()
	<-started // the request is inside the model
	if err := os.Remove(filepath.Join(dir, "a.gguf")); err != nil {
		t.Fatal(err)
	}
	if err := d.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got := names(d); got != "" {
		t.Fatalf("after removing a.gguf: %q", got)
	}
	_, _ = d.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "a"}, nil) // NOT_FOUND now
	select {
	case <-closed:
		t.Fatal("the removed model was closed while a request ran on it")
	case <-time.After(50 * time.Millisecond):
	}
	close(hold)
	if r := <-done; r.err != nil || r.resp.GetModel() != "a" {
		t.Errorf("the request running at removal ended with %v, %v (closed under it?)", r.resp, r.err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the removed model was not closed once its request ended")
	}
}
