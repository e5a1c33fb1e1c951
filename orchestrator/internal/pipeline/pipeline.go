// Package pipeline defines declarative multi-modal pipelines: their YAML
// format, validation on load, input checking and prompt templating.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/chorus-ai/chorus/platform/genai"
)

// Input types.
const (
	TypeString  = "string"
	TypeInteger = "integer"
)

// How an output is assembled from its step's result.
const (
	// AssembleText returns a text step's whole text.
	AssembleText = "text"
	// AssembleWAV joins an audio step's segments, in order, into one WAV.
	AssembleWAV = "wav"
	// AssembleWebVTT makes WebVTT captions, one cue per audio segment.
	AssembleWebVTT = "webvtt"
	// AssembleEach returns every artifact of the step as its own output,
	// named "<output>[<index>]".
	AssembleEach = "each"
	// AssembleMP4 makes a slideshow video (ffmpeg): the images of the
	// output's Images step, each shown for as long as the audio segment of
	// the same index lasts, over the audio step's segments joined, with
	// the segments' text as subtitles.
	AssembleMP4 = "mp4"
	// AssembleHTML makes one self-contained HTML page: the text of the
	// output's From step (a text step), then the images of its Images
	// step, inline, each captioned with the text it depicts.
	AssembleHTML = "html"
	// AssembleJSONL makes a JSON Lines dataset from a text item step whose
	// items each wrote one JSON value: every value is checked against the
	// JSON Schema in the input the output's Schema names, and the valid ones
	// are kept once each (exact duplicates dropped), in item order.
	AssembleJSONL = "jsonl"
	// AssembleJSONLReport is the same check's tally, as one JSON object:
	// {"requested", "accepted", "rejected", "duplicates", "errors"}.
	AssembleJSONLReport = "jsonl_report"
)

// How a for_each step splits the text of the step it iterates over.
const (
	SplitLines     = "lines"
	SplitSentences = "sentences"
)

// Limits on pipelines and runs.
const (
	// DefaultMaxInputLen is an input's longest value when it sets no
	// max_length, in bytes.
	DefaultMaxInputLen = 4096
	// DefaultParallel is how many calls an item step (stream_from or
	// for_each) has in flight or awaiting emission at once.
	DefaultParallel = 2
	// MaxParallel bounds a step's parallel setting.
	MaxParallel = 8
	// DefaultMaxItems bounds the items of a for_each step that sets none.
	DefaultMaxItems = 16
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid pipeline")

// Pipeline is one declarative workflow, as written in YAML.
type Pipeline struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Inputs      []Input  `yaml:"inputs"`
	Steps       []Step   `yaml:"steps"`
	Outputs     []Output `yaml:"outputs"`

	steps map[string]*Step
}

// Input is one value a run gives.
type Input struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Type is "string" (the default) or "integer".
	Type     string `yaml:"type"`
	Required bool   `yaml:"required"`
	Default  string `yaml:"default"`
	// MaxLength is the longest value in bytes; 0 means DefaultMaxInputLen.
	MaxLength int `yaml:"max_length"`
	// Min and Max bound an integer input.
	Min *int64 `yaml:"min"`
	Max *int64 `yaml:"max"`
}

// Step is one call (or, for item steps, one call per item) of a modality
// service.
type Step struct {
	Name     string         `yaml:"name"`
	Modality genai.Modality `yaml:"modality"`
	// Model is a template; empty (after rendering) uses the service's
	// default model.
	Model string `yaml:"model"`
	// Prompt is a Go text/template over the inputs (".topic"), the text of
	// the steps in needs (".steps.script") and, in item steps, ".item" and
	// ".index".
	Prompt string `yaml:"prompt"`
	// CompletionPrompt, on a text step, replaces Prompt when the text model
	// cannot chat (it lists no CAPABILITY_CHAT): a plain completion model
	// continues text instead of following instructions, so it needs the
	// opening of the text it should write (a title, a first line). Rendered
	// like Prompt but not trimmed: trailing newlines matter to such models.
	CompletionPrompt string `yaml:"completion_prompt"`
	// CompletionOpening, with CompletionPrompt, is the first words of the
	// text itself ("And {{.topic}} was"): appended to the completion prompt
	// and kept at the start of the step's output, so the text the model
	// continues reads whole. Whole-text steps only.
	CompletionOpening string `yaml:"completion_opening"`
	// Transform makes the step a model-free transform (package transform):
	// "split_sentences", "split_scenes N", "take N", "join", "template" or
	// "extract N", a template. Such a step has no modality; it transforms
	// Text and its result is text, like a text step's.
	Transform string `yaml:"transform"`
	// Text is what a transform reads, a template; empty means the text of
	// the steps in needs, in order, separated by blank lines.
	Text string `yaml:"text"`
	// CompletionTransform, on a text step, replaces the model call with
	// this transform (over Text) when the step's model cannot chat: where
	// a completion model cannot follow the step's instruction, a transform
	// often does the job.
	CompletionTransform string `yaml:"completion_transform"`
	// When, a template, makes the step optional: it runs only when When
	// renders to something other than blank ("{{.music}}": an input left
	// empty skips it). A skipped step completes at once with no result.
	When string `yaml:"when"`
	// Needs lists the steps that must complete before this one starts.
	Needs []string `yaml:"needs"`
	// StreamFrom names a text step whose output this step consumes sentence
	// by sentence while it streams: the step runs once per sentence, the
	// first as soon as it is complete.
	StreamFrom string `yaml:"stream_from"`
	// ForEach runs the step once per item of a completed step's text.
	ForEach *ForEach `yaml:"for_each"`
	// Parallel is how many item calls may be in flight or awaiting their
	// turn to be emitted; results are always emitted in item order. Item
	// steps only; 0 means DefaultParallel.
	Parallel int     `yaml:"parallel"`
	Options  Options `yaml:"options"`
	// CompletionOptions replace Options field by field when the step uses
	// its CompletionPrompt, for settings only a completion model should get
	// (OpenAI's API, for one, rejects repetition_penalty).
	CompletionOptions Options `yaml:"completion_options"`

	tmpl *template.Template
}

// ForEach says what an item step iterates over.
type ForEach struct {
	// From is the text step whose output is split into items.
	From string `yaml:"from"`
	// Split is "lines" (the default) or "sentences".
	Split string `yaml:"split"`
	// MaxItems caps the number of items; the rest are dropped.
	MaxItems int `yaml:"max_items"`
}

// Options are the modality options of a step. Every value is a template
// rendered per call, so inputs can set them ("{{.max_tokens}}"); an empty
// rendering leaves the option unset.
type Options struct {
	// Text.
	MaxTokens         string   `yaml:"max_tokens"`
	Temperature       string   `yaml:"temperature"`
	RepetitionPenalty string   `yaml:"repetition_penalty"`
	Seed              string   `yaml:"seed"`
	Stop              []string `yaml:"stop"`
	// JSONSchema is a JSON Schema the text must satisfy (TextOptions.json_schema).
	JSONSchema string `yaml:"json_schema"`
	// Audio.
	Voice      string `yaml:"voice"`
	Speed      string `yaml:"speed"`
	SampleRate string `yaml:"sample_rate"`
	// Image.
	Width  string `yaml:"width"`
	Height string `yaml:"height"`
	Count  string `yaml:"count"`
}

// Output is one named result of a run.
type Output struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	MimeType    string `yaml:"mime_type"`
	// From is the step whose result this output holds.
	From string `yaml:"from"`
	// Assemble says how: "text", "wav", "webvtt" or "each". Empty means
	// "text" for text steps and "each" for the others.
	Assemble string `yaml:"assemble"`
	// Images names the image step of an "mp4" output (From is its audio)
	// or of an "html" output (From is its text).
	Images string `yaml:"images"`
	// Schema names the input that holds the JSON Schema of a "jsonl" or
	// "jsonl_report" output.
	Schema string `yaml:"schema"`
	// Perturb, on a "jsonl" or "jsonl_report" output (0 to 1; 0 is off),
	// replaces each top-level number of a record that the record's item (the
	// original it varies, as in synthetic-data-augment) also has with the
	// original's value moved by up to ±Perturb of itself, within the
	// property's schema bounds; integers stay integers.
	Perturb float64 `yaml:"perturb"`
	// Music names an audio step (not an item step) whose WAV is mixed under
	// a "wav" or "mp4" output's audio, at a background level with fades
	// (see wav.Underlay); a skipped or empty step leaves the audio as is.
	Music string `yaml:"music"`
}

// Step returns the step named name, or nil.
func (p *Pipeline) Step(name string) *Step { return p.steps[name] }

// Deps returns the steps that must complete before s starts: its needs and
// the step its for_each iterates over.
func (s *Step) Deps() []string {
	deps := slices.Clone(s.Needs)
	if s.ForEach != nil && !slices.Contains(deps, s.ForEach.From) {
		deps = append(deps, s.ForEach.From)
	}
	return deps
}

// MakesText reports whether s's result is one text: a text step or a
// transform that is not an item step.
func (s *Step) MakesText() bool {
	return (s.Modality == genai.Text || s.Transform != "") && !s.Items()
}

// ModalityName is the step's modality, or "transform".
func (s *Step) ModalityName() string {
	if s.Transform != "" {
		return "transform"
	}
	return string(s.Modality)
}

// Items reports whether s runs once per item (stream_from or for_each).
func (s *Step) Items() bool { return s.StreamFrom != "" || s.ForEach != nil }

// Parse reads and validates one pipeline from YAML, then fills in the
// defaults of what it leaves unset. Unknown keys are errors.
func Parse(r io.Reader) (*Pipeline, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var p Pipeline
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty document", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := p.validate(); err != nil {
		if p.Name != "" {
			return nil, fmt.Errorf("%w %q: %w", ErrInvalid, p.Name, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.setDefaults()
	return &p, nil
}

// ParseBytes is Parse over a byte slice.
func ParseBytes(b []byte) (*Pipeline, error) { return Parse(bytes.NewReader(b)) }

// setDefaults fills in what a valid pipeline leaves unset.
func (p *Pipeline) setDefaults() {
	for i := range p.Inputs {
		p.Inputs[i].setDefaults()
	}
	for i := range p.Steps {
		p.Steps[i].setDefaults()
	}
	for i := range p.Outputs {
		if o := &p.Outputs[i]; o.Assemble == "" {
			o.Assemble = p.steps[o.From].defaultAssembly()
		}
	}
}

func (in *Input) setDefaults() {
	if in.Type == "" {
		in.Type = TypeString
	}
	if in.MaxLength == 0 {
		in.MaxLength = DefaultMaxInputLen
	}
}

func (s *Step) setDefaults() {
	if f := s.ForEach; f != nil {
		if f.Split == "" {
			f.Split = SplitLines
		}
		if f.MaxItems == 0 {
			f.MaxItems = DefaultMaxItems
		}
	}
	// Parallel means nothing to a step that makes one call, and stays 0.
	if s.Items() && s.Parallel == 0 {
		s.Parallel = DefaultParallel
	}
}

// defaultAssembly is how an output that says none is assembled from s.
func (s *Step) defaultAssembly() string {
	if s.MakesText() {
		return AssembleText
	}
	return AssembleEach
}

// Has reports whether the option called name (as in YAML) is set.
func (o Options) Has(name string) bool {
	if name == "stop" {
		return len(o.Stop) > 0
	}
	return o.fields()[name] != ""
}

func (o Options) fields() map[string]string {
	return map[string]string{
		"max_tokens": o.MaxTokens, "temperature": o.Temperature, "repetition_penalty": o.RepetitionPenalty, "seed": o.Seed,
		"json_schema": o.JSONSchema,
		"voice":       o.Voice, "speed": o.Speed, "sample_rate": o.SampleRate,
		"width": o.Width, "height": o.Height, "count": o.Count,
	}
}
