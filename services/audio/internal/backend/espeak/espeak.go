// Package espeak is the audio backend that speaks with espeak-ng, run as a
// separate process per sentence: espeak-ng is GPL, so Chorus never links
// it.
package espeak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
	"github.com/chorus-ai/chorus/services/audio/internal/speech"
)

// Model is the one model this backend serves.
const Model = "espeak"

// Binary is the program this backend runs.
const Binary = "espeak-ng"

// DefaultVoice is used when a request names no voice (and espeak-ng has
// it; otherwise its first voice is).
const DefaultVoice = "en-us"

// MaxVoices caps how many voices ListModels reports; espeak-ng 1.51 has
// about 130.
const MaxVoices = 256

// Speaking rates espeak-ng accepts, in words per minute. It silently
// treats anything slower than 80 as 80, so slower speeds are refused
// rather than faked.
const (
	normalWPM = 175
	minWPM    = 80
)

// maxOutput bounds what one espeak-ng run may write: a sentence of at most
// a few hundred characters at 80 words per minute is well under it.
const maxOutput = 32 << 20

var variantRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// SynthTimeout bounds one espeak-ng run (one sentence; at about 300 times
// real time a sentence takes milliseconds), so a wedged process cannot hold
// a backend slot.
var SynthTimeout = 30 * time.Second

// childEnv is the environment espeak-ng runs with: what it needs to find
// itself, its data and the locale, and nothing else of the server's (API
// keys included).
func childEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "LC_CTYPE", "ESPEAK_DATA_PATH"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// ErrNoVoices means espeak-ng listed no voices.
var ErrNoVoices = errors.New("espeak: espeak-ng lists no voices")

// Backend serves the espeak model.
type Backend struct {
	bin       string
	voices    []string // the default first
	known     map[string]bool
	languages []string
}

// New asks the espeak-ng at bin (a path, or a name looked up on PATH) for
// its voices.
func New(ctx context.Context, bin string) (*Backend, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("espeak: %w", err)
	}
	list := exec.CommandContext(ctx, path, "--voices")
	list.Env = childEnv()
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("espeak: listing voices: %w", err)
	}
	voices := parseVoices(out)
	if len(voices) == 0 {
		return nil, ErrNoVoices
	}
	if i := slices.Index(voices, DefaultVoice); i > 0 {
		voices = slices.Insert(slices.Delete(voices, i, i+1), 0, DefaultVoice)
	}
	b := &Backend{bin: path, known: map[string]bool{}}
	for _, v := range voices {
		b.known[v] = true
	}
	b.voices = voices[:min(len(voices), MaxVoices)]
	seen := map[string]bool{}
	for _, v := range voices {
		if tag := languageTag(v); !seen[tag] {
			seen[tag] = true
			b.languages = append(b.languages, tag)
		}
	}
	return b, nil
}

// parseVoices reads the Language column of `espeak-ng --voices`, which is
// what -v takes.
func parseVoices(out []byte) []string {
	var voices []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] == "Pty" || !variantRE.MatchString(f[1]) || seen[f[1]] {
			continue
		}
		seen[f[1]] = true
		voices = append(voices, f[1])
	}
	return voices
}

// languageTag writes an espeak-ng language name in BCP 47's customary
// case: "en-gb-x-rp" is "en-GB-x-rp", "cmn-latn-pinyin" is
// "cmn-Latn-pinyin".
func languageTag(v string) string {
	parts := strings.Split(v, "-")
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		if len(p) == 1 {
			break // a singleton: private use follows
		}
		switch {
		case len(p) == 2:
			parts[i] = strings.ToUpper(p)
		case len(p) == 4 && p[0] >= 'a' && p[0] <= 'z':
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// Voices lists the voices ListModels reports, the default first.
func (b *Backend) Voices() []string { return slices.Clone(b.voices) }

// Models lists the espeak model.
func (b *Backend) Models() []*genaiv1.Model {
	return []*genaiv1.Model{{
		Name:    Model,
		Backend: "espeak",
		Description: fmt.Sprintf("espeak-ng formant speech synthesis, offline, %d languages; "+
			"a voice is a language name (\"en-us\", \"de\"), optionally with a variant (\"en-us+f3\")", len(b.languages)),
		Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_TEXT_TO_SPEECH, genaiv1.Capability_CAPABILITY_STREAMING},
		Voices:       b.Voices(),
		Languages:    slices.Clone(b.languages),
	}}
}

// Generate voices the prompt, running espeak-ng once per sentence.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	voice, err := b.voice(req.GetAudio().GetVoice())
	if err != nil {
		return nil, err
	}
	if s := req.GetAudio().GetSpeed(); s != 0 && wpm(float64(s)) < minWPM {
		return nil, rpcerr.Invalid(rpcerr.FieldViolation{
			Field:       "audio.speed",
			Description: fmt.Sprintf("model %s speaks no slower than %d words per minute: speed must be at least %.2f, got %v", Model, minWPM, float64(minWPM)/normalWPM, s),
		})
	}
	return speech.Generate(ctx, req, voice, b.synth, emit)
}

func (b *Backend) voice(name string) (string, error) {
	if name == "" {
		return b.voices[0], nil
	}
	base, variant, hasVariant := strings.Cut(name, "+")
	if b.known[base] && (!hasVariant || variantRE.MatchString(variant)) {
		return name, nil
	}
	return "", rpcerr.Invalid(rpcerr.FieldViolation{
		Field:       "audio.voice",
		Description: fmt.Sprintf("model %s has no voice %q; ListModels lists its voices, for example %q", Model, rpcerr.Clip(name, 32), b.voices[0]),
	})
}

func wpm(speed float64) int { return int(math.Round(normalWPM * speed)) }

// synth runs espeak-ng for one sentence. The text goes on stdin, so text
// that looks like an option stays text; cancellation kills the process.
func (b *Backend) synth(ctx context.Context, text string, opts speech.Options) (wav.Audio, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, SynthTimeout, errSynthTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, "--stdout", "-b", "1", "-v", opts.Voice, "-s", strconv.Itoa(wpm(opts.Speed)))
	cmd.Stdin = strings.NewReader(text)
	cmd.Env = childEnv()
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxOutput, 4<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(context.Cause(ctx), errSynthTimeout) {
			return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "speech synthesis failed").
				WithCause(fmt.Errorf("espeak: %s -v %s: %w", Binary, opts.Voice, errSynthTimeout))
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return wav.Audio{}, ctxErr
		}
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "speech synthesis failed").
			WithCause(fmt.Errorf("espeak: %s -v %s: %w: %s", Binary, opts.Voice, err, strings.TrimSpace(stderr.String())))
	}
	a, err := wav.Decode(stdout.Bytes())
	if err != nil {
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "speech synthesis failed").
			WithCause(fmt.Errorf("espeak: reading its WAV (%d bytes): %w", stdout.Len(), err))
	}
	return a, nil
}

// limitedBuffer fails writes beyond max bytes, which ends the process
// that writes too much.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

var (
	errTooMuchOutput = errors.New("espeak: too much output")
	errSynthTimeout  = errors.New("espeak: espeak-ng ran past SynthTimeout")
)

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > l.max {
		return 0, errTooMuchOutput
	}
	return l.Buffer.Write(p)
}
