package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/openaitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestBackend starts a fake server with opts and a backend pointed at it;
// edit, when set, adjusts the backend's config first.
func newTestBackend(tb testing.TB, opts openaitest.Options, edit func(*Config)) (*Backend, *openaitest.Server) {
	return openaitest.NewBackend(tb, opts, func(c openaiapi.Config) Config { return Config{Config: c} }, edit, New)
}

func imageRequestFor(count, w, h int32) *genaiv1.GenerateRequest {
	return &genaiv1.GenerateRequest{
		Model: openaitest.DefaultModel, Prompt: "a red fox",
		Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{Count: count, Width: w, Height: h}},
	}
}

func TestGenerate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		format   string
		w, h     int32
		wantSize string
		wantW    int32
		wantH    int32
	}{
		{name: "b64", format: FormatB64, w: 64, h: 96, wantSize: "64x96", wantW: 64, wantH: 96},
		{name: "url", format: FormatURL, w: 128, h: 64, wantSize: "128x64", wantW: 128, wantH: 64},
		{name: "no format, width only", format: FormatNone, w: 72, wantSize: "72x72", wantW: 72, wantH: 72},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, fake := newTestBackend(t, openaitest.Options{APIKey: "sk-test"}, func(c *Config) { c.ResponseFormat = tc.format })
			var emitted []*genaiv1.Artifact
			resp, err := b.Generate(context.Background(), imageRequestFor(2, tc.w, tc.h), func(c *genaiv1.GenerateChunk) error {
				emitted = append(emitted, c.GetArtifact())
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			arts := resp.GetArtifacts()
			if len(arts) != 2 || len(emitted) != 2 {
				t.Fatalf("%d artifacts, %d emitted", len(arts), len(emitted))
			}
			for i, a := range arts {
				md := a.GetMetadata()
				if a.GetMimeType() != "image/png" || md.GetWidth() != tc.wantW || md.GetHeight() != tc.wantH || md.GetIndex() != int32(i) {
					t.Errorf("artifact %d: %s %dx%d index %d", i, a.GetMimeType(), md.GetWidth(), md.GetHeight(), md.GetIndex())
				}
				if emitted[i] != a {
					t.Errorf("artifact %d was not emitted in order", i)
				}
			}
			if !bytes.Equal(arts[0].GetData(), openaitest.Gradient(int(tc.wantW), int(tc.wantH), 0)) {
				t.Error("image bytes differ from the fake's")
			}
			if u := resp.GetUsage(); u.GetImages() != 2 || u.GetInputCharacters() != 9 {
				t.Errorf("usage %v", u)
			}
			reqs := fake.Requests()
			var sent map[string]any
			if err := reqs[0].Decode(&sent); err != nil {
				t.Fatal(err)
			}
			wantFormat := any(tc.format)
			if tc.format == FormatNone {
				wantFormat = nil
			}
			if sent["model"] != openaitest.DefaultModel || sent["prompt"] != "a red fox" || sent["n"] != float64(2) ||
				sent["size"] != tc.wantSize || sent["response_format"] != wantFormat {
				t.Errorf("sent %v", sent)
			}
			if tc.format == FormatURL {
				if len(reqs) != 3 || reqs[1].Method != http.MethodGet || reqs[1].Header.Get("Authorization") != "Bearer sk-test" {
					t.Errorf("requests %+v", reqs)
				}
			}
		})
	}
}

// customServer answers images/generations with body and serves extra paths.
func customServer(tb testing.TB, handle func(w http.ResponseWriter, r *http.Request, self string)) *Backend {
	tb.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handle(w, r, srv.URL) }))
	tb.Cleanup(srv.Close)
	b, err := New(context.Background(), Config{Config: openaiapi.Config{BaseURL: srv.URL + "/v1", Models: []string{"m"}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	// Small limits keep the tests fast; the logic is the same.
	b.maxImage = testMaxImage
	return b
}

const testMaxImage = 64 << 10

func b64Response(data []byte) string {
	return `{"data":[{"b64_json":"` + base64.StdEncoding.EncodeToString(data) + `"}]}`
}

func TestGenerateUpstreamContent(t *testing.T) {
	png := openaitest.Gradient(64, 64, 0)
	big := make([]byte, testMaxImage+1)
	for _, tc := range []struct {
		name    string
		handle  func(w http.ResponseWriter, r *http.Request, self string)
		want    codes.Code
		wantMsg string
		mime    string
	}{
		{name: "data URL", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			fmt.Fprintf(w, `{"data":[{"url":"data:image/png;base64,%s","revised_prompt":"a fox, red"}]}`, base64.StdEncoding.EncodeToString(png))
		}, want: codes.OK, mime: "image/png"},
		{name: "jpeg is sniffed", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			// A JPEG start-of-image marker with a truncated header.
			fmt.Fprint(w, b64Response([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")))
		}, want: codes.Internal, wantMsg: "corrupt image/jpeg"},
		{name: "not an image", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			fmt.Fprint(w, b64Response([]byte("<html>hello</html>")))
		}, want: codes.Internal, wantMsg: "not an image"},
		{name: "larger than one gRPC message would carry, within the bound", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			fmt.Fprint(w, b64Response(append(png[:len(png):len(png)], make([]byte, testMaxImage-len(png))...)))
		}, want: codes.OK, mime: "image/png"},
		{name: "url over 16 MiB, chunked", handle: func(w http.ResponseWriter, r *http.Request, self string) {
			if r.URL.Path == "/big" {
				w.(http.Flusher).Flush()
				_, _ = w.Write(big)
				return
			}
			fmt.Fprintf(w, `{"data":[{"url":%q}]}`, self+"/big")
		}, want: codes.Internal, wantMsg: "over 0.1 MiB"},
		{name: "url over 16 MiB, by length", handle: func(w http.ResponseWriter, r *http.Request, self string) {
			if r.URL.Path == "/big" {
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				_, _ = w.Write(big)
				return
			}
			fmt.Fprintf(w, `{"data":[{"url":%q}]}`, self+"/big")
		}, want: codes.Internal, wantMsg: "over 0.1 MiB"},
		{name: "b64 over 16 MiB", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			fmt.Fprint(w, b64Response(big))
		}, want: codes.Internal, wantMsg: "over 0.1 MiB"},
		{name: "url gone", handle: func(w http.ResponseWriter, r *http.Request, self string) {
			if r.URL.Path == "/gone" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintf(w, `{"data":[{"url":%q}]}`, self+"/gone")
		}, want: codes.NotFound},
		{name: "file URL", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			fmt.Fprint(w, `{"data":[{"url":"file:///etc/passwd"}]}`)
		}, want: codes.Internal, wantMsg: "unusable image URL"},
		{name: "no images", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			fmt.Fprint(w, `{"data":[]}`)
		}, want: codes.Internal, wantMsg: "no images"},
		{name: "malformed JSON", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			fmt.Fprint(w, `{"data":[`)
		}, want: codes.Unavailable},
		{name: "error as a plain string", handle: func(w http.ResponseWriter, r *http.Request, _ string) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"size must be 512x512"}`)
		}, want: codes.InvalidArgument, wantMsg: "size must be 512x512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := customServer(t, tc.handle)
			req := imageRequestFor(1, 64, 64)
			req.Model = "m"
			resp, err := b.Generate(context.Background(), req, func(*genaiv1.GenerateChunk) error { return nil })
			st := status.Convert(err)
			if st.Code() != tc.want || !strings.Contains(st.Message(), tc.wantMsg) {
				t.Fatalf("status %v, want %v with %q", st, tc.want, tc.wantMsg)
			}
			if tc.mime != "" && resp.GetArtifacts()[0].GetMimeType() != tc.mime {
				t.Errorf("mime %q", resp.GetArtifacts()[0].GetMimeType())
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    openaitest.Options
		fail    *openaitest.Failure
		edit    func(*Config)
		req     func(*genaiv1.GenerateRequest)
		ctx     func() (context.Context, context.CancelFunc)
		closed  bool
		want    codes.Code
		wantMsg string
	}{
		{name: "400", fail: &openaitest.Failure{Status: 400, Message: "Invalid size"}, want: codes.InvalidArgument, wantMsg: "Invalid size"},
		{name: "401", fail: &openaitest.Failure{Status: 401}, want: codes.FailedPrecondition, wantMsg: "-openai-api-key"},
		{name: "403", fail: &openaitest.Failure{Status: 403}, want: codes.FailedPrecondition},
		{name: "404", fail: &openaitest.Failure{Status: 404}, want: codes.NotFound},
		{name: "unknown upstream model", edit: func(c *Config) { c.Models = []string{"gone"} },
			req: func(r *genaiv1.GenerateRequest) { r.Model = "gone" }, want: codes.NotFound, wantMsg: "gone"},
		{name: "429", fail: &openaitest.Failure{Status: 429}, want: codes.ResourceExhausted},
		{name: "500", fail: &openaitest.Failure{Status: 500, Message: "secret"}, want: codes.Unavailable},
		{name: "503", fail: &openaitest.Failure{Status: 503}, want: codes.Unavailable},
		{name: "connection refused", closed: true, want: codes.Unavailable},
		{name: "caller deadline", opts: openaitest.Options{DeltaDelay: time.Hour},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			},
			want: codes.DeadlineExceeded},
		{name: "backend timeout", opts: openaitest.Options{DeltaDelay: time.Hour}, edit: func(c *Config) { c.Timeout = 20 * time.Millisecond },
			want: codes.DeadlineExceeded, wantMsg: "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, fake := newTestBackend(t, tc.opts, tc.edit)
			if tc.fail != nil {
				fake.FailNext(*tc.fail)
			}
			if tc.closed {
				fake.Close()
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			req := imageRequestFor(1, 64, 64)
			if tc.req != nil {
				tc.req(req)
			}
			_, err := b.Generate(ctx, req, func(*genaiv1.GenerateChunk) error { return nil })
			st := status.Convert(err)
			if st.Code() != tc.want || !strings.Contains(st.Message(), tc.wantMsg) {
				t.Fatalf("status %v, want %v with %q", st, tc.want, tc.wantMsg)
			}
			if strings.Contains(st.Message(), "secret") {
				t.Errorf("message leaks the upstream body: %q", st.Message())
			}
		})
	}
}

func TestCancellationReachesUpstream(t *testing.T) {
	b, fake := newTestBackend(t, openaitest.Options{Gate: make(chan struct{})}, nil)
	fake.CheckCancelReachesUpstream(t, func(ctx context.Context) error {
		_, err := b.Generate(ctx, imageRequestFor(1, 64, 64), func(*genaiv1.GenerateChunk) error { return nil })
		return err
	})
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Config: openaiapi.Config{BaseURL: "https://api.openai.com/v1", Models: []string{"dall-e-3"}}}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{name: "ok", edit: func(*Config) {}, ok: true},
		{name: "no models", edit: func(c *Config) { c.Models = nil }},
		{name: "bad url", edit: func(c *Config) { c.BaseURL = "api.openai.com" }},
		{name: "bad format", edit: func(c *Config) { c.ResponseFormat = "png" }},
		{name: "negative timeout", edit: func(c *Config) { c.Timeout = -time.Second }},
	} {
		c := ok
		tc.edit(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}
