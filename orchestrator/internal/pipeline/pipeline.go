// Package pipeline defines declarative multi-modal pipelines: their YAML
// format, validation on load, input checking and prompt templating.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
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
	// Needs lists the steps that must complete before this one starts.
	Needs []string `yaml:"needs"`
	// StreamFrom names a text step whose output this step consumes sentence
	// by sentence while it streams: the step runs once per sentence, the
	// first as soon as it is complete.
	StreamFrom string `yaml:"stream_from"`
	// ForEach runs the step once per item of a completed step's text.
	ForEach *ForEach `yaml:"for_each"`
	// Parallel is how many item calls may be in flight or awaiting their
	// turn to be emitted; results are always emitted in item order.
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

// Items reports whether s runs once per item (stream_from or for_each).
func (s *Step) Items() bool { return s.StreamFrom != "" || s.ForEach != nil }

// Parse reads and validates one pipeline from YAML. Unknown keys are errors.
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
	return &p, nil
}

// ParseBytes is Parse over a byte slice.
func ParseBytes(b []byte) (*Pipeline, error) { return Parse(bytes.NewReader(b)) }

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// reserved are template data keys that are not inputs.
var reserved = map[string]bool{"steps": true, "item": true, "index": true}

func (p *Pipeline) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !nameRE.MatchString(p.Name) {
		bad("name %q must be lower-case words joined by hyphens", p.Name)
	}
	inputs := map[string]*Input{}
	for i := range p.Inputs {
		in := &p.Inputs[i]
		switch {
		case !identRE.MatchString(in.Name):
			bad("input %q: name must be lower_snake_case", in.Name)
		case reserved[in.Name]:
			bad("input %q: name is reserved for templates", in.Name)
		case inputs[in.Name] != nil:
			bad("input %q: declared twice", in.Name)
		}
		inputs[in.Name] = in
		if in.Type == "" {
			in.Type = TypeString
		}
		if in.MaxLength < 0 {
			bad("input %q: max_length must not be negative", in.Name)
		}
		if in.MaxLength == 0 {
			in.MaxLength = DefaultMaxInputLen
		}
		switch in.Type {
		case TypeString:
			if in.Min != nil || in.Max != nil {
				bad("input %q: min and max apply only to integer inputs", in.Name)
			}
		case TypeInteger:
			if in.Min != nil && in.Max != nil && *in.Min > *in.Max {
				bad("input %q: min %d is above max %d", in.Name, *in.Min, *in.Max)
			}
		default:
			bad("input %q: type %q must be string or integer", in.Name, in.Type)
		}
		if in.Required && in.Default != "" {
			bad("input %q: a required input cannot have a default", in.Name)
		}
		if in.Default != "" {
			if v := in.check(in.Default); v != "" {
				bad("input %q: default %s", in.Name, v)
			}
		}
	}

	p.steps = map[string]*Step{}
	for i := range p.Steps {
		s := &p.Steps[i]
		if !nameRE.MatchString(s.Name) {
			bad("step %q: name must be lower-case words joined by hyphens", s.Name)
		}
		if p.steps[s.Name] != nil {
			bad("step %q: declared twice", s.Name)
		}
		p.steps[s.Name] = s
	}
	if len(p.Steps) == 0 {
		bad("a pipeline needs at least one step")
	}
	for i := range p.Steps {
		if err := p.validateStep(&p.Steps[i], inputs); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := p.checkAcyclic(); err != nil {
			errs = append(errs, err)
		}
	}

	outputs := map[string]bool{}
	for i := range p.Outputs {
		o := &p.Outputs[i]
		if !identRE.MatchString(o.Name) {
			bad("output %q: name must be lower_snake_case", o.Name)
		}
		if outputs[o.Name] {
			bad("output %q: declared twice", o.Name)
		}
		outputs[o.Name] = true
		if o.MimeType == "" {
			bad("output %q: mime_type is required", o.Name)
		}
		s := p.steps[o.From]
		if s == nil {
			bad("output %q: from names no step (%q)", o.Name, o.From)
			continue
		}
		if o.Assemble == "" {
			o.Assemble = AssembleEach
			if s.Modality == genai.Text && !s.Items() {
				o.Assemble = AssembleText
			}
		}
		switch o.Assemble {
		case AssembleText:
			if s.Modality != genai.Text || s.Items() {
				bad("output %q: assemble text needs a text step that is not an item step", o.Name)
			}
		case AssembleWAV, AssembleWebVTT:
			if s.Modality != genai.Audio {
				bad("output %q: assemble %s needs an audio step", o.Name, o.Assemble)
			}
		case AssembleEach:
		default:
			bad("output %q: assemble %q must be text, wav, webvtt or each", o.Name, o.Assemble)
		}
	}
	if len(p.Outputs) == 0 {
		bad("a pipeline needs at least one output")
	}
	return errors.Join(errs...)
}

func (p *Pipeline) validateStep(s *Step, inputs map[string]*Input) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("step %q: "+format, append([]any{s.Name}, args...)...))
	}
	switch s.Modality {
	case genai.Text, genai.Image, genai.Audio:
	default:
		bad("modality %q must be text, image or audio", s.Modality)
	}
	if strings.TrimSpace(s.Prompt) == "" {
		bad("prompt is required")
	}
	if s.CompletionPrompt != "" && s.Modality != genai.Text {
		bad("completion_prompt is only for text steps")
	}
	if s.CompletionOpening != "" && (s.CompletionPrompt == "" || s.Items()) {
		bad("completion_opening needs a completion_prompt and a step that is not an item step")
	}
	for _, n := range s.Needs {
		switch {
		case n == s.Name:
			bad("needs itself")
		case p.steps[n] == nil:
			bad("needs %q, which is not a step", n)
		}
	}
	if s.StreamFrom != "" {
		src := p.steps[s.StreamFrom]
		switch {
		case src == nil:
			bad("stream_from %q, which is not a step", s.StreamFrom)
		case s.StreamFrom == s.Name:
			bad("streams from itself")
		case src.Modality != genai.Text || src.Items():
			bad("stream_from %q: only a text step that is not an item step streams text", s.StreamFrom)
		case slices.Contains(s.Needs, s.StreamFrom):
			bad("stream_from %q is also in needs; a step cannot both wait for and stream from another", s.StreamFrom)
		}
		if s.ForEach != nil {
			bad("stream_from and for_each are exclusive")
		}
	}
	if f := s.ForEach; f != nil {
		src := p.steps[f.From]
		switch {
		case src == nil:
			bad("for_each.from %q, which is not a step", f.From)
		case f.From == s.Name:
			bad("iterates over itself")
		case src.Modality != genai.Text || src.Items():
			bad("for_each.from %q: only a text step that is not an item step has text to split", f.From)
		}
		if f.Split == "" {
			f.Split = SplitLines
		}
		if f.Split != SplitLines && f.Split != SplitSentences {
			bad("for_each.split %q must be lines or sentences", f.Split)
		}
		if f.MaxItems < 0 {
			bad("for_each.max_items must not be negative")
		}
		if f.MaxItems == 0 {
			f.MaxItems = DefaultMaxItems
		}
	}
	if s.Parallel < 0 || s.Parallel > MaxParallel {
		bad("parallel %d must be between 0 and %d", s.Parallel, MaxParallel)
	}
	if s.Parallel == 0 {
		s.Parallel = DefaultParallel
	}
	if !s.Items() && s.Parallel != DefaultParallel {
		bad("parallel applies only to stream_from and for_each steps")
	}
	o := s.Options
	var wrong []string
	switch s.Modality {
	case genai.Text:
		wrong = present(map[string]string{"voice": o.Voice, "speed": o.Speed, "sample_rate": o.SampleRate, "width": o.Width, "height": o.Height, "count": o.Count})
	case genai.Audio:
		wrong = present(map[string]string{"max_tokens": o.MaxTokens, "temperature": o.Temperature, "repetition_penalty": o.RepetitionPenalty, "width": o.Width, "height": o.Height, "count": o.Count})
		if len(o.Stop) > 0 {
			wrong = append(wrong, "stop")
		}
	case genai.Image:
		wrong = present(map[string]string{"max_tokens": o.MaxTokens, "temperature": o.Temperature, "repetition_penalty": o.RepetitionPenalty, "voice": o.Voice, "speed": o.Speed, "sample_rate": o.SampleRate})
		if len(o.Stop) > 0 {
			wrong = append(wrong, "stop")
		}
	}
	for _, w := range wrong {
		bad("option %s does not apply to %s steps", w, s.Modality)
	}
	co := s.CompletionOptions
	if set := append(present(co.fields()), co.Stop...); len(set) > 0 && s.CompletionPrompt == "" {
		bad("completion_options need a completion_prompt")
	}
	for _, w := range present(map[string]string{"voice": co.Voice, "speed": co.Speed, "sample_rate": co.SampleRate, "width": co.Width, "height": co.Height, "count": co.Count}) {
		bad("completion_options.%s does not apply to text steps", w)
	}

	// Every template of the step lives in one template set, so a step is
	// parsed once and rendered by name.
	root := template.New(s.Name).Option("missingkey=error").Funcs(funcs)
	add := func(name, text string) {
		if text == "" {
			return
		}
		t, err := root.New(name).Parse(text)
		if err != nil {
			bad("%s: %v", name, err)
			return
		}
		for _, ref := range refs(t.Tree.Root) {
			if err := p.checkRef(s, inputs, ref); err != nil {
				bad("%s: %v", name, err)
			}
		}
	}
	add("prompt", s.Prompt)
	add("completion_prompt", s.CompletionPrompt)
	add("completion_opening", s.CompletionOpening)
	add("model", s.Model)
	for name, v := range o.fields() {
		add("options."+name, v)
	}
	for i, v := range o.Stop {
		add(fmt.Sprintf("options.stop[%d]", i), v)
	}
	for name, v := range co.fields() {
		add("completion_options."+name, v)
	}
	for i, v := range co.Stop {
		add(fmt.Sprintf("completion_options.stop[%d]", i), v)
	}
	s.tmpl = root
	return errors.Join(errs...)
}

func present(fields map[string]string) []string {
	var out []string
	for k, v := range fields {
		if v != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
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
		"voice": o.Voice, "speed": o.Speed, "sample_rate": o.SampleRate,
		"width": o.Width, "height": o.Height, "count": o.Count,
	}
}

// checkRef checks one field chain a template reads.
func (p *Pipeline) checkRef(s *Step, inputs map[string]*Input, ref []string) error {
	switch head := ref[0]; {
	case head == "steps":
		if len(ref) < 2 {
			return errors.New(".steps must name a step, as in .steps.script")
		}
		if !slices.Contains(s.Deps(), ref[1]) {
			if p.steps[ref[1]] == nil {
				return fmt.Errorf(".steps.%s names no step", ref[1])
			}
			return fmt.Errorf(".steps.%s is read but %q is not in needs", ref[1], ref[1])
		}
	case head == "item" || head == "index":
		if !s.Items() {
			return fmt.Errorf(".%s exists only in stream_from and for_each steps", head)
		}
	case inputs[head] == nil:
		return fmt.Errorf(".%s names no input", head)
	}
	return nil
}

// checkAcyclic reports a cycle among the steps' dependencies (needs,
// for_each and stream_from).
func (p *Pipeline) checkAcyclic() error {
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case visiting:
			i := slices.Index(path, name)
			return fmt.Errorf("steps form a cycle: %s", strings.Join(append(slices.Clone(path[i:]), name), " -> "))
		case done:
			return nil
		}
		state[name] = visiting
		path = append(path, name)
		s := p.steps[name]
		deps := s.Deps()
		if s.StreamFrom != "" {
			deps = append(deps, s.StreamFrom)
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, s := range p.Steps {
		if err := visit(s.Name); err != nil {
			return err
		}
	}
	return nil
}
