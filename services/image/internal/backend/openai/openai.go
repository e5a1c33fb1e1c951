// Package openai is the image backend for OpenAI-compatible image servers:
// POST /v1/images/generations (OpenAI, LocalAI and others).
package openai

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	_ "image/gif"  // decode GIF headers for width and height
	_ "image/jpeg" // decode JPEG headers for width and height
	_ "image/png"  // decode PNG headers for width and height
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Name is the backend name ListModels reports.
const Name = "openai"

// MaxImageBytes is the most this backend accepts for one image from the
// server, whether inline or fetched from a URL, and so the largest image it
// returns: StreamGenerate sends an image over genai.PartBytes in parts, and
// a unary Generate is still bounded by genai.MaxUnaryResponseBytes.
const MaxImageBytes = 16 << 20

// Response formats the server may be asked for.
const (
	FormatB64  = "b64_json"
	FormatURL  = "url"
	FormatNone = "none" // send no response_format (gpt-image-1 rejects it)
)

// Config configures the backend: the shared OpenAI connection settings and
// what to ask for. Models are required: GET /v1/models lists chat models
// too, so discovery would guess.
type Config struct {
	openaiapi.Config
	// ResponseFormat is what to ask for: FormatB64 (default), FormatURL or
	// FormatNone. Either kind of answer is accepted whatever was asked.
	ResponseFormat string
}

// Validate reports a configuration the backend cannot run with.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate("https://api.openai.com/v1")}
	if len(c.Models) == 0 {
		errs = append(errs, fmt.Errorf("openai: set -openai-models to the image models the server at %s serves, for example dall-e-3", openaiapi.RedactURL(c.BaseURL)))
	}
	switch c.ResponseFormat {
	case "", FormatB64, FormatURL, FormatNone:
	default:
		errs = append(errs, fmt.Errorf("openai: -openai-response-format %q must be %s, %s or %s", c.ResponseFormat, FormatB64, FormatURL, FormatNone))
	}
	return errors.Join(errs...)
}

// LogValue keeps the API key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.LogAttrs(), slog.String("response_format", c.ResponseFormat))...)
}

// RegisterFlags registers the backend's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs, openaiapi.FlagUsage{
		BaseURL: "OpenAI-compatible API root `url` including /v1, e.g. https://api.openai.com/v1; empty disables the openai backend",
		Models:  "comma-separated image model `names` to expose, e.g. dall-e-3 (required with -openai-base-url)",
		Timeout: "longest one generation may take upstream, downloads included",
	})
	fs.StringVar(&c.ResponseFormat, "openai-response-format", cmp.Or(c.ResponseFormat, FormatB64),
		"`format` to ask for as response_format: b64_json, url, or none to send none (gpt-image-1)")
}

// Backend generates images on an OpenAI-compatible server.
type Backend struct {
	client *openaiapi.Client
	format string
	models []*genaiv1.Model
	// The size limits, fields so tests can exercise them with small images.
	maxImage int
}

var _ genai.Backend = (*Backend)(nil)

// New builds the backend.
func New(_ context.Context, cfg Config, log *slog.Logger) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Backend{
		client:   openaiapi.NewClient(cfg.Config, log),
		format:   cmp.Or(cfg.ResponseFormat, FormatB64),
		maxImage: MaxImageBytes,
	}
	for _, n := range cfg.Models {
		b.models = append(b.models, &genaiv1.Model{
			Name:    n,
			Backend: Name,
			// The server's address stays out: ListModels is public.
			Description:  "served by an OpenAI-compatible images API",
			Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_TEXT_TO_IMAGE},
		})
	}
	return b, nil
}

// Models lists the exposed models.
func (b *Backend) Models() []*genaiv1.Model { return b.models }

type imageRequest struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt"`
	N              int    `json:"n"`
	Size           string `json:"size,omitempty"`
	ResponseFormat string `json:"response_format,omitempty"`
}

type imageResponse struct {
	Data []struct {
		B64JSON       string `json:"b64_json"`
		URL           string `json:"url"`
		RevisedPrompt string `json:"revised_prompt"`
	} `json:"data"`
}

// requestFor maps a validated GenerateRequest to the upstream request.
// Seed, steps and negative prompt have no place in OpenAI's images API and
// are not sent.
func (b *Backend) requestFor(req *genaiv1.GenerateRequest) imageRequest {
	o := req.GetImage()
	ir := imageRequest{Model: req.GetModel(), Prompt: req.GetPrompt(), N: max(int(o.GetCount()), 1)}
	w, h := o.GetWidth(), o.GetHeight()
	switch {
	case w == 0 && h == 0:
		// The server's default size.
	case w == 0:
		ir.Size = fmt.Sprintf("%dx%d", h, h)
	case h == 0:
		ir.Size = fmt.Sprintf("%dx%d", w, w)
	default:
		ir.Size = fmt.Sprintf("%dx%d", w, h)
	}
	if b.format != FormatNone {
		ir.ResponseFormat = b.format
	}
	return ir
}

// Generate asks the server for the images, emits each as an artifact once
// it is fetched and checked, and returns them all.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	ir := b.requestFor(req)
	ctx, cancel := b.client.WithTimeout(ctx)
	defer cancel()
	hreq, err := b.client.Post(ctx, "/images/generations", ir)
	if err != nil {
		return nil, err
	}
	resp, err := b.client.Do(hreq)
	if err != nil {
		return nil, openaiapi.TransportError(ctx, err, upstreamName)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, openaiapi.StatusError(resp, req.GetModel(), upstreamName)
	}
	var ir2 imageResponse
	// Room for every image in base64 plus the JSON around it.
	limit := int64(ir.N)*(int64(b.maxImage)*4/3+1024) + 64<<10
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(&ir2); err != nil {
		if ctx.Err() != nil {
			return nil, openaiapi.TransportError(ctx, err, upstreamName)
		}
		return nil, rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown, "the image server sent a malformed response").WithCause(err)
	}
	if len(ir2.Data) == 0 {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned no images")
	}
	if len(ir2.Data) > ir.N {
		ir2.Data = ir2.Data[:ir.N]
	}
	out := &genaiv1.GenerateResponse{
		Model:        req.GetModel(),
		FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP,
	}
	for i, d := range ir2.Data {
		data, err := b.imageBytes(ctx, d.B64JSON, d.URL)
		if err != nil {
			return nil, err
		}
		a, err := b.artifact(data, req.GetImage())
		if err != nil {
			return nil, err
		}
		a.Metadata.Index = int32(i)
		a.Metadata.SourceText = d.RevisedPrompt
		out.Artifacts = append(out.Artifacts, a)
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
			return nil, err
		}
	}
	out.Usage = &genaiv1.Usage{
		Images:          int32(len(out.Artifacts)),
		InputCharacters: int32(utf8.RuneCountInString(req.GetPrompt())),
	}
	return out, nil
}

func (b *Backend) tooLarge(n int64) *rpcerr.Error {
	return rpcerr.New(codes.Internal, rpcerr.ReasonUpstream,
		fmt.Sprintf("the image server returned an image over %s", mib(b.maxImage))).
		WithCause(fmt.Errorf("image of at least %d bytes", n))
}

// mib formats a byte count for people.
func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// imageBytes returns one image's bytes, decoded inline or fetched.
func (b *Backend) imageBytes(ctx context.Context, b64, rawURL string) ([]byte, error) {
	if b64 == "" && strings.HasPrefix(rawURL, "data:") {
		// A data URL: "data:image/png;base64,....".
		meta, payload, ok := strings.Cut(rawURL, ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned an unsupported data URL")
		}
		b64 = payload
	}
	if b64 != "" {
		if n := base64.StdEncoding.DecodedLen(len(b64)); n > b.maxImage+2 {
			return nil, b.tooLarge(int64(n))
		}
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned invalid base64").WithCause(err)
		}
		if len(data) > b.maxImage {
			return nil, b.tooLarge(int64(len(data)))
		}
		return data, nil
	}
	if rawURL == "" {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned an image with neither data nor URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned an unusable image URL").WithCause(err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned an unusable image URL").WithCause(err)
	}
	// The client sends the key to the configured server only, never to a
	// storage host (OpenAI's URLs are pre-signed blob URLs on another host).
	resp, err := b.client.Do(hreq)
	if err != nil {
		return nil, openaiapi.TransportError(ctx, err, upstreamName)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, openaiapi.StatusError(resp, "", upstreamName)
	}
	if resp.ContentLength > int64(b.maxImage) {
		return nil, b.tooLarge(resp.ContentLength)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(b.maxImage)+1))
	if err != nil {
		return nil, openaiapi.TransportError(ctx, err, upstreamName)
	}
	if len(data) > b.maxImage {
		return nil, b.tooLarge(int64(len(data)))
	}
	return data, nil
}

// artifact checks one image and describes it: its sniffed type, and its
// width and height from the header (or the requested size for formats Go
// cannot decode, such as WebP).
func (b *Backend) artifact(data []byte, o *genaiv1.ImageOptions) (*genaiv1.Artifact, error) {
	mime := http.DetectContentType(data)
	if !strings.HasPrefix(mime, "image/") {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned something that is not an image").
			WithCause(fmt.Errorf("sniffed %s", mime))
	}
	md := &genaiv1.ArtifactMetadata{}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err == nil:
		md.Width, md.Height = int32(cfg.Width), int32(cfg.Height)
	case mime == "image/png" || mime == "image/jpeg" || mime == "image/gif":
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image server returned a corrupt "+mime).WithCause(err)
	default:
		md.Width, md.Height = o.GetWidth(), o.GetHeight()
	}
	return &genaiv1.Artifact{MimeType: mime, Content: &genaiv1.Artifact_Data{Data: data}, Metadata: md}, nil
}
