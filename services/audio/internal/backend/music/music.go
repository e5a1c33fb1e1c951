// Package music is the audio backend that writes music: a seeded,
// algorithmic composer (package compose; rules, not a trained model)
// writes a Standard MIDI File, and FluidSynth, run as a separate process,
// plays it through a General MIDI soundfont to WAV.
package music

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/music/compose"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/music/midi"
)

// Model is the one model this backend serves.
const Model = "music"

// Binary is the program this backend runs.
const Binary = "fluidsynth"

// DefaultSoundfont is where Debian's fluid-soundfont-gm installs the
// FluidR3 General MIDI soundfont.
const DefaultSoundfont = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

// RenderRate is the rate FluidSynth renders at; a request's
// audio.sample_rate is reached by resampling.
const RenderRate = 44100

// gain is FluidSynth's master gain: its default (0.2) is quiet, and four
// parts at 0.8 stay clear of clipping.
const gain = "0.8"

// maxRenderBytes bounds the WAV FluidSynth may write: the longest piece
// (compose.MaxSeconds, plus a bar and the release tails) in 16-bit stereo
// at RenderRate is about 55 MB.
const maxRenderBytes = 96 << 20

// RenderTimeout bounds one FluidSynth run. It renders faster than real
// time (a 20 s piece in well under a second, after about a second loading
// the soundfont; the longest, 300 s with drums, took 28 s composing,
// rendering and encoding on a busy 2-core machine), so a run this long is
// wedged.
var RenderTimeout = 3 * time.Minute

// fadeSeconds is the longest fade-out at the cut to the asked duration.
const fadeSeconds = 1.0

var (
	// ErrNoSoundfont means the soundfont file is missing or unreadable.
	ErrNoSoundfont = errors.New("music: no soundfont")
	errTimeout     = errors.New("music: fluidsynth ran past RenderTimeout")
	errSilent      = errors.New("music: fluidsynth rendered silence")
)

// childEnv is the environment FluidSynth runs with: PATH and the locale,
// none of the server's own variables (API keys included), and no HOME, so
// no user's ~/.fluidsynth is read.
func childEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "LC_CTYPE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Backend serves the music model.
type Backend struct {
	bin, soundfont string
}

// New checks that the FluidSynth at bin (a path, or a name looked up on
// PATH) runs and that soundfont is a readable file.
func New(ctx context.Context, bin, soundfont string) (*Backend, error) {
	f, err := os.Open(soundfont)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSoundfont, err)
	}
	head := make([]byte, 12)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || string(head[:4]) != "RIFF" || string(head[8:12]) != "sfbk" {
		return nil, fmt.Errorf("%w: %s is not a SoundFont 2 file", ErrNoSoundfont, soundfont)
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("music: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = childEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("music: %s --version: %w: %s", path, err, rpcerr.Clip(strings.TrimSpace(string(out)), 200))
	}
	return &Backend{bin: path, soundfont: soundfont}, nil
}

// Models lists the music model.
func (b *Backend) Models() []*genaiv1.Model {
	return []*genaiv1.Model{{
		Name:    Model,
		Backend: "fluidsynth",
		Description: fmt.Sprintf("instrumental music by algorithmic composition (seeded rules: chord progressions with voice leading, "+
			"melody, bass, drums; not a trained model), played by FluidSynth through a General MIDI soundfont; the prompt's words "+
			"set duration (\"30 seconds\", default %d, at most %d), tempo (\"at 90 bpm\"), key (\"in D minor\"), mood (calm, energetic, "+
			"happy, sad), instruments and \"seed N\"; audio.speed scales the tempo; returns WAV and the MIDI file",
			compose.DefaultSeconds, compose.MaxSeconds),
		Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_STREAMING},
		Voices:       compose.Instruments(),
	}}
}

// Generate composes a piece from the prompt, renders it and returns the
// WAV (trimmed to the asked duration with a short fade-out) and the MIDI
// file it was rendered from. Nothing is streamed before the end: a
// piece is one artifact, which StreamGenerate sends in parts when it is
// large; a unary call for a piece too long for one response is refused
// before rendering.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, _ func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	p, err := compose.Parse(req.GetPrompt(), float64(req.GetAudio().GetSpeed()))
	if inv := (*compose.Invalid)(nil); errors.As(err, &inv) {
		return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "prompt", Description: inv.Msg})
	} else if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "reading the prompt failed").WithCause(err)
	}
	if v := req.GetAudio().GetVoice(); v != "" {
		inst, ok := compose.InstrumentNamed(v)
		if !ok {
			return nil, rpcerr.Invalid(rpcerr.FieldViolation{
				Field:       "audio.voice",
				Description: fmt.Sprintf("model %s has no instrument %q; ListModels lists them as voices, for example %q", Model, rpcerr.Clip(v, 32), "piano"),
			})
		}
		p.Lead = inst
	}
	rate := RenderRate
	if r := int(req.GetAudio().GetSampleRate()); r != 0 {
		rate = r
	}
	if n := wav.EncodedSize(int(p.Seconds * float64(rate))); !genai.Streaming(ctx) && n > genai.MaxUnaryResponseBytes {
		// Refuse before rendering what Generate could not send.
		return nil, genai.ResponseTooLarge(n)
	}
	piece := compose.Compose(p)
	mid, err := piece.MIDI()
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "composition failed").WithCause(err)
	}
	a, err := b.render(ctx, mid)
	if err != nil {
		return nil, err
	}
	a = fit(a, p.Seconds)
	if r := int(req.GetAudio().GetSampleRate()); r != 0 {
		a = wav.Resample(a, r)
	}

	seconds := a.Seconds()
	audio := &genaiv1.Artifact{
		MimeType: "audio/wav",
		Content:  &genaiv1.Artifact_Data{Data: wav.Encode(a)},
		Metadata: &genaiv1.ArtifactMetadata{DurationSeconds: seconds, SampleRate: int32(a.Rate), Seed: p.Seed, SourceText: req.GetPrompt()},
	}
	score := &genaiv1.Artifact{
		MimeType: midi.MimeType,
		Content:  &genaiv1.Artifact_Data{Data: mid},
		Metadata: &genaiv1.ArtifactMetadata{DurationSeconds: float64(piece.Bars*4) * 60 / piece.BPM, Seed: p.Seed, SourceText: req.GetPrompt()},
	}
	genai.FillDigest(audio)
	genai.FillDigest(score)
	return &genaiv1.GenerateResponse{
		Model:     req.GetModel(),
		Artifacts: []*genaiv1.Artifact{audio, score},
		Usage: &genaiv1.Usage{
			AudioSeconds:    seconds,
			InputCharacters: int32(utf8.RuneCountInString(req.GetPrompt())),
		},
		FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP,
	}, nil
}

// render plays mid through the soundfont with FluidSynth, in a temporary
// directory of its own; cancellation kills the process.
func (b *Backend) render(ctx context.Context, mid []byte) (wav.Audio, error) {
	fail := func(err error) (wav.Audio, error) {
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "rendering the music failed").WithCause(err)
	}
	dir, err := os.MkdirTemp("", "chorus-music-")
	if err != nil {
		return fail(fmt.Errorf("music: %w", err))
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.mid"), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, mid, 0o600); err != nil {
		return fail(fmt.Errorf("music: %w", err))
	}

	ctx, cancel := context.WithTimeoutCause(ctx, RenderTimeout, errTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, "-ni", "-q", "-F", out, "-r", fmt.Sprint(RenderRate), "-g", gain, b.soundfont, in)
	cmd.Dir = dir
	cmd.Env = childEnv()
	var log limitedBuffer
	log.max = 4 << 10
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			return fail(errTimeout)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return wav.Audio{}, ctxErr
		}
		return fail(fmt.Errorf("music: %s: %w: %s", Binary, err, strings.TrimSpace(log.String())))
	}
	st, err := os.Stat(out)
	if err != nil || st.Size() > maxRenderBytes {
		return fail(fmt.Errorf("music: %s wrote no usable WAV (%v): %s", Binary, err, strings.TrimSpace(log.String())))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return fail(fmt.Errorf("music: %w", err))
	}
	a, err := wav.Decode(data)
	if err != nil {
		return fail(fmt.Errorf("music: reading %s's WAV (%d bytes): %w", Binary, len(data), err))
	}
	if RMS(a.Samples) == 0 {
		// FluidSynth reports a soundfont it cannot load and plays on.
		return fail(fmt.Errorf("%w: %s", errSilent, strings.TrimSpace(log.String())))
	}
	return a, nil
}

// fit cuts or pads a to exactly seconds, fading out over the last second
// (a quarter of the piece, if shorter) so the cut does not click.
func fit(a wav.Audio, seconds float64) wav.Audio {
	n := int(math.Round(seconds * float64(a.Rate)))
	s := make([]int16, n)
	copy(s, a.Samples)
	fade := min(int(fadeSeconds*float64(a.Rate)), n/4)
	for i := range fade {
		j := n - fade + i
		s[j] = int16(float64(s[j]) * float64(fade-1-i) / float64(fade))
	}
	return wav.Audio{Rate: a.Rate, Samples: s}
}

// RMS is the root mean square of samples, 0 for silence, at most 32768.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, v := range samples {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(samples)))
}

// limitedBuffer keeps at most max bytes of FluidSynth's messages and
// drops the rest, so a chatty run cannot grow memory.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
