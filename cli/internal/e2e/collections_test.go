package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/processtest"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
)

// TestAskDocuments is the retrieval done-when: `chorus collections add` on
// the README and docs/, then ask-documents "How do I run the tests?",
// offline, answers citing the README passage that holds `make test`. The
// servers are the real ones, built here and run as processes: the text
// service (chorus-mini, a completion model, so the answer is the
// extractive one), the embedding service (chorus-embed, both from the
// repository's models/), the orchestrator (collections searched in their
// default, hybrid mode) and the gateway, driven by the built chorus binary.
func TestAskDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the servers and chorus and runs them as processes; run without -short")
	}
	root := processtest.RepoRoot(t)
	bin := processtest.Build(t, "./services/text/cmd/text", "./services/audio/cmd/audio", "./services/embed/cmd/embed",
		"./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway", "./cli/cmd/chorus")

	l := processtest.FreeLayout(t)
	addr := func(port int) string { return ports.Addr("127.0.0.1", port) }
	textAddr, audioAddr, embedAddr, orchAddr, httpAddr := addr(l.Text()), addr(l.Audio()), addr(l.Embed()), addr(l.Orchestrator), addr(l.Gateway)
	// The image service is not started: ask-documents does not call it.
	// The audio service is, since a run checks first that every service
	// its steps may call answers, voiceover included.
	deadAddr := addr(l.Image())
	start := func(name string, args ...string) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = root
		cmd.Env = processtest.HermeticEnv(t)
		processtest.Start(t, name, cmd)
	}
	start("text", "-grpc-addr", textAddr, "-metrics-addr", "")
	start("audio", "-grpc-addr", audioAddr, "-metrics-addr", "")
	start("embed", "-grpc-addr", embedAddr, "-metrics-addr", "")
	start("orchestrator", "-grpc-addr", orchAddr, "-metrics-addr", "", "-text-addr", textAddr, "-image-addr", deadAddr,
		"-audio-addr", audioAddr, "-embed-addr", embedAddr, "-data-dir", t.TempDir())
	start("gateway", "-http-addr", httpAddr, "-orchestrator-addr", orchAddr, "-text-addr", textAddr,
		"-image-addr", deadAddr, "-audio-addr", audioAddr)
	gateway := "http://" + httpAddr
	waitFor(t, gateway+"/v1/collections")
	waitForEmbed(t, embedAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	chorus := func(args ...string) (code int, stdout, stderr string) {
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "chorus"), args...)
		cmd.Env = processtest.HermeticEnv(t, "CHORUS_GATEWAY="+gateway)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("chorus %q: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}

	code, out, errOut := chorus("collections", "add", "README.md", "docs")
	if code != 0 || !strings.Contains(out, "README.md\t") || !strings.Contains(out, "docs/cli.md\t") || !strings.Contains(errOut, "created collection docs") {
		t.Fatalf("collections add: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = chorus("collections", "list", "--json")
	var list retrievalv1.ListCollectionsResponse
	if err := protojson.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.GetCollections()) != 1 || list.GetCollections()[0].GetChunkCount() < 10 {
		t.Fatalf("collections list --json: exit %d, %v: %s", code, err, out)
	}
	code, out, errOut = chorus("collections", "search", "-top-k", "3", "-filter", "path=README.md", "How do I run the tests?")
	if code != 0 || strings.Count(out, "README.md#") != 3 {
		t.Errorf("collections search -filter path=README.md: exit %d, want 3 README.md chunks:\n%s\n%s", code, out, errOut)
	}

	outDir := t.TempDir()
	code, out, errOut = chorus("run", "ask-documents", "-input", "question=How do I run the tests?", "-out", outDir)
	if code != 0 {
		t.Fatalf("run ask-documents: exit %d\n%s\n%s", code, out, errOut)
	}
	answer, sources := readOutput(t, outDir, "answer.txt"), readOutput(t, outDir, "sources.txt")
	t.Logf("answer:\n%s\nsources:\n%s", answer, sources)
	// The passage the answer must cite: a README passage with `make test`.
	var cited string
	for _, block := range strings.Split(sources, "\n\n") {
		header, body, _ := strings.Cut(block, "\n")
		if n, ok := strings.CutSuffix(header, " README.md"); ok && strings.Contains(body, "make test") {
			cited = n // "[k]"
			break
		}
	}
	if cited == "" {
		t.Fatalf("no README.md passage with `make test` among the sources:\n%s", sources)
	}
	if !strings.Contains(answer, "make test") || !strings.Contains(answer, cited) || !strings.Contains(answer, cited+" README.md") {
		t.Errorf("the answer does not cite the README passage %s with `make test`:\n%s", cited, answer)
	}

	if code, _, errOut = chorus("collections", "create", "docs"); code != 1 || !strings.Contains(errOut, "HTTP 409") || !strings.Contains(errOut, "COLLECTION_EXISTS") {
		t.Errorf("create of an existing collection: exit %d, want 1 and HTTP 409\n%s", code, errOut)
	}
	if code, _, errOut = chorus("collections", "create", "bad name"); code != 2 || !strings.Contains(errOut, "HTTP 400") {
		t.Errorf("create with a bad name: exit %d, want 2 and HTTP 400\n%s", code, errOut)
	}
	code, _, errOut = chorus("collections", "search", "-collection", "nope", "tests")
	if code != 3 {
		t.Errorf("search of a missing collection: exit %d, want 3 (not found)\n%s", code, errOut)
	}
	// The REST routes the CLI does not use.
	before := list.GetCollections()[0].GetChunkCount()
	status, body := post(t, http.DefaultClient, gateway+"/v1/collections/docs/documents:delete", `{"ids": ["docs/cli.md"]}`)
	var deleted retrievalv1.DeleteDocumentsResponse
	if err := protojson.Unmarshal(body, &deleted); status != http.StatusOK || err != nil || deleted.GetDeletedChunks() < 1 {
		t.Errorf("POST documents:delete: %d %s", status, body)
	}
	resp, err := http.Get(gateway + "/v1/collections/docs")
	if err != nil {
		t.Fatal(err)
	}
	var got retrievalv1.GetCollectionResponse
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := protojson.Unmarshal(b, &got); resp.StatusCode != http.StatusOK || err != nil || got.GetCollection().GetChunkCount() != before-deleted.GetDeletedChunks() {
		t.Errorf("GET /v1/collections/docs after deleting docs/cli.md: %d %s; want %d chunks", resp.StatusCode, b, before-deleted.GetDeletedChunks())
	}
	if code, _, errOut = chorus("collections", "delete", "docs"); code != 0 {
		t.Errorf("collections delete: exit %d\n%s", code, errOut)
	}
	if code, out, _ = chorus("collections", "list", "--json"); code != 0 || strings.Contains(out, `"docs"`) {
		t.Errorf("after delete, collections list: exit %d: %s", code, out)
	}
}

// waitFor polls url until it answers 200.
func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 60s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForEmbed waits until the embedding service at addr serves
// chorus-embed.
func waitForEmbed(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := genaiv1.NewEmbeddingServiceClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.ListModels(ctx, &genaiv1.ListModelsRequest{})
		cancel()
		if err == nil && slices.ContainsFunc(resp.GetModels(), func(m *genaiv1.Model) bool { return m.GetName() == "chorus-embed" }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the embedding service at %s did not serve chorus-embed within 60s: %v %v", addr, resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
