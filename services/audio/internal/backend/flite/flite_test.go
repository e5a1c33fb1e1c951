package flite

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/wav"
)

// Flite runs in-process: text it chokes on would take the server down, so
// odd input must come back as speech or silence, never a crash.
func TestSynthOddText(t *testing.T) {
	texts := []string{
		"",
		" ",
		"🙂🙂 emoji, \x01\x1b[31m control bytes \x7f, nul\x00inside, 你好",
		"你好，世界。",
		"Ünïcödé çàfé naïve façade.",
		"\x01\x02\x1b[31m control \x7f bytes",
		"nul\x00inside",
		strings.Repeat("a", 40),
		strings.Repeat("9", 12),
		"$1,234.89 at 12:30pm, 50% off, http://x.io/a?b&c",
		"(((((( [[[[ {{{{ ''''' \"\"\"\" ))))",
		"I.B.M. U.S.A. Ph.D. e.g. i.e. etc...",
		strings.Repeat("word, ", 6),
	}
	// Every text through the default voice, the oddest through them all.
	for i, text := range texts {
		for v := range voices {
			if v > 0 && i != 2 {
				continue
			}
			a, err := synth(v, text, 1)
			if err != nil {
				t.Errorf("voice %s, %q: %v", voices[v].name, text, err)
				continue
			}
			if a.Rate <= 0 {
				t.Errorf("voice %s, %q: rate %d", voices[v].name, text, a.Rate)
			}
		}
	}
}

// The worker dying mid-request (here killed with SIGKILL after the first
// sentence, as Flite's exit() would end it) fails that request with
// UNAVAILABLE, leaves this process running, and the next request is voiced
// by a new worker.
func TestWorkerDeathFailsOnlyTheCallInFlight(t *testing.T) {
	b := New()
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	req := &genaiv1.GenerateRequest{Prompt: "One sentence here. Another one there. And a third to end."}
	var killed int64
	_, err := b.Generate(ctx, req, func(c *genaiv1.GenerateChunk) error {
		if killed == 0 {
			killed = b.wk.running.Load()
			if err := syscall.Kill(int(killed), syscall.SIGKILL); err != nil {
				t.Errorf("kill: %v", err)
			}
		}
		return nil
	})
	if killed == 0 {
		t.Fatal("no worker ran the first sentence")
	}
	if status.Code(err) != codes.Unavailable || !errors.Is(err, errWorkerDied) {
		t.Fatalf("the call whose worker died: %v, want UNAVAILABLE (worker died)", err)
	}
	resp, err := b.Generate(ctx, req, func(*genaiv1.GenerateChunk) error { return nil })
	if err != nil {
		t.Fatalf("the next call: %v", err)
	}
	if pid := b.wk.running.Load(); pid == 0 || pid == killed {
		t.Errorf("worker pid %d after the restart, the killed one was %d", pid, killed)
	}
	a, err := wav.Decode(resp.GetArtifacts()[0].GetData())
	if err != nil || len(a.Samples) < a.Rate {
		t.Fatalf("the next call's speech: %d samples at %d Hz, %v; want over a second", len(a.Samples), a.Rate, err)
	}
}

// The worker's speech is the in-process synthesis's: same rate, same
// length (the samples themselves differ in places: Flite's state differs
// between a fresh process and this one, which has spoken before).
func TestWorkerSpeaksLikeTheLibrary(t *testing.T) {
	var wk worker
	t.Cleanup(func() { _ = wk.close() })
	for v := range voices {
		want, err := synth(v, "Hello there.", 1.25)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wk.synth(context.Background(), v, "Hello there.", 1.25)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rate != want.Rate || len(got.Samples) != len(want.Samples) || slices.Max(got.Samples) == 0 {
			t.Errorf("voice %s: worker %d samples at %d Hz, library %d at %d", voices[v].name, len(got.Samples), got.Rate, len(want.Samples), want.Rate)
		}
	}
}

// BenchmarkSynth compares one sentence voiced in this process with the
// same through the worker: the worker's cost is the round trip over its
// pipes. Report both ns/op and their ratio.
func BenchmarkSynth(b *testing.B) {
	const text = "The quick brown fox jumps over the lazy dog, and then it runs away."
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := synth(0, text, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("worker", func(b *testing.B) {
		var wk worker
		defer wk.close()
		if _, err := wk.synth(context.Background(), 0, text, 1); err != nil { // start it
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := wk.synth(context.Background(), 0, text, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
