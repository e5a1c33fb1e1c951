package command

import (
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chorus-ai/chorus/cli/internal/client"
	"github.com/chorus-ai/chorus/platform/genai"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// Generate runs `chorus generate text|image|audio PROMPT`.
func Generate(ctx context.Context, env Env, args []string) error {
	return dispatch(ctx, env, "generate", "text|image|audio PROMPT [flags]", generateVerbs, args)
}

var generateVerbs = []subcommand{
	{name: "text", summary: "stream text from a prompt to the terminal as it is written", run: generateText},
	{name: "image", summary: "generate images from a prompt into files", run: generateImage},
	{name: "audio", summary: "speak a text into a WAV file", run: generateAudio},
}

// dispatch runs the verb named by args[0] of a command with verbs.
func dispatch(ctx context.Context, env Env, name, argsUsage string, verbs []subcommand, args []string) error {
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: chorus %s %s\n\n", name, argsUsage)
		for _, v := range verbs {
			fmt.Fprintf(w, "  %-8s %s\n", v.name, v.summary)
		}
		fmt.Fprintf(w, "\nRun `chorus %s <verb> -h` for its flags.\n\n%s\n", name, exitCodes)
	}
	if len(args) == 0 {
		fmt.Fprintf(env.Stderr, "chorus %s: want one of %s\n", name, verbNames(verbs))
		printUsage(env.Stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(env.Stderr)
		return flag.ErrHelp
	}
	for _, v := range verbs {
		if v.name == args[0] {
			return v.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "chorus %s: unknown verb %q (want one of %s)\n", name, args[0], verbNames(verbs))
	printUsage(env.Stderr)
	return errUsage
}

func verbNames(verbs []subcommand) string {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}

// genFlags are the flags every generate verb has.
type genFlags struct {
	gateway, model *string
	json           *bool
}

func addGenFlags(env Env, fs *flag.FlagSet) genFlags {
	return genFlags{
		gateway: gatewayFlag(env, fs),
		model:   fs.String("model", "", "the model, one that chorus models lists (default: the service's default)"),
		json:    jsonFlag(fs),
	}
}

// prompt parses the flags and joins the positional words into the prompt.
func prompt(env Env, fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parse(env, fs, args)
	if err != nil {
		return "", err
	}
	p := strings.TrimSpace(strings.Join(pos, " "))
	if p == "" {
		return "", usageError(env, fs, "want a prompt")
	}
	return p, nil
}

// isSet reports whether a flag was given on the command line, for the
// options whose zero is a meaningful value (seed 0, temperature 0).
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// textResult is what `chorus generate text --json` prints.
type textResult struct {
	Model        string `json:"model"`
	Text         string `json:"text"`
	OutputTokens int32  `json:"outputTokens"`
	InputTokens  int32  `json:"inputTokens"`
	FinishReason string `json:"finishReason"`
}

func generateText(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "generate text", "PROMPT [flags]",
		"Streams text from the text service (POST /v1/text:streamGenerate) to stdout as it is\n"+
			"written; the model, token counts and finish reason go to stderr. With --json, one\n"+
			"JSON object {model, text, inputTokens, outputTokens, finishReason} at the end.\n\n"+exitCodes)
	gf := addGenFlags(env, fs)
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate, 1..8192 (default: the service's, 256)")
	temperature := fs.Float64("temperature", 0, "sampling temperature, 0..2; 0 is greedy (default: the model's)")
	seed := fs.Int64("seed", 0, "sampling seed, for repeatable output (default: random)")
	p, err := prompt(env, fs, args)
	if err != nil {
		return err
	}
	opts := &genaiv1.TextOptions{MaxTokens: int32(*maxTokens)}
	if isSet(fs, "temperature") {
		t := float32(*temperature)
		opts.Temperature = &t
	}
	if isSet(fs, "seed") {
		opts.Seed = seed
	}
	c, closeConns, err := newClient(env, *gf.gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	req := &genaiv1.GenerateRequest{Model: *gf.model, Prompt: p, Options: &genaiv1.GenerateRequest_Text{Text: opts}}
	var text strings.Builder
	endsInNewline := true
	done, err := c.StreamGenerate(ctx, "text", req, func(ch *genaiv1.GenerateChunk) error {
		d := ch.GetDelta().GetText()
		if d == "" {
			return nil
		}
		text.WriteString(d)
		if *gf.json {
			return nil
		}
		endsInNewline = strings.HasSuffix(d, "\n")
		_, err := io.WriteString(env.Stdout, d)
		return err
	})
	if err != nil {
		if !endsInNewline {
			fmt.Fprintln(env.Stdout)
		}
		return modelHint(unreachable(err, *gf.gateway), "text")
	}
	if *gf.json {
		return writeJSON(env.Stdout, textResult{
			Model: done.GetModel(), Text: text.String(),
			InputTokens: done.GetUsage().GetInputTokens(), OutputTokens: done.GetUsage().GetOutputTokens(),
			FinishReason: done.GetFinishReason().String(),
		})
	}
	if !endsInNewline {
		fmt.Fprintln(env.Stdout)
	}
	fmt.Fprintf(env.Stderr, "(%s, %d tokens in, %d out, %s)\n", done.GetModel(),
		done.GetUsage().GetInputTokens(), done.GetUsage().GetOutputTokens(), strings.TrimPrefix(done.GetFinishReason().String(), "FINISH_REASON_"))
	return nil
}

// savedFile is one generated file, as `chorus generate image|audio --json`
// prints it.
type savedFile struct {
	Path            string  `json:"path"`
	MimeType        string  `json:"mimeType"`
	SizeBytes       int     `json:"sizeBytes"`
	Width           int32   `json:"width,omitempty"`
	Height          int32   `json:"height,omitempty"`
	Seed            int64   `json:"seed,omitempty"`
	DurationSeconds float64 `json:"durationSeconds,omitempty"`
	SampleRate      int32   `json:"sampleRate,omitempty"`
}

// fileResult is what `chorus generate image|audio --json` prints.
type fileResult struct {
	Model string      `json:"model"`
	Files []savedFile `json:"files"`
}

func generateImage(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "generate image", "PROMPT [flags]",
		"Generates images with the image service (POST /v1/image:streamGenerate) and writes them\n"+
			"to -o (default image.png; with -n above 1, image-1.png, image-2.png, ...).\n\n"+exitCodes)
	gf := addGenFlags(env, fs)
	out := fs.String("o", "", "file to write (default image.<ext> after the MIME type; numbered when -n > 1)")
	sizeFlag := fs.String("size", "", "image size as `WxH`, 64..2048, multiples of 8 (default: the model's)")
	n := fs.Int("n", 0, "how many images, 1..4 (default 1)")
	seed := fs.Int64("seed", 0, "seed, for repeatable images (default: random)")
	steps := fs.Int("steps", 0, "denoising steps (default: the model's)")
	p, err := prompt(env, fs, args)
	if err != nil {
		return err
	}
	opts := &genaiv1.ImageOptions{Count: int32(*n), Steps: int32(*steps)}
	if *sizeFlag != "" {
		w, h, ok := strings.Cut(strings.ToLower(*sizeFlag), "x")
		wi, err1 := strconv.Atoi(w)
		hi, err2 := strconv.Atoi(h)
		if !ok || err1 != nil || err2 != nil || wi <= 0 || hi <= 0 {
			return usageError(env, fs, "-size %q: want WxH, for example 512x512", *sizeFlag)
		}
		opts.Width, opts.Height = int32(wi), int32(hi)
	}
	if isSet(fs, "seed") {
		opts.Seed = seed
	}
	req := &genaiv1.GenerateRequest{Model: *gf.model, Prompt: p, Options: &genaiv1.GenerateRequest_Image{Image: opts}}
	return generateFiles(ctx, env, gf, "image", req, *out)
}

func generateAudio(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "generate audio", "TEXT [flags]",
		"Speaks TEXT with the audio service (POST /v1/audio:streamGenerate) and writes the WAV to -o\n"+
			"(default speech.wav).\n\n"+exitCodes)
	gf := addGenFlags(env, fs)
	out := fs.String("o", "", "file to write (default speech.wav)")
	voice := fs.String("voice", "", "the voice, one that chorus models audio lists (default: the model's)")
	speed := fs.Float64("speed", 0, "speaking rate, 0.25..4 (default 1)")
	p, err := prompt(env, fs, args)
	if err != nil {
		return err
	}
	req := &genaiv1.GenerateRequest{Model: *gf.model, Prompt: p, Options: &genaiv1.GenerateRequest_Audio{
		Audio: &genaiv1.AudioOptions{Voice: *voice, Speed: float32(*speed)},
	}}
	return generateFiles(ctx, env, gf, "audio", req, *out)
}

// generateFiles runs one streamed generation and writes each artifact to a
// file. Streaming, not a unary call, so that results over one gRPC message
// (a long piece of music, a large image) arrive: the gateway joins the parts
// they travel in. The audio service streams one WAV per sentence; they are
// joined into the one file a unary call would return.
func generateFiles(ctx context.Context, env Env, gf genFlags, modality string, req *genaiv1.GenerateRequest, out string) error {
	c, closeConns, err := newClient(env, *gf.gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	var streamed []*genaiv1.Artifact
	resp, err := c.StreamGenerate(ctx, modality, req, func(ch *genaiv1.GenerateChunk) error {
		if a := ch.GetArtifact(); a != nil {
			streamed = append(streamed, a)
		}
		return nil
	})
	if err != nil {
		return modelHint(unreachable(err, *gf.gateway), modality)
	}
	if modality == "audio" && len(streamed) > 1 {
		whole, err := genai.JoinWAV(streamed)
		if err != nil {
			return fmt.Errorf("the audio service's segments: %w", err)
		}
		streamed = []*genaiv1.Artifact{whole}
	}
	arts := append(streamed, resp.GetArtifacts()...)
	if len(arts) == 0 {
		return fmt.Errorf("the %s service returned nothing", modality)
	}
	base := map[string]string{"image": "image", "audio": "speech"}[modality]
	res := fileResult{Model: resp.GetModel()}
	for i, a := range arts {
		data, err := c.Content(ctx, a)
		if err != nil {
			return err
		}
		path := outputPath(out, base, a.GetMimeType(), i, len(arts))
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
		md := a.GetMetadata()
		res.Files = append(res.Files, savedFile{
			Path: path, MimeType: a.GetMimeType(), SizeBytes: len(data),
			Width: md.GetWidth(), Height: md.GetHeight(), Seed: md.GetSeed(),
			DurationSeconds: md.GetDurationSeconds(), SampleRate: md.GetSampleRate(),
		})
	}
	if *gf.json {
		return writeJSON(env.Stdout, res)
	}
	for _, f := range res.Files {
		var about []string
		if f.Width > 0 {
			about = append(about, fmt.Sprintf("%dx%d", f.Width, f.Height))
		}
		if f.DurationSeconds > 0 {
			about = append(about, fmt.Sprintf("%.1f s", f.DurationSeconds))
		}
		if f.SampleRate > 0 {
			about = append(about, fmt.Sprintf("%d Hz", f.SampleRate))
		}
		if f.Seed != 0 {
			about = append(about, fmt.Sprintf("seed %d", f.Seed))
		}
		about = append(about, size(f.SizeBytes), f.MimeType)
		fmt.Fprintf(env.Stdout, "%s  (%s)\n", f.Path, strings.Join(about, ", "))
	}
	fmt.Fprintf(env.Stderr, "(%s)\n", res.Model)
	return nil
}

// outputPath names the i-th of n generated files: -o as given for one
// file, numbered before its extension for several; without -o, base and
// the extension of the MIME type.
func outputPath(out, base, mimeType string, i, n int) string {
	ext := filepath.Ext(out)
	stem := strings.TrimSuffix(out, ext)
	if out == "" {
		stem, ext = base, ".bin"
		if mt, _, err := mime.ParseMediaType(mimeType); err == nil {
			if e, ok := extensions[mt]; ok {
				ext = e
			} else if es, _ := mime.ExtensionsByType(mt); len(es) > 0 {
				ext = es[0]
			}
		}
	}
	if n > 1 {
		return fmt.Sprintf("%s-%d%s", stem, i+1, ext)
	}
	return stem + ext
}

// modelHint points at `chorus models` when a model was not found.
func modelHint(err error, modality string) error {
	if apiErr, ok := err.(*client.APIError); ok && apiErr.Reason == "MODEL_NOT_FOUND" {
		return fmt.Errorf("%w\n(`chorus models %s` lists the models)", err, modality)
	}
	return err
}
