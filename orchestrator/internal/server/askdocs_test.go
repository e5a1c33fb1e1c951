package server

import (
	"strings"
	"testing"

	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/chromemstore"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// handbook is the collection ask-documents searches in these tests.
var handbook = []*retrievalv1.Document{
	{Id: "README.md", Text: "# Chorus\n\nChorus serves generative models over gRPC. Run make test to run the tests of every module. The tests need no network."},
	{Id: "docs/deploy.md", Text: "# Deploying\n\nThe Helm chart deploys Chorus on Kubernetes. Compose runs the stack on one machine."},
	{Id: "docs/voices.md", Text: "# Voices\n\nThe audio service speaks with flite voices. Espeak offers a hundred languages."},
}

// newCollections serves collections over a fresh on-disk store and the
// fake embedder, with handbook in the collection "handbook".
func newCollections(t *testing.T) *collection.Server {
	t.Helper()
	store, err := chromemstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := collection.NewServer(store, genaitest.ServeEmbedder(t, genaitest.NewEmbedder()))
	if _, err := srv.CreateCollection(t.Context(), &retrievalv1.CreateCollectionRequest{Name: "handbook"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddDocuments(t.Context(), &retrievalv1.AddDocumentsRequest{Collection: "handbook", Documents: handbook}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestAskDocuments(t *testing.T) {
	const question = "How do I run the tests?"
	for _, tc := range []struct {
		name       string
		chat       bool
		voice      string
		wantAnswer string
		wantCalls  int
		wantSpoken int
	}{
		{name: "completion model: extractive, cited", chat: false, wantCalls: 0,
			wantAnswer: "Run make test to run the tests of every module. The tests need no network. [1]"},
		{name: "chat model answers from the passages", chat: true, wantCalls: 1, wantAnswer: "Run make test [1]."},
		{name: "with a voice", chat: true, voice: "default", wantCalls: 1, wantAnswer: "Run make test [1].", wantSpoken: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := &textModels{chat: tc.chat, reply: func(string) string { return "Run make test [1]." }}
			audio := &speaking{}
			c := newTestServer(t, fakes{text: text.service(), audio: audio.service(), retriever: newCollections(t)})
			inputs := map[string]string{"question": question, "collection": "handbook", "top_k": "2"}
			if tc.voice != "" {
				inputs["voice"] = tc.voice
			}
			events, err := run(t, c, "ask-documents", inputs)
			if err != nil {
				t.Fatal(err)
			}
			out := outputs(events)
			sources := out["sources"].GetText()
			if blocks := strings.Split(sources, "\n\n"); len(blocks) != 2 || !strings.HasPrefix(blocks[0], "[1] README.md\n") ||
				!strings.Contains(blocks[0], "\nRun make test to run the tests of every module.\n") || !strings.HasPrefix(blocks[1], "[2] ") {
				t.Errorf("sources %q: want 2 passages, README.md's first, a sentence a line", sources)
			}
			answer := out["answer"].GetText()
			if !strings.HasPrefix(answer, tc.wantAnswer) {
				t.Errorf("answer %q, want it to start %q", answer, tc.wantAnswer)
			}
			if !tc.chat && !strings.Contains(answer, "Sources:\n[1] README.md\n[2] ") {
				t.Errorf("extractive answer %q lists no sources", answer)
			}
			calls := text.calls()
			if len(calls) != tc.wantCalls {
				t.Fatalf("%d text calls, want %d", len(calls), tc.wantCalls)
			}
			if tc.chat && (!strings.Contains(calls[0], "[1] README.md\n") || !strings.Contains(calls[0], "Question: "+question)) {
				t.Errorf("chat prompt %q lacks the passages or the question", calls[0])
			}
			audio.mu.Lock()
			spoken := len(audio.reqs)
			var voice, said string
			if spoken > 0 {
				voice, said = audio.reqs[0].GetAudio().GetVoice(), audio.reqs[0].GetPrompt()
			}
			audio.mu.Unlock()
			if spoken > 0 && said != "Run make test." {
				t.Errorf("spoke %q, want the answer without its citation", said)
			}
			if spoken != tc.wantSpoken || voice != "" {
				t.Errorf("%d sentences spoken (voice %q), want %d with the default voice", spoken, voice, tc.wantSpoken)
			}
			if a := out["voiceover[0]"]; (a != nil) != (tc.wantSpoken > 0) {
				t.Errorf("voiceover[0] = %v, want one only with a voice", a)
			}
		})
	}
}

func TestAskDocumentsErrors(t *testing.T) {
	text := &textModels{chat: true, reply: func(string) string { return "x" }}
	for _, tc := range []struct {
		name       string
		collection string
		retriever  bool
		code       codes.Code
	}{
		{name: "unknown collection", collection: "nope", retriever: true, code: codes.NotFound},
		{name: "bad collection name", collection: "no such", retriever: true, code: codes.InvalidArgument},
		{name: "no collections served", collection: "handbook", code: codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fakes{text: text.service()}
			if tc.retriever {
				f.retriever = newCollections(t)
			}
			c := newTestServer(t, f)
			events, err := run(t, c, "ask-documents", map[string]string{"question": "tests?", "collection": tc.collection})
			if status.Code(err) != tc.code {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
			if f := events[len(events)-1].GetRunFailed(); f.GetStep() != "passages" {
				t.Errorf("last event %v, want the passages step failed", events[len(events)-1])
			}
		})
	}
}
