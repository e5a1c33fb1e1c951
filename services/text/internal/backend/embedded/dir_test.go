package embedded

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func modelNames(d *Dir) []string {
	var names []string
	for _, m := range d.Models() {
		names = append(names, m.GetName())
	}
	return names
}

func openDir(t *testing.T, dir string) (*Dir, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	d, err := OpenDirWatch(dir, Config{Sessions: 1}, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, &logs
}

func TestDirSkipsACorruptFileUntilItChanges(t *testing.T) {
	dir := t.TempDir()
	writeModel(t, dir, "a", "")
	d, logs := openDir(t, dir)
	broken := filepath.Join(dir, "b.gguf")
	if err := os.WriteFile(broken, []byte("GGUF, cut short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got := modelNames(d); len(got) != 1 || got[0] != "a" {
		t.Fatalf("models %q, want [a]", got)
	}
	if !bytes.Contains(logs.Bytes(), []byte("does not load")) || !bytes.Contains(logs.Bytes(), []byte("b.gguf")) {
		t.Errorf("the corrupt file was not logged:\n%s", logs.String())
	}
	// The same file written whole (a copy finishing) loads at the next scan.
	writeModel(t, dir, "b", "")
	if err := d.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got := modelNames(d); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("models %q, want [a b]", got)
	}
}

func TestDirFinishesRunningRequestsOfARemovedModel(t *testing.T) {
	dir := t.TempDir()
	path := writeModel(t, dir, "a", "")
	d, _ := openDir(t, dir)
	started, finish := make(chan struct{}), make(chan struct{})
	type result struct {
		resp *genaiv1.GenerateResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		first := true
		resp, err := d.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "a", Prompt: "The sea",
			Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{MaxTokens: 6}}},
			func(*genaiv1.GenerateChunk) error {
				if first {
					first = false
					close(started)
					<-finish
				}
				return nil
			})
		done <- result{resp, err}
	}()
	<-started
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := d.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got := modelNames(d); len(got) != 0 {
		t.Fatalf("models %q after removing a.gguf", got)
	}
	_, err := d.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "a", Prompt: "x"}, func(*genaiv1.GenerateChunk) error { return nil })
	if status.Code(err) != codes.NotFound {
		t.Errorf("a new request for the removed model: %v, want NOT_FOUND", err)
	}
	close(finish)
	r := <-done
	if r.err != nil || r.resp.GetUsage().GetOutputTokens() == 0 {
		t.Errorf("the request running at removal ended with %v, %v", r.resp, r.err)
	}
}
