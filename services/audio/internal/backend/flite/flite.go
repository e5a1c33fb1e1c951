// Package flite is the audio backend that speaks with CMU Flite, linked in
// through cgo: real speech, offline, with the US English voices Flite
// ships. Flite runs in a worker process (see worker.go), so that its exit()
// on internal errors ends only the worker.
package flite

/*
#cgo CFLAGS: -I/usr/include/flite
#cgo LDFLAGS: -Wl,-Bstatic -lflite_cmu_us_slt -lflite_cmu_us_kal -lflite_cmu_us_kal16 -lflite_cmu_us_awb -lflite_cmu_us_rms -lflite_usenglish -lflite_cmulex -lflite -Wl,-Bdynamic -l:libasound.so.2 -lm
#include <stdlib.h>
#include <flite.h>

cst_voice *register_cmu_us_slt(const char *voxdir);
cst_voice *register_cmu_us_kal(const char *voxdir);
cst_voice *register_cmu_us_kal16(const char *voxdir);
cst_voice *register_cmu_us_awb(const char *voxdir);
cst_voice *register_cmu_us_rms(const char *voxdir);

// Go cannot call through C function pointers; this switch picks the
// registration function instead.
static cst_voice *chorus_register(int which) {
	switch (which) {
	case 0: return register_cmu_us_slt(NULL);
	case 1: return register_cmu_us_kal(NULL);
	case 2: return register_cmu_us_kal16(NULL);
	case 3: return register_cmu_us_awb(NULL);
	case 4: return register_cmu_us_rms(NULL);
	}
	return NULL;
}

static cst_wave *chorus_speak(cst_voice *v, const char *text, float stretch) {
	feat_set_float(v->features, "duration_stretch", stretch);
	return flite_text_to_wave(text, v);
}
*/
import "C"

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
	"github.com/chorus-ai/chorus/services/audio/internal/speech"
)

// Model is the one model this backend serves; its voices are Voices.
const Model = "flite"

// DefaultVoice is the voice of requests that name none: a female US
// English voice, the most natural of the set.
const DefaultVoice = "slt"

// voices are Flite's bundled voices, in registration order (the index is
// what chorus_register takes). cmu_time_awb is left out: it only speaks
// the time of day.
var voices = [...]struct {
	name, description string
}{
	{"slt", "cmu_us_slt: US English, female, 16 kHz"},
	{"kal", "cmu_us_kal: US English, male, 8 kHz diphone"},
	{"kal16", "cmu_us_kal16: US English, male, 16 kHz diphone"},
	{"awb", "cmu_us_awb: Scottish-accented English, male, 16 kHz"},
	{"rms", "cmu_us_rms: US English, male, 16 kHz"},
}

// Voices lists the voice names requests may use, the default first.
func Voices() []string {
	out := make([]string, len(voices))
	for i, v := range voices {
		out[i] = v.name
	}
	return out
}

// library holds Flite's process-wide state. Flite is not documented as
// thread-safe and keeps mutable globals (the error jump buffer
// cst_errjmp, its regex compiler's static state; voices share the
// lexicon), so even different voices must not synthesise at once: one
// lock serialises every call into Flite. It is held per sentence, not per
// request, so concurrent requests interleave.
var library struct {
	sync.Mutex
	initialised bool
	voices      [len(voices)]*C.cst_voice
}

// Backend serves the flite model, through a worker process it starts on
// first use and again after one dies.
type Backend struct {
	wk worker
}

// New returns the Flite backend. Voices are loaded on first use.
func New() *Backend { return &Backend{} }

// Close ends the worker process.
func (b *Backend) Close() error { return b.wk.close() }

// Models lists the flite model with its voices.
func (*Backend) Models() []*genaiv1.Model {
	var desc strings.Builder
	desc.WriteString("CMU Flite speech synthesis, offline. Voices: ")
	for i, v := range voices {
		if i > 0 {
			desc.WriteString("; ")
		}
		desc.WriteString(v.name + " (" + v.description + ")")
	}
	return []*genaiv1.Model{{
		Name:         Model,
		Backend:      "flite",
		Description:  desc.String(),
		Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_TEXT_TO_SPEECH, genaiv1.Capability_CAPABILITY_STREAMING},
		Voices:       Voices(),
		Languages:    []string{"en-US", "en-GB"},
	}}
}

// Generate voices the prompt with the requested voice, one sentence at a
// time.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	voice, err := voiceIndex(req.GetAudio().GetVoice())
	if err != nil {
		return nil, err
	}
	return speech.Generate(ctx, req, voices[voice].name, func(ctx context.Context, text string, opts speech.Options) (wav.Audio, error) {
		return b.wk.synth(ctx, voice, text, opts.Speed)
	}, emit)
}

func voiceIndex(name string) (int, error) {
	if name == "" {
		return 0, nil
	}
	// Accept Flite's own names too: "cmu_us_slt".
	short := strings.TrimPrefix(strings.ToLower(name), "cmu_us_")
	for i, v := range voices {
		if v.name == short {
			return i, nil
		}
	}
	return 0, rpcerr.Invalid(rpcerr.FieldViolation{
		Field:       "audio.voice",
		Description: fmt.Sprintf("model %s has no voice %q; it has %s", Model, rpcerr.Clip(name, 32), strings.Join(Voices(), ", ")),
	})
}

// synth voices one sentence. Flite cannot be interrupted mid-sentence;
// sentences are short, and the caller checks cancellation between them.
func synth(voice int, text string, speed float64) (wav.Audio, error) {
	// C strings end at NUL; Flite reads nothing useful from control bytes.
	ctext := C.CString(strings.ReplaceAll(text, "\x00", " "))
	defer C.free(unsafe.Pointer(ctext))

	library.Lock()
	defer library.Unlock()
	if !library.initialised {
		C.flite_init()
		library.initialised = true
	}
	v := library.voices[voice]
	if v == nil {
		v = C.chorus_register(C.int(voice))
		if v == nil {
			return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the voice failed to load").
				WithCause(fmt.Errorf("flite: register_cmu_us_%s returned NULL", voices[voice].name))
		}
		library.voices[voice] = v
	}
	w := C.chorus_speak(v, ctext, C.float(1/speed))
	if w == nil {
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "speech synthesis failed").
			WithCause(fmt.Errorf("flite: flite_text_to_wave returned NULL for %d bytes", len(text)))
	}
	defer C.delete_wave(w)
	n, channels := int(w.num_samples), int(w.num_channels)
	if n < 0 || channels < 1 || w.samples == nil && n > 0 {
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "speech synthesis failed").
			WithCause(fmt.Errorf("flite: wave with %d samples, %d channels", n, channels))
	}
	out := wav.Audio{Rate: int(w.sample_rate), Samples: make([]int16, n)}
	if n > 0 {
		src := unsafe.Slice((*int16)(unsafe.Pointer(w.samples)), n*channels)
		for i := range out.Samples {
			out.Samples[i] = src[i*channels] // Flite's voices are mono; take the first channel.
		}
	}
	return out, nil
}
