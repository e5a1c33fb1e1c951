// Package a1111 is the image backend for servers that speak the AUTOMATIC1111 web UI API
// (AUTOMATIC1111 itself, Forge, SD.Next), started with --api: POST /sdapi/v1/txt2img, with
// GET /sdapi/v1/progress polled for progress while it runs.
package a1111

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg" // decode JPEG headers for width and height
	_ "image/png"  // decode PNG headers for width and height
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Name is the backend name ListModels reports.
const Name = "a1111"

// Defaults for unset configuration and request options.
const (
	DefaultTimeout   = 10 * time.Minute
	DefaultSampler   = "Euler a"
	DefaultSteps     = 20
	DefaultSide      = 512
	DefaultCFGScale  = 7
	DefaultPollEvery = time.Second
)

// MaxImageBytes is the most this backend accepts for one decoded image,
// and so the largest image it returns: StreamGenerate sends an image over
// genai.PartBytes in parts, and a unary Generate is still bounded by
// genai.MaxUnaryResponseBytes.
const MaxImageBytes = 16 << 20

// upstreamName is how errors name the server this backend calls.
const upstreamName = "AUTOMATIC1111 server"

// Config configures the backend.
type Config struct {
	// BaseURL is the server's root, for example http://127.0.0.1:7860 (the API lives under
	// /sdapi/v1). Empty disables the backend.
	BaseURL string
	// Username and Password are sent as HTTP basic authentication when Username is set (the
	// server's --api-auth). The password is never logged.
	Username, Password string
	// Models are the checkpoint names to expose (as GET /sdapi/v1/sd-models lists them); a
	// request selects its checkpoint through override_settings.sd_model_checkpoint.
	Models []string
	// Sampler is the sampler_name sent (default DefaultSampler).
	Sampler string
	// Steps is used when a request leaves image.steps unset (default DefaultSteps).
	Steps int
	// CFGScale is the classifier-free guidance scale sent (default DefaultCFGScale).
	CFGScale float64
	// Timeout bounds one generation (default DefaultTimeout).
	Timeout time.Duration
	// PollEvery is how often progress is polled while a generation runs (default
	// DefaultPollEvery); negative turns polling off.
	PollEvery time.Duration
	// Transport replaces the HTTP transport (tests); nil uses the default.
	Transport http.RoundTripper
}

// Enabled reports whether the backend is configured at all.
func (c Config) Enabled() bool { return c.BaseURL != "" }

// Validate reports a configuration the backend cannot run with.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("a1111: -a1111-base-url %q must be an http or https URL such as http://127.0.0.1:7860", c.BaseURL)
	}
	if len(c.Models) == 0 {
		return fmt.Errorf("a1111: set -a1111-models to the checkpoints the server at %s has (GET /sdapi/v1/sd-models)", u.Redacted())
	}
	for _, m := range c.Models {
		if m == "" || len(m) > genai.MaxModelLen {
			return fmt.Errorf("a1111: model name %q must be 1 to %d bytes", m, genai.MaxModelLen)
		}
	}
	if c.Steps < 0 || c.Steps > genai.MaxImageSteps {
		return fmt.Errorf("a1111: default steps %d must be between 0 and %d", c.Steps, genai.MaxImageSteps)
	}
	if c.CFGScale < 0 || c.CFGScale > 30 {
		return fmt.Errorf("a1111: CFG scale %v must be between 0 and 30", c.CFGScale)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("a1111: negative timeout %s", c.Timeout)
	}
	return nil
}

// LogValue keeps the password out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", openaiapi.RedactURL(c.BaseURL)),
		slog.Bool("auth_set", c.Username != ""),
		slog.Any("models", c.Models),
		slog.String("sampler", c.Sampler),
		slog.Int("steps", c.Steps),
		slog.String("timeout", c.Timeout.String()),
	)
}

// Backend generates images on an AUTOMATIC1111-compatible server.
type Backend struct {
	cfg    Config
	base   string
	client *http.Client
	models []*genaiv1.Model
	// The size limits, fields so tests can exercise them with small images.
	maxImage int
}

var _ genai.Backend = (*Backend)(nil)

// New builds the backend.
func New(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Sampler == "" {
		cfg.Sampler = DefaultSampler
	}
	if cfg.Steps == 0 {
		cfg.Steps = DefaultSteps
	}
	if cfg.CFGScale == 0 {
		cfg.CFGScale = DefaultCFGScale
	}
	if cfg.PollEvery == 0 {
		cfg.PollEvery = DefaultPollEvery
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	b := &Backend{cfg: cfg, base: strings.TrimSuffix(cfg.BaseURL, "/"),
		client: &http.Client{Transport: otelhttp.NewTransport(transport)}, maxImage: MaxImageBytes}
	for _, n := range cfg.Models {
		b.models = append(b.models, &genaiv1.Model{
			Name:    n,
			Backend: Name,
			// The server's address stays out: ListModels is public.
			Description:  "served by an AUTOMATIC1111-compatible web UI API (txt2img)",
			Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_TEXT_TO_IMAGE, genaiv1.Capability_CAPABILITY_STREAMING},
		})
	}
	return b, nil
}

// Models lists the exposed models.
func (b *Backend) Models() []*genaiv1.Model { return b.models }

// txt2img is the request body of POST /sdapi/v1/txt2img (the fields Chorus sets).
type txt2img struct {
	Prompt           string         `json:"prompt"`
	NegativePrompt   string         `json:"negative_prompt"`
	Width            int            `json:"width"`
	Height           int            `json:"height"`
	Steps            int            `json:"steps"`
	Seed             int64          `json:"seed"` // -1: the server picks
	SamplerName      string         `json:"sampler_name"`
	BatchSize        int            `json:"batch_size"`
	NIter            int            `json:"n_iter"`
	CFGScale         float64        `json:"cfg_scale"`
	SendImages       bool           `json:"send_images"`
	SaveImages       bool           `json:"save_images"`
	OverrideSettings map[string]any `json:"override_settings,omitempty"`
}

// txt2imgResponse is the answer: base64 images and the generation info as a JSON string.
type txt2imgResponse struct {
	Images []string `json:"images"`
	Info   string   `json:"info"`
}

// info is the part of the info string Chorus reads.
type info struct {
	Seed     int64   `json:"seed"`
	AllSeeds []int64 `json:"all_seeds"`
}

// requestFor maps a validated request onto txt2img, with defaults for unset options.
func (b *Backend) requestFor(req *genaiv1.GenerateRequest) txt2img {
	o := req.GetImage() // nil-safe: no image options means every default
	w, h := int(o.GetWidth()), int(o.GetHeight())
	switch {
	case w == 0 && h == 0:
		w, h = DefaultSide, DefaultSide
	case w == 0:
		w = h
	case h == 0:
		h = w
	}
	t := txt2img{Prompt: req.GetPrompt(), NegativePrompt: o.GetNegativePrompt(), Width: w, Height: h,
		Steps: b.cfg.Steps, Seed: -1, SamplerName: b.cfg.Sampler, BatchSize: max(1, int(o.GetCount())), NIter: 1,
		CFGScale: b.cfg.CFGScale, SendImages: true,
		OverrideSettings: map[string]any{"sd_model_checkpoint": req.GetModel()}}
	if s := o.GetSteps(); s > 0 {
		t.Steps = int(s)
	}
	if o != nil && o.Seed != nil && o.GetSeed() >= 0 {
		t.Seed = o.GetSeed()
	}
	return t
}

// Generate runs txt2img, emitting progress while the server works and each image once it is
// checked, and returns them all.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	tr := b.requestFor(req)
	body, err := json.Marshal(tr)
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").WithCause(err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, b.cfg.Timeout, openaiapi.ErrTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/sdapi/v1/txt2img", bytes.NewReader(body))
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").WithCause(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	b.authorize(hreq)

	// Progress is polled beside the generation; emit is only ever called from one goroutine
	// at a time: the poller until it has stopped, then this one.
	var emitErr error
	stopPoll, pollDone := make(chan struct{}), make(chan struct{})
	if b.cfg.PollEvery > 0 {
		go func() {
			defer close(pollDone)
			if err := b.poll(ctx, stopPoll, emit); err != nil {
				emitErr = err
				cancel()
			}
		}()
	} else {
		close(pollDone)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() { close(stopPoll) })
		<-pollDone
	}
	defer stop()

	resp, err := b.client.Do(hreq)
	if err != nil {
		stop()
		if emitErr != nil {
			return nil, emitErr
		}
		return nil, openaiapi.TransportError(ctx, err, upstreamName)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, b.statusError(resp, req.GetModel())
	}
	var tresp txt2imgResponse
	limit := int64(tr.BatchSize)*(int64(b.maxImage)*4/3+1024) + 256<<10
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(&tresp); err != nil {
		if ctx.Err() != nil {
			return nil, openaiapi.TransportError(ctx, err, upstreamName)
		}
		return nil, rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown, "the "+upstreamName+" sent a malformed response").WithCause(err)
	}
	stop()
	if emitErr != nil {
		return nil, emitErr
	}
	if len(tresp.Images) == 0 {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the "+upstreamName+" returned no images")
	}
	// Extensions (ControlNet and others) may append their own pictures after the batch.
	if len(tresp.Images) > tr.BatchSize {
		tresp.Images = tresp.Images[:tr.BatchSize]
	}
	var inf info
	if tresp.Info != "" {
		_ = json.Unmarshal([]byte(tresp.Info), &inf) // best effort: the seeds are only reported
	}
	out := &genaiv1.GenerateResponse{Model: req.GetModel(), FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP}
	for i, s := range tresp.Images {
		data, err := b.decode(s)
		if err != nil {
			return nil, err
		}
		a, err := b.artifact(data, tr)
		if err != nil {
			return nil, err
		}
		a.Metadata.Index = int32(i)
		switch {
		case i < len(inf.AllSeeds):
			a.Metadata.Seed = inf.AllSeeds[i]
		case inf.Seed > 0:
			a.Metadata.Seed = inf.Seed + int64(i)
		}
		out.Artifacts = append(out.Artifacts, a)
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
			return nil, err
		}
	}
	out.Usage = &genaiv1.Usage{Images: int32(len(out.Artifacts)), InputCharacters: int32(utf8.RuneCountInString(req.GetPrompt()))}
	return out, nil
}

func (b *Backend) authorize(req *http.Request) {
	if b.cfg.Username != "" {
		req.SetBasicAuth(b.cfg.Username, b.cfg.Password)
	}
}

// progressResponse is the part of GET /sdapi/v1/progress Chorus reads.
type progressResponse struct {
	Progress float64 `json:"progress"` // 0 to 1
	State    struct {
		SamplingStep  int `json:"sampling_step"`
		SamplingSteps int `json:"sampling_steps"`
	} `json:"state"`
}

// poll emits progress (percent done) until stop closes or ctx ends; it returns only emit's
// errors: a failed poll is skipped, as progress is a courtesy.
func (b *Backend) poll(ctx context.Context, stop <-chan struct{}, emit func(*genaiv1.GenerateChunk) error) error {
	t := time.NewTicker(b.cfg.PollEvery)
	defer t.Stop()
	last := -1
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p, ok := b.progress(ctx)
		if !ok {
			continue
		}
		pct := int(p.Progress*100 + 0.5)
		if pct <= last || pct < 0 || pct > 100 {
			continue
		}
		last = pct
		select {
		case <-stop: // the generation finished while polling: its artifacts come next
			return nil
		default:
		}
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Progress{
			Progress: &genaiv1.Progress{Step: int32(pct), Total: 100}}}); err != nil {
			return err
		}
	}
}

func (b *Backend) progress(ctx context.Context) (progressResponse, bool) {
	var p progressResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/sdapi/v1/progress?skip_current_image=true", nil)
	if err != nil {
		return p, false
	}
	b.authorize(req)
	resp, err := b.client.Do(req)
	if err != nil {
		return p, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p) != nil {
		return p, false
	}
	return p, true
}

// statusError maps an HTTP error. The server's own shapes first: 404 means the API is off
// (the web UI runs without --api), 401 the --api-auth credentials; the rest maps as every
// HTTP backend maps it.
func (b *Backend) statusError(resp *http.Response, model string) error {
	switch resp.StatusCode {
	case http.StatusNotFound:
		return rpcerr.New(codes.FailedPrecondition, rpcerr.ReasonUpstream,
			"the "+upstreamName+" has no /sdapi/v1/txt2img; start the web UI with --api").
			WithMetadata("upstream_status", "404")
	case http.StatusUnauthorized, http.StatusForbidden:
		return rpcerr.New(codes.FailedPrecondition, openaiapi.ReasonUpstreamAuth,
			"the "+upstreamName+" rejected this service's credentials; the operator must check -a1111-auth").
			WithMetadata("upstream_status", fmt.Sprint(resp.StatusCode))
	}
	if resp.StatusCode == http.StatusUnprocessableEntity || resp.StatusCode == http.StatusBadRequest {
		// FastAPI's validation errors: {"detail": [{"loc": [...], "msg": "..."}]}.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := detailMessage(data)
		e := rpcerr.New(codes.InvalidArgument, openaiapi.ReasonUpstreamRejected, "the "+upstreamName+" rejected the request")
		if msg != "" {
			e = rpcerr.New(codes.InvalidArgument, openaiapi.ReasonUpstreamRejected, "the "+upstreamName+" rejected the request: "+msg)
		}
		return e.WithMetadata("upstream_status", fmt.Sprint(resp.StatusCode)).WithCause(fmt.Errorf("upstream HTTP %d", resp.StatusCode))
	}
	return openaiapi.StatusError(resp, model, upstreamName)
}

// detailMessage reads FastAPI's detail: a string, or a list of {loc, msg}.
func detailMessage(body []byte) string {
	var d struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &d) != nil || len(d.Detail) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(d.Detail, &s) == nil {
		return oneLine(s)
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(d.Detail, &list) != nil || len(list) == 0 {
		return ""
	}
	var parts []string
	for _, e := range list {
		var loc []string
		for _, l := range e.Loc {
			if l != "body" {
				loc = append(loc, fmt.Sprint(l))
			}
		}
		parts = append(parts, strings.Join(loc, ".")+": "+e.Msg)
	}
	return oneLine(strings.Join(parts, "; "))
}

// oneLine shortens an upstream message to one printable line of at most 200 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func (b *Backend) tooLarge(n int) *rpcerr.Error {
	return rpcerr.New(codes.Internal, rpcerr.ReasonUpstream,
		fmt.Sprintf("the %s returned an image over %.1f MiB", upstreamName, float64(b.maxImage)/(1<<20))).
		WithCause(fmt.Errorf("image of at least %d bytes", n))
}

// decode reads one base64 image (some forks prefix a data URL).
func (b *Backend) decode(s string) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		if _, payload, ok := strings.Cut(s, ","); ok {
			s = payload
		}
	}
	if n := base64.StdEncoding.DecodedLen(len(s)); n > b.maxImage+2 {
		return nil, b.tooLarge(n)
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the "+upstreamName+" returned invalid base64").WithCause(err)
	}
	if len(data) > b.maxImage {
		return nil, b.tooLarge(len(data))
	}
	return data, nil
}

// artifact checks one image and describes it with its sniffed type and its size.
func (b *Backend) artifact(data []byte, tr txt2img) (*genaiv1.Artifact, error) {
	mime := http.DetectContentType(data)
	if !strings.HasPrefix(mime, "image/") {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the "+upstreamName+" returned something that is not an image").
			WithCause(fmt.Errorf("sniffed %s", mime))
	}
	md := &genaiv1.ArtifactMetadata{Width: int32(tr.Width), Height: int32(tr.Height)}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err == nil:
		md.Width, md.Height = int32(cfg.Width), int32(cfg.Height)
	case mime == "image/png" || mime == "image/jpeg":
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the "+upstreamName+" returned a corrupt "+mime).WithCause(err)
	}
	return &genaiv1.Artifact{MimeType: mime, Content: &genaiv1.Artifact_Data{Data: data}, Metadata: md}, nil
}

// RegisterFlags registers the -a1111-* flags that set c, with c's values as
// their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.BaseURL, "a1111-base-url", c.BaseURL, "root `url` of an AUTOMATIC1111, Forge or SD.Next server started with --api, e.g. http://127.0.0.1:7860; empty disables the a1111 backend")
	fs.Func("a1111-auth", "`user:password` for the server's --api-auth (HTTP basic authentication)", func(s string) error {
		c.Username, c.Password, _ = strings.Cut(s, ":")
		return nil
	})
	fs.Func("a1111-models", "comma-separated checkpoint `names` to expose, as /sdapi/v1/sd-models lists them", func(s string) error {
		c.Models = nil
		for _, m := range strings.Split(s, ",") {
			if m = strings.TrimSpace(m); m != "" {
				c.Models = append(c.Models, m)
			}
		}
		return nil
	})
	fs.StringVar(&c.Sampler, "a1111-sampler", c.Sampler, "sampler_name to send")
	fs.IntVar(&c.Steps, "a1111-steps", c.Steps, "denoising steps when a request sets none")
	fs.Float64Var(&c.CFGScale, "a1111-cfg-scale", c.CFGScale, "classifier-free guidance scale to send")
	fs.DurationVar(&c.Timeout, "a1111-timeout", c.Timeout, "longest one generation may take")
}
