package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chorus-ai/chorus/e2e/internal/suite"
	"github.com/chorus-ai/chorus/platform/openaitest"
)

// findChromium returns the browser's path. Without one the test skips,
// except under CI, where the Makefile's deps must have installed it.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH under CI: `make deps` installs Debian's chromium")
	}
	t.Skip("no chromium on PATH: install it (apt-get install -y chromium, or make deps as root) to run the playground test")
	return ""
}

// TestPlayground drives the playground page in Chromium as a person would:
// it types a topic, runs script-then-voiceover on the real suite (offline
// defaults: chorus-mini and flite), waits until the voiceover is playable
// and the script shown, then voices a sentence and makes two images in the
// direct panel, and saves screenshots as test artifacts.
func TestPlayground(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and starts the whole suite and a browser; run without -short")
	}
	chrome := findChromium(t)
	// Text and speech are the offline defaults; images come from the fake
	// OpenAI server through the image service's openai backend (the image
	// service has no offline model yet).
	fake := openaitest.New(openaitest.Options{Models: []string{"fake-painter"}, APIKey: "test-key"})
	t.Cleanup(fake.Close)
	s := suite.Start(t, suite.Options{Env: []string{
		"CHORUS_IMAGE_OPENAI_BASE_URL=" + fake.BaseURL,
		"CHORUS_IMAGE_OPENAI_API_KEY=test-key",
		"CHORUS_IMAGE_OPENAI_MODELS=fake-painter",
	}})

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 1000))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first action starts the browser, which lives as long as its
	// context: no timeout on it.
	start := time.Now()
	if err := chromedp.Do(browser, chromedp.Navigate(s.URL+"/")); err != nil {
		t.Fatalf("opening the playground: %v", err)
	}
	t.Logf("browser up and page loaded in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(browser, 3*time.Minute)
	defer cancel()

	const topic = "the lighthouse keeper"
	err := chromedp.Do(ctx,
		// The form is built from GET /v1/pipelines/script-then-voiceover.
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "true" && document.querySelector("#pipeline").value === "script-then-voiceover" && !!document.querySelector("#input-topic")`,
			chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.SendKeys(chromedp.ID("input-topic"), topic),
		chromedp.Click(chromedp.ID("run")),
	)
	if err != nil {
		t.Fatalf("filling in the form: %v", err)
	}
	runStart := time.Now()
	// Done when the voiceover's audio element has a source (a blob URL of
	// the inline bytes, or the gateway's /v1/artifacts/ URL for an output
	// over the inline limit) whose metadata the browser has read (a playable
	// source), and the script is shown; a failure shows in #run-error.
	done, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const err = document.querySelector("#run-error");
		if (!err.hidden) return "error: " + err.textContent;
		const a = document.querySelector('#outputs audio');
		const script = document.querySelector('#outputs [data-output="script"] pre');
		if (a && (a.src.startsWith("blob:") || a.src.includes("/v1/artifacts/")) && a.readyState >= 1 && a.duration > 0 && script && script.textContent.trim() !== "") return "ok";
		return false;
	})()`, chromedp.WithPollingTimeout(2*time.Minute), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for the run to finish: %v", err)
	}
	if done != "ok" {
		t.Fatalf("the run failed in the page: %s", done)
	}
	t.Logf("run finished in the page after %s", time.Since(runStart).Round(time.Millisecond))

	type pageState struct {
		Script    string   `json:"script"`
		Streamed  string   `json:"streamed"`
		Duration  float64  `json:"duration"`
		Steps     []string `json:"steps"`
		Downloads []string `json:"downloads"`
		Status    string   `json:"status"`
	}
	state, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](`({
		script: document.querySelector('#outputs [data-output="script"] pre').textContent,
		streamed: (document.querySelector('#texts [data-step="script"] pre') || {}).textContent || "",
		duration: document.querySelector('#outputs audio').duration,
		steps: [...document.querySelectorAll("#steps li")].map(li => li.dataset.step + ":" + li.querySelector(".state").textContent),
		downloads: [...document.querySelectorAll("#outputs a[download]")].map(a => a.getAttribute("download")),
		status: document.querySelector("#run-status").textContent,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("script (%d bytes, %.1f s of voiceover): %.120q", len(state.Script), state.Duration, state.Script)
	if strings.TrimSpace(state.Streamed) == "" {
		t.Errorf("the script was not shown as it was written")
	}
	if state.Duration < 1 {
		t.Errorf("voiceover lasts %.2f s", state.Duration)
	}
	for _, want := range []string{"script:completed", "voiceover:completed"} {
		if !strings.Contains(strings.Join(state.Steps, " "), want) {
			t.Errorf("steps %v lack %s", state.Steps, want)
		}
	}
	for _, want := range []string{"script.txt", "voiceover.wav", "captions.vtt"} {
		if !strings.Contains(strings.Join(state.Downloads, " "), want) {
			t.Errorf("downloads %v lack %s", state.Downloads, want)
		}
	}
	if !strings.HasPrefix(state.Status, "Completed") {
		t.Errorf("status %q", state.Status)
	}

	// The direct panel: the Speech tab reached with the keyboard (arrow
	// keys move between tabs), a sentence voiced by flite.
	err = chromedp.Do(ctx,
		chromedp.Focus(chromedp.ID("tab-text")),
		chromedp.SendKeys(chromedp.ID("tab-text"), kb.ArrowRight+kb.ArrowRight),
		chromedp.Poll[chromedp.Void](`document.activeElement.id === "tab-audio" && document.querySelector("#tab-audio").getAttribute("aria-selected") === "true"`,
			chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.SendKeys(chromedp.ID("gen-prompt"), "Hello from the playground."),
		chromedp.Click(chromedp.ID("generate")),
	)
	if err != nil {
		t.Fatalf("the speech tab: %v", err)
	}
	voiced, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const err = document.querySelector("#generate-error");
		if (!err.hidden) return "error: " + err.textContent;
		const a = document.querySelector("#generate-result audio");
		return a && a.readyState >= 1 && a.duration > 0 ? "ok" : false;
	})()`, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil || voiced != "ok" {
		t.Fatalf("generating speech in the direct panel: %v %s", err, voiced)
	}

	// The Image tab, by mouse this time: two images of the size asked for.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("tab-image")),
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(document.querySelector("#gen-prompt").value = "", true)`)(ctx, tgt)
			return err
		}),
		chromedp.SendKeys(chromedp.ID("gen-prompt"), "a red kite over the sea"),
		chromedp.SendKeys(chromedp.ID("gen-width"), "128"),
		chromedp.SendKeys(chromedp.ID("gen-height"), "64"),
		chromedp.SendKeys(chromedp.ID("gen-count"), "2"),
		chromedp.Click(chromedp.ID("generate")),
	)
	if err != nil {
		t.Fatalf("the image tab: %v", err)
	}
	images, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const err = document.querySelector("#generate-error");
		if (!err.hidden) return "error: " + err.textContent;
		const imgs = [...document.querySelectorAll("#generate-result img")];
		if (imgs.length < 2 || !imgs.every(i => i.complete && i.naturalWidth > 0)) return false;
		return imgs.map(i => i.naturalWidth + "x" + i.naturalHeight).join(" ");
	})()`, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil || images != "128x64 128x64" {
		t.Fatalf("generating images in the direct panel: %v %s", err, images)
	}
	dir := suite.ArtifactDir(t)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "playground.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// On a phone-sized screen the page must not scroll sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.scrollTo(0, 0), document.documentElement.scrollWidth - window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Errorf("on a 390 px wide screen the page is %d px too wide", overflow)
	}
	narrow, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	narrowPath := filepath.Join(dir, "playground-narrow.png")
	if err := os.WriteFile(narrowPath, narrow, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("narrow screenshot: %s", narrowPath)
}
