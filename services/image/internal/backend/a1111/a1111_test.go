package a1111

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeWebUI is a test-only fake of the AUTOMATIC1111 web UI API: POST /sdapi/v1/txt2img
// answers as the real server does ({"images": [base64 PNG...], "parameters": {...},
// "info": "<JSON string>"}) and GET /sdapi/v1/progress reports a job's progress.
type fakeWebUI struct {
	srv *httptest.Server
	// user and pass, when set, are the --api-auth credentials.
	user, pass string
	// polls is how many progress polls txt2img waits for before answering (0: none).
	polls int
	// fail, when set, answers txt2img with this status and body instead.
	failStatus int
	failBody   string
	// answer, when set, replaces the whole txt2img response body.
	answer string

	mu       sync.Mutex
	got      map[string]any // the last txt2img body, as JSON
	polled   int
	progress chan struct{}
}

func newFake(tb testing.TB, edit func(*fakeWebUI)) *fakeWebUI {
	tb.Helper()
	f := &fakeWebUI{progress: make(chan struct{}, 100)}
	if edit != nil {
		edit(f)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sdapi/v1/txt2img", f.txt2img)
	mux.HandleFunc("GET /sdapi/v1/progress", f.progressHandler)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWebUI) authorized(w http.ResponseWriter, r *http.Request) bool {
	if f.user == "" {
		return true
	}
	if u, p, ok := r.BasicAuth(); ok && u == f.user && p == f.pass {
		return true
	}
	w.Header().Set("WWW-Authenticate", "Basic")
	http.Error(w, `{"detail":"Incorrect username or password"}`, http.StatusUnauthorized)
	return false
}

func (f *fakeWebUI) progressHandler(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	f.mu.Lock()
	f.polled++
	n := f.polled
	f.mu.Unlock()
	select {
	case f.progress <- struct{}{}:
	default:
	}
	fmt.Fprintf(w, `{"progress": %v, "eta_relative": 1.5, "state": {"skipped": false, "interrupted": false, "job": "txt2img", "job_count": 1, "job_timestamp": "20261130093000", "job_no": 0, "sampling_step": %d, "sampling_steps": 20}, "current_image": null, "textinfo": null}`,
		min(0.95, 0.25*float64(n)), min(19, 5*n))
}

func (f *fakeWebUI) txt2img(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"detail":"There was an error parsing the body"}`, http.StatusUnprocessableEntity)
		return
	}
	f.mu.Lock()
	f.got = body
	f.mu.Unlock()
	for range f.polls {
		select {
		case <-f.progress:
		case <-r.Context().Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	if f.failStatus != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.failStatus)
		fmt.Fprint(w, f.failBody)
		return
	}
	if f.answer != "" {
		fmt.Fprint(w, f.answer)
		return
	}
	width, height, batch := int(body["width"].(float64)), int(body["height"].(float64)), int(body["batch_size"].(float64))
	seed := int64(body["seed"].(float64))
	if seed == -1 {
		seed = 1234567
	}
	var images []string
	var seeds []int64
	for i := range batch {
		img := image.NewNRGBA(image.Rect(0, 0, width, height))
		for p := range img.Pix {
			img.Pix[p] = uint8(i * 40)
		}
		img.Set(0, 0, color.NRGBA{R: 255, A: 255})
		var buf bytes.Buffer
		png.Encode(&buf, img)
		images = append(images, base64.StdEncoding.EncodeToString(buf.Bytes()))
		seeds = append(seeds, seed+int64(i))
	}
	info, _ := json.Marshal(map[string]any{"prompt": body["prompt"], "all_prompts": []any{body["prompt"]},
		"negative_prompt": body["negative_prompt"], "seed": seed, "all_seeds": seeds, "subseed": 99,
		"width": width, "height": height, "sampler_name": body["sampler_name"], "cfg_scale": body["cfg_scale"],
		"steps": body["steps"], "batch_size": batch, "sd_model_name": "v1-5-pruned-emaonly", "job_timestamp": "20261130093000"})
	json.NewEncoder(w).Encode(map[string]any{"images": images, "parameters": body, "info": string(info)})
}

func (f *fakeWebUI) body() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

func newBackend(tb testing.TB, f *fakeWebUI, edit func(*Config)) *Backend {
	tb.Helper()
	cfg := Config{BaseURL: f.srv.URL, Username: f.user, Password: f.pass, Models: []string{"v1-5-pruned-emaonly"},
		PollEvery: 5 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestGenerate(t *testing.T) {
	f := newFake(t, func(f *fakeWebUI) { f.user, f.pass, f.polls = "chorus", "s3cret", 3 })
	b := newBackend(t, f, func(c *Config) { c.Sampler = "DPM++ 2M Karras" })
	seed := int64(42)
	req := &genaiv1.GenerateRequest{Model: "v1-5-pruned-emaonly", Prompt: "a lighthouse at dusk",
		Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{Width: 640, Height: 384, Seed: &seed, Count: 2,
			Steps: 30, NegativePrompt: "blurry"}}}
	var chunks []*genaiv1.GenerateChunk
	resp, err := b.Generate(context.Background(), req, func(c *genaiv1.GenerateChunk) error {
		chunks = append(chunks, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.body()
	want := map[string]any{"prompt": "a lighthouse at dusk", "negative_prompt": "blurry", "width": 640.0, "height": 384.0,
		"steps": 30.0, "seed": 42.0, "sampler_name": "DPM++ 2M Karras", "batch_size": 2.0, "n_iter": 1.0, "cfg_scale": 7.0,
		"send_images": true, "save_images": false}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sent %s = %v, want %v", k, got[k], v)
		}
	}
	if o, _ := got["override_settings"].(map[string]any); o["sd_model_checkpoint"] != "v1-5-pruned-emaonly" {
		t.Errorf("override_settings %v", got["override_settings"])
	}
	arts := resp.GetArtifacts()
	if len(arts) != 2 {
		t.Fatalf("%d artifacts, want 2", len(arts))
	}
	for i, a := range arts {
		md := a.GetMetadata()
		if a.GetMimeType() != "image/png" || md.GetWidth() != 640 || md.GetHeight() != 384 || md.GetIndex() != int32(i) ||
			md.GetSeed() != 42+int64(i) {
			t.Errorf("artifact %d: %s %dx%d index %d seed %d", i, a.GetMimeType(), md.GetWidth(), md.GetHeight(), md.GetIndex(), md.GetSeed())
		}
		if _, err := png.Decode(bytes.NewReader(a.GetData())); err != nil {
			t.Errorf("artifact %d: %v", i, err)
		}
	}
	progress, artifacts, last := 0, 0, -1
	for _, c := range chunks {
		switch {
		case c.GetProgress() != nil:
			p := c.GetProgress()
			if artifacts > 0 || int(p.GetStep()) <= last || p.GetTotal() != 100 {
				t.Errorf("progress %v after %d%%, %d artifacts", p, last, artifacts)
			}
			last = int(p.GetStep())
			progress++
		case c.GetArtifact() != nil:
			artifacts++
		}
	}
	if progress == 0 || artifacts != 2 {
		t.Errorf("%d progress chunks and %d artifacts streamed", progress, artifacts)
	}
	if resp.GetUsage().GetImages() != 2 {
		t.Errorf("usage %v", resp.GetUsage())
	}
}

func TestDefaultsWithoutImageOptions(t *testing.T) {
	f := newFake(t, nil)
	b := newBackend(t, f, func(c *Config) { c.PollEvery = -1 })
	resp, err := b.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "v1-5-pruned-emaonly", Prompt: "a fox"},
		func(*genaiv1.GenerateChunk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	got := f.body()
	for k, v := range map[string]any{"width": 512.0, "height": 512.0, "steps": 20.0, "seed": -1.0, "batch_size": 1.0,
		"sampler_name": "Euler a", "negative_prompt": ""} {
		if got[k] != v {
			t.Errorf("sent %s = %v, want %v", k, got[k], v)
		}
	}
	if md := resp.GetArtifacts()[0].GetMetadata(); md.GetSeed() != 1234567 || md.GetWidth() != 512 {
		t.Errorf("metadata %v: want the server's seed and 512 pixels", md)
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*fakeWebUI)
		cfg      func(*Config)
		code     codes.Code
		contains string
	}{
		{name: "API off (no --api)", edit: func(f *fakeWebUI) { f.failStatus, f.failBody = 404, `{"detail":"Not Found"}` },
			code: codes.FailedPrecondition, contains: "--api"},
		{name: "wrong credentials", edit: func(f *fakeWebUI) { f.user, f.pass = "chorus", "right" },
			cfg: func(c *Config) { c.Username, c.Password = "chorus", "wrong" }, code: codes.FailedPrecondition, contains: "credentials"},
		{name: "validation error", edit: func(f *fakeWebUI) {
			f.failStatus = 422
			f.failBody = `{"detail":[{"loc":["body","width"],"msg":"value is not a valid integer","type":"type_error.integer"}]}`
		}, code: codes.InvalidArgument, contains: "width: value is not a valid integer"},
		{name: "server error", edit: func(f *fakeWebUI) {
			f.failStatus = 500
			f.failBody = `{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory"}`
		}, code: codes.Unavailable, contains: "unavailable"},
		{name: "rate limited", edit: func(f *fakeWebUI) { f.failStatus, f.failBody = 429, `{"error":"busy"}` },
			code: codes.ResourceExhausted},
		{name: "malformed answer", edit: func(f *fakeWebUI) { f.answer = `{"images": [` }, code: codes.Unavailable, contains: "malformed"},
		{name: "no images", edit: func(f *fakeWebUI) { f.answer = `{"images": [], "info": "{}"}` }, code: codes.Internal, contains: "no images"},
		{name: "bad base64", edit: func(f *fakeWebUI) { f.answer = `{"images": ["%%%"], "info": "{}"}` }, code: codes.Internal, contains: "base64"},
		{name: "not an image", edit: func(f *fakeWebUI) {
			f.answer = `{"images": ["` + base64.StdEncoding.EncodeToString([]byte("plain text, not a picture")) + `"], "info": "{}"}`
		}, code: codes.Internal, contains: "not an image"},
		{name: "image over the bound", cfg: func(c *Config) {}, code: codes.Internal, contains: "image over"},
		{name: "timeout", edit: func(f *fakeWebUI) { f.polls = 1 }, cfg: func(c *Config) { c.Timeout, c.PollEvery = 50*time.Millisecond, -1 },
			code: codes.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.edit)
			b := newBackend(t, f, tc.cfg)
			if tc.name == "image over the bound" {
				b.maxImage = 64
			}
			_, err := b.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "v1-5-pruned-emaonly", Prompt: "x",
				Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{Width: 64, Height: 64}}},
				func(*genaiv1.GenerateChunk) error { return nil })
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.contains) {
				t.Fatalf("error %v (%v), want %v containing %q", st.Message(), st.Code(), tc.code, tc.contains)
			}
		})
	}
}

func TestServerDown(t *testing.T) {
	f := newFake(t, nil)
	b := newBackend(t, f, nil)
	f.srv.Close()
	_, err := b.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "v1-5-pruned-emaonly", Prompt: "x"},
		func(*genaiv1.GenerateChunk) error { return nil })
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("error %v, want Unavailable", err)
	}
}

func TestCancellation(t *testing.T) {
	f := newFake(t, func(f *fakeWebUI) { f.polls = 1000 })
	b := newBackend(t, f, func(c *Config) { c.PollEvery = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := b.Generate(ctx, &genaiv1.GenerateRequest{Model: "v1-5-pruned-emaonly", Prompt: "x"},
		func(*genaiv1.GenerateChunk) error { return nil })
	if status.Code(err) != codes.Canceled {
		t.Fatalf("error %v, want Canceled", err)
	}
}

func TestEmitErrorStopsTheCall(t *testing.T) {
	f := newFake(t, func(f *fakeWebUI) { f.polls = 1000 })
	b := newBackend(t, f, nil)
	boom := errors.New("client gone")
	_, err := b.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "v1-5-pruned-emaonly", Prompt: "x"},
		func(*genaiv1.GenerateChunk) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the emit error", err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "valid", cfg: Config{BaseURL: "http://127.0.0.1:7860", Models: []string{"sdxl"}}, ok: true},
		{name: "no scheme", cfg: Config{BaseURL: "127.0.0.1:7860", Models: []string{"sdxl"}}},
		{name: "no models", cfg: Config{BaseURL: "http://127.0.0.1:7860"}},
		{name: "empty model name", cfg: Config{BaseURL: "http://127.0.0.1:7860", Models: []string{""}}},
		{name: "too many steps", cfg: Config{BaseURL: "http://127.0.0.1:7860", Models: []string{"sdxl"}, Steps: 1000}},
		{name: "negative timeout", cfg: Config{BaseURL: "http://127.0.0.1:7860", Models: []string{"sdxl"}, Timeout: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("a1111", "config",
		Config{BaseURL: "http://user:hunter2@127.0.0.1:7860", Username: "chorus", Password: "s3cret", Models: []string{"sdxl"}})
	if out := buf.String(); strings.Contains(out, "hunter2") || strings.Contains(out, "s3cret") {
		t.Errorf("a secret reached the log: %s", out)
	}
}
