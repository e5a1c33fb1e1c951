package genai

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Limits documented on GenerateRequest in genai.proto. They bound the work a
// single request can ask for and keep every response under gRPC's default
// 4 MiB message size.
const (
	MaxModelLen       = 128
	MaxTextPromptLen  = 32768
	MaxMediaPromptLen = 4096
	MaxMessages       = 256
	MaxMessageLen     = 32768
	MaxTokensLimit    = 8192
	DefaultMaxTokens  = 256
	MaxStops          = 8
	MaxStopLen        = 64
	MaxTopK           = 1000
	MaxJSONSchemaLen  = 16384
	MinImageSide      = 64
	MaxImageSide      = 2048
	MaxImageCount     = 4
	MaxImageSteps     = 150
	MinSpeed          = 0.25
	MaxSpeed          = 4
	MinSampleRate     = 8000
	MaxSampleRate     = 48000
)

// Validate checks req against the documented limits for the modality and
// returns an INVALID_ARGUMENT *rpcerr.Error naming every bad field, or nil.
// It does not resolve the model: that is the handler's job (NOT_FOUND).
func Validate(m Modality, req *genaiv1.GenerateRequest) error {
	var v violations
	if len(req.GetModel()) > MaxModelLen {
		v.add("model", "must be at most %d bytes", MaxModelLen)
	}
	promptLimit := MaxMediaPromptLen
	if m == Text {
		promptLimit = MaxTextPromptLen
	}
	prompt := req.GetPrompt()
	switch {
	case !utf8.ValidString(prompt):
		v.add("prompt", "must be valid UTF-8")
	case hasControl(prompt):
		v.add("prompt", controlMsg)
	case len(prompt) > promptLimit:
		v.add("prompt", "must be at most %d bytes, got %d", promptLimit, len(prompt))
	}
	msgs := req.GetMessages()
	if len(msgs) > 0 && m != Text {
		v.add("messages", "are only accepted by the text service; use prompt")
	}
	if m == Text {
		switch {
		case len(msgs) > MaxMessages:
			v.add("messages", "must be at most %d, got %d", MaxMessages, len(msgs))
		case len(msgs) > 0 && prompt != "":
			v.add("prompt", "must be empty when messages are given")
		}
		for i, msg := range msgs {
			if i >= MaxMessages {
				break
			}
			switch msg.GetRole() {
			case "system", "user", "assistant":
			default:
				v.add(fmt.Sprintf("messages[%d].role", i), "must be system, user or assistant, got %q", rpcerr.Clip(msg.GetRole(), 32))
			}
			c := msg.GetContent()
			switch {
			case !utf8.ValidString(c):
				v.add(fmt.Sprintf("messages[%d].content", i), "must be valid UTF-8")
			case hasControl(c):
				v.add(fmt.Sprintf("messages[%d].content", i), controlMsg)
			case len(c) > MaxMessageLen:
				v.add(fmt.Sprintf("messages[%d].content", i), "must be at most %d bytes", MaxMessageLen)
			}
		}
	}
	if (m != Text || len(msgs) == 0) && strings.TrimSpace(prompt) == "" {
		v.add("prompt", "must not be empty")
	}
	if len(req.GetInputs()) > 0 {
		v.add("inputs", "the %s service takes no input artifacts", m)
	}
	switch opts := req.GetOptions().(type) {
	case nil:
	case *genaiv1.GenerateRequest_Text:
		if m != Text {
			v.add("text", "text options sent to the %s service; use %s options", m, m)
		} else {
			validateText(&v, opts.Text)
		}
	case *genaiv1.GenerateRequest_Image:
		if m != Image {
			v.add("image", "image options sent to the %s service; use %s options", m, m)
		} else {
			validateImage(&v, opts.Image)
		}
	case *genaiv1.GenerateRequest_Audio:
		if m != Audio {
			v.add("audio", "audio options sent to the %s service; use %s options", m, m)
		} else {
			validateAudio(&v, opts.Audio)
		}
	}
	return v.err()
}

const controlMsg = "must not hold control characters other than white space (tab, newline, vertical tab, form feed, carriage return)"

// hasControl reports a C0 control character that is not white space: no
// text a person writes holds one, and NUL or ESC reaching a backend (a C
// library's string, a terminal) is trouble. White space stays allowed, as
// text from documents (form feeds) and from models holds it.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && (c < '\t' || c > '\r') {
			return true
		}
	}
	return false
}

func validateText(v *violations, o *genaiv1.TextOptions) {
	if o == nil {
		return
	}
	if n := o.GetMaxTokens(); n < 0 || n > MaxTokensLimit {
		v.add("text.max_tokens", "must be between 0 and %d, got %d", MaxTokensLimit, n)
	}
	if o.Temperature != nil && !inRange(o.GetTemperature(), 0, 2) {
		v.add("text.temperature", "must be between 0 and 2, got %v", o.GetTemperature())
	}
	if o.TopP != nil && (!inRange(o.GetTopP(), 0, 1) || o.GetTopP() == 0) {
		v.add("text.top_p", "must be in (0, 1], got %v", o.GetTopP())
	}
	if k := o.GetTopK(); k < 0 || k > MaxTopK {
		v.add("text.top_k", "must be between 0 and %d, got %d", MaxTopK, k)
	}
	if o.MinP != nil && (!inRange(o.GetMinP(), 0, 1) || o.GetMinP() == 1) {
		v.add("text.min_p", "must be in [0, 1), got %v", o.GetMinP())
	}
	if o.RepetitionPenalty != nil && !inRange(o.GetRepetitionPenalty(), 1, 2) {
		v.add("text.repetition_penalty", "must be between 1 and 2, got %v", o.GetRepetitionPenalty())
	}
	if len(o.GetStop()) > MaxStops {
		v.add("text.stop", "must hold at most %d strings, got %d", MaxStops, len(o.GetStop()))
	}
	for i, s := range o.GetStop() {
		if i >= MaxStops {
			break
		}
		if s == "" || len(s) > MaxStopLen || !utf8.ValidString(s) {
			v.add(fmt.Sprintf("text.stop[%d]", i), "must be 1 to %d bytes of UTF-8", MaxStopLen)
		}
	}
	// The schema's meaning is the backend's to judge (the embedded one enforces a subset);
	// its shape is checked here, before any queue.
	if s := o.GetJsonSchema(); s != "" {
		var doc any
		switch {
		case len(s) > MaxJSONSchemaLen:
			v.add("text.json_schema", "must be at most %d bytes, got %d", MaxJSONSchemaLen, len(s))
		case json.Unmarshal([]byte(s), &doc) != nil:
			v.add("text.json_schema", "must be a JSON Schema as JSON text; this is not JSON")
		default:
			if _, ok := doc.(map[string]any); !ok {
				v.add("text.json_schema", "must be a JSON object (a JSON Schema)")
			}
		}
	}
}

func validateImage(v *violations, o *genaiv1.ImageOptions) {
	if o == nil {
		return
	}
	for _, side := range []struct {
		field string
		value int32
	}{{"image.width", o.GetWidth()}, {"image.height", o.GetHeight()}} {
		if side.value != 0 && (side.value < MinImageSide || side.value > MaxImageSide || side.value%8 != 0) {
			v.add(side.field, "must be 0 or a multiple of 8 between %d and %d, got %d", MinImageSide, MaxImageSide, side.value)
		}
	}
	if c := o.GetCount(); c < 0 || c > MaxImageCount {
		v.add("image.count", "must be between 0 and %d, got %d", MaxImageCount, c)
	}
	if s := o.GetSteps(); s < 0 || s > MaxImageSteps {
		v.add("image.steps", "must be between 0 and %d, got %d", MaxImageSteps, s)
	}
	if n := o.GetNegativePrompt(); len(n) > MaxMediaPromptLen || !utf8.ValidString(n) {
		v.add("image.negative_prompt", "must be at most %d bytes of UTF-8", MaxMediaPromptLen)
	}
}

func validateAudio(v *violations, o *genaiv1.AudioOptions) {
	if o == nil {
		return
	}
	if len(o.GetVoice()) > MaxModelLen {
		v.add("audio.voice", "must be at most %d bytes", MaxModelLen)
	}
	if s := o.GetSpeed(); s != 0 && !inRange(s, MinSpeed, MaxSpeed) {
		v.add("audio.speed", "must be 0 or between %v and %v, got %v", MinSpeed, MaxSpeed, s)
	}
	switch o.GetFormat() {
	case "", "wav":
	default:
		v.add("audio.format", "must be \"wav\", got %q", rpcerr.Clip(o.GetFormat(), 32))
	}
	if r := o.GetSampleRate(); r != 0 && (r < MinSampleRate || r > MaxSampleRate) {
		v.add("audio.sample_rate", "must be 0 or between %d and %d, got %d", MinSampleRate, MaxSampleRate, r)
	}
}

// MaxTokens returns the token budget a text request asks for, with the
// default applied.
func MaxTokens(req *genaiv1.GenerateRequest) int {
	if n := req.GetText().GetMaxTokens(); n > 0 {
		return int(n)
	}
	return DefaultMaxTokens
}

type violations []rpcerr.FieldViolation

func (v *violations) add(field, format string, args ...any) {
	*v = append(*v, rpcerr.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	return rpcerr.Invalid(v...)
}

// inRange reports lo <= x <= hi, false for NaN.
func inRange(x float32, lo, hi float64) bool {
	f := float64(x)
	return !math.IsNaN(f) && f >= lo && f <= hi
}
