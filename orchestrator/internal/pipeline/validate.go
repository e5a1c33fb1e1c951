package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/chorus-ai/chorus/orchestrator/internal/transform"
	"github.com/chorus-ai/chorus/platform/genai"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// reserved are template data keys that are not inputs.
var reserved = map[string]bool{"steps": true, "item": true, "index": true}

// problems collects everything wrong with a pipeline, so that all of it is
// reported at once.
type problems []error

func (ps *problems) addf(format string, args ...any) {
	*ps = append(*ps, fmt.Errorf(format, args...))
}

// add adds err unless it is nil.
func (ps *problems) add(err error) {
	if err != nil {
		*ps = append(*ps, err)
	}
}

func (ps problems) err() error { return errors.Join(ps...) }

// stepProblems collects what is wrong with one step, each problem naming
// the step.
type stepProblems struct {
	step string
	problems
}

func (ps *stepProblems) addf(format string, args ...any) {
	ps.problems.addf("step %q: "+format, append([]any{ps.step}, args...)...)
}

// validate checks p as written. It fills in no defaults (setDefaults does,
// after it): an unset field is checked as unset. What it keeps is what the
// checks build: the index of steps by name and each step's parsed
// templates.
func (p *Pipeline) validate() error {
	var ps problems
	if !nameRE.MatchString(p.Name) {
		ps.addf("name %q must be lower-case words joined by hyphens", p.Name)
	}
	inputs, err := p.validateInputs()
	ps.add(err)
	ps.add(p.indexSteps())
	for i := range p.Steps {
		ps.add(p.validateStep(&p.Steps[i], inputs))
	}
	if len(ps) == 0 {
		ps.add(p.checkAcyclic())
	}
	ps.add(p.validateOutputs())
	return ps.err()
}

// validateInputs checks the inputs and returns them by name.
func (p *Pipeline) validateInputs() (map[string]*Input, error) {
	var ps problems
	inputs := map[string]*Input{}
	for i := range p.Inputs {
		in := &p.Inputs[i]
		switch {
		case !identRE.MatchString(in.Name):
			ps.addf("input %q: name must be lower_snake_case", in.Name)
		case reserved[in.Name]:
			ps.addf("input %q: name is reserved for templates", in.Name)
		case inputs[in.Name] != nil:
			ps.addf("input %q: declared twice", in.Name)
		}
		inputs[in.Name] = in
		ps.add(in.validate())
	}
	return inputs, ps.err()
}

// validate checks one input's declaration, whatever its name.
func (in *Input) validate() error {
	var ps problems
	if in.MaxLength < 0 {
		ps.addf("input %q: max_length must not be negative", in.Name)
	}
	switch in.Type {
	case "", TypeString:
		if in.Min != nil || in.Max != nil {
			ps.addf("input %q: min and max apply only to integer inputs", in.Name)
		}
	case TypeInteger:
		if in.Min != nil && in.Max != nil && *in.Min > *in.Max {
			ps.addf("input %q: min %d is above max %d", in.Name, *in.Min, *in.Max)
		}
	default:
		ps.addf("input %q: type %q must be string or integer", in.Name, in.Type)
	}
	if in.Required && in.Default != "" {
		ps.addf("input %q: a required input cannot have a default", in.Name)
	}
	if in.Default != "" && in.MaxLength >= 0 {
		// The default is checked as a run's value will be: against the
		// declaration with its own defaults.
		d := *in
		d.setDefaults()
		if v := d.check(in.Default); v != "" {
			ps.addf("input %q: default %s", in.Name, v)
		}
	}
	return ps.err()
}

// indexSteps fills p.steps, which the rest of validation reads.
func (p *Pipeline) indexSteps() error {
	var ps problems
	p.steps = map[string]*Step{}
	for i := range p.Steps {
		s := &p.Steps[i]
		if !nameRE.MatchString(s.Name) {
			ps.addf("step %q: name must be lower-case words joined by hyphens", s.Name)
		}
		if p.steps[s.Name] != nil {
			ps.addf("step %q: declared twice", s.Name)
		}
		p.steps[s.Name] = s
	}
	if len(p.Steps) == 0 {
		ps.addf("a pipeline needs at least one step")
	}
	return ps.err()
}

// validateStep checks one step and keeps its parsed templates.
func (p *Pipeline) validateStep(s *Step, inputs map[string]*Input) error {
	ps := &stepProblems{step: s.Name}
	s.validateCall(ps)
	p.validateNeeds(s, ps)
	p.validateStreamFrom(s, ps)
	p.validateForEach(s, ps)
	s.validateParallel(ps)
	s.validateOptions(ps)
	s.tmpl = p.parseTemplates(s, inputs, ps)
	return ps.err()
}

// validateCall checks what the step asks of its service.
func (s *Step) validateCall(ps *stepProblems) {
	if s.CompletionTransform != "" {
		if s.Modality != genai.Text || s.Items() {
			ps.addf("completion_transform is only for text steps that are not item steps")
		}
		checkTransform(ps, "completion_transform", s.CompletionTransform)
	}
	if s.Transform != "" {
		switch {
		case s.Modality != "":
			ps.addf("a transform step has no modality")
		case s.Items():
			ps.addf("a transform step cannot be an item step (stream_from, for_each)")
		case s.Prompt != "" || s.CompletionPrompt != "" || s.CompletionOpening != "" || s.Model != "":
			ps.addf("a transform step has no prompt or model; it reads text")
		}
		if s.Text == "" && len(s.Needs) == 0 {
			ps.addf("a transform step needs text or steps in needs to read")
		}
		checkTransform(ps, "transform", s.Transform)
		return
	}
	if s.Text != "" && s.CompletionTransform == "" {
		ps.addf("text is only for transform steps and completion_transform")
	}
	if !s.Modality.Valid() {
		ps.addf("modality %q must be text, image or audio", s.Modality)
	}
	if strings.TrimSpace(s.Prompt) == "" {
		ps.addf("prompt is required")
	}
	if s.CompletionPrompt != "" && s.Modality != genai.Text {
		ps.addf("completion_prompt is only for text steps")
	}
	if s.CompletionOpening != "" && (s.CompletionPrompt == "" || s.Items()) {
		ps.addf("completion_opening needs a completion_prompt and a step that is not an item step")
	}
}

func (p *Pipeline) validateNeeds(s *Step, ps *stepProblems) {
	for _, n := range s.Needs {
		switch {
		case n == s.Name:
			ps.addf("needs itself")
		case p.steps[n] == nil:
			ps.addf("needs %q, which is not a step", n)
		}
	}
}

func (p *Pipeline) validateStreamFrom(s *Step, ps *stepProblems) {
	if s.StreamFrom == "" {
		return
	}
	src := p.steps[s.StreamFrom]
	switch {
	case src == nil:
		ps.addf("stream_from %q, which is not a step", s.StreamFrom)
	case s.StreamFrom == s.Name:
		ps.addf("streams from itself")
	case src.Modality != genai.Text || src.Items():
		ps.addf("stream_from %q: only a text step that is not an item step streams text", s.StreamFrom)
	case slices.Contains(s.Needs, s.StreamFrom):
		ps.addf("stream_from %q is also in needs; a step cannot both wait for and stream from another", s.StreamFrom)
	}
	if s.ForEach != nil {
		ps.addf("stream_from and for_each are exclusive")
	}
}

func (p *Pipeline) validateForEach(s *Step, ps *stepProblems) {
	f := s.ForEach
	if f == nil {
		return
	}
	src := p.steps[f.From]
	switch {
	case src == nil:
		ps.addf("for_each.from %q, which is not a step", f.From)
	case f.From == s.Name:
		ps.addf("iterates over itself")
	case !src.MakesText():
		ps.addf("for_each.from %q: only a text or transform step that is not an item step has text to split", f.From)
	}
	switch f.Split {
	case "", SplitLines, SplitSentences:
	default:
		ps.addf("for_each.split %q must be lines or sentences", f.Split)
	}
	if f.MaxItems < 0 {
		ps.addf("for_each.max_items must not be negative")
	}
}

// checkTransform checks a transform as written, unless it is a template
// (its value is known only in a run).
func checkTransform(ps *stepProblems, field, op string) {
	if strings.Contains(op, "{{") {
		return
	}
	if _, err := transform.Parse(op); err != nil {
		ps.addf("%s: %v", field, err)
	}
}

// validateParallel checks parallel as written: 0 is unset, anything else
// was set and must fit an item step.
func (s *Step) validateParallel(ps *stepProblems) {
	if s.Parallel < 0 || s.Parallel > MaxParallel {
		ps.addf("parallel %d must be between 0 and %d", s.Parallel, MaxParallel)
	}
	if s.Parallel != 0 && !s.Items() {
		ps.addf("parallel applies only to stream_from and for_each steps")
	}
}

// otherModalities are the options a step of each modality must not set.
var otherModalities = map[genai.Modality][]string{
	genai.Text:  {"count", "height", "sample_rate", "speed", "voice", "width"},
	genai.Audio: {"count", "height", "json_schema", "max_tokens", "repetition_penalty", "stop", "temperature", "width"},
	genai.Image: {"json_schema", "max_tokens", "repetition_penalty", "sample_rate", "speed", "stop", "temperature", "voice"},
}

// validateOptions checks that the options fit the step's modality, and
// that completion options come with a completion prompt.
func (s *Step) validateOptions(ps *stepProblems) {
	if s.Transform != "" && (len(present(s.Options.fields())) > 0 || len(s.Options.Stop) > 0) {
		ps.addf("a transform step takes no options")
	}
	for _, name := range otherModalities[s.Modality] {
		if s.Options.Has(name) {
			ps.addf("option %s does not apply to %s steps", name, s.Modality)
		}
	}
	co := s.CompletionOptions
	if set := append(present(co.fields()), co.Stop...); len(set) > 0 && s.CompletionPrompt == "" {
		ps.addf("completion_options need a completion_prompt")
	}
	for _, name := range otherModalities[genai.Text] {
		if co.Has(name) {
			ps.addf("completion_options.%s does not apply to text steps", name)
		}
	}
}

// parseTemplates parses every template of the step into one set, so that
// a step is parsed once and rendered by name, and checks what each reads.
func (p *Pipeline) parseTemplates(s *Step, inputs map[string]*Input, ps *stepProblems) *template.Template {
	root := template.New(s.Name).Option("missingkey=error").Funcs(funcs)
	add := func(name, text string) {
		if text == "" {
			return
		}
		t, err := root.New(name).Parse(text)
		if err != nil {
			ps.addf("%s: %v", name, err)
			return
		}
		for _, ref := range refs(t.Tree.Root) {
			if err := p.checkRef(s, inputs, ref); err != nil {
				ps.addf("%s: %v", name, err)
			}
		}
	}
	add("prompt", s.Prompt)
	add("completion_prompt", s.CompletionPrompt)
	add("completion_opening", s.CompletionOpening)
	add("model", s.Model)
	add("transform", s.Transform)
	add("completion_transform", s.CompletionTransform)
	add("text", s.Text)
	add("when", s.When)
	for prefix, o := range map[string]Options{"options": s.Options, "completion_options": s.CompletionOptions} {
		for name, v := range o.fields() {
			add(prefix+"."+name, v)
		}
		for i, v := range o.Stop {
			add(fmt.Sprintf("%s.stop[%d]", prefix, i), v)
		}
	}
	return root
}

// validateOutputs checks the outputs against the steps they come from.
func (p *Pipeline) validateOutputs() error {
	var ps problems
	outputs := map[string]bool{}
	for i := range p.Outputs {
		o := &p.Outputs[i]
		if !identRE.MatchString(o.Name) {
			ps.addf("output %q: name must be lower_snake_case", o.Name)
		}
		if outputs[o.Name] {
			ps.addf("output %q: declared twice", o.Name)
		}
		outputs[o.Name] = true
		if o.MimeType == "" {
			ps.addf("output %q: mime_type is required", o.Name)
		}
		s := p.steps[o.From]
		if s == nil {
			ps.addf("output %q: from names no step (%q)", o.Name, o.From)
			continue
		}
		// An unset assembly is the step's default, which always fits.
		switch o.Assemble {
		case "", AssembleEach:
		case AssembleText:
			if !s.MakesText() {
				ps.addf("output %q: assemble text needs a text step that is not an item step", o.Name)
			}
		case AssembleWAV, AssembleWebVTT:
			if s.Modality != genai.Audio {
				ps.addf("output %q: assemble %s needs an audio step", o.Name, o.Assemble)
			}
		case AssembleMP4:
			if s.Modality != genai.Audio || !s.Items() {
				ps.addf("output %q: assemble mp4 needs an audio item step (one segment per image)", o.Name)
			}
			if img := p.steps[o.Images]; img == nil || img.Modality != genai.Image {
				ps.addf("output %q: assemble mp4 needs images, naming an image step", o.Name)
			}
		case AssembleHTML:
			if !s.MakesText() {
				ps.addf("output %q: assemble html needs a text or transform step", o.Name)
			}
			if img := p.steps[o.Images]; img == nil || img.Modality != genai.Image {
				ps.addf("output %q: assemble html needs images, naming an image step", o.Name)
			}
		case AssembleJSONL, AssembleJSONLReport:
			if s.Modality != genai.Text || !s.Items() {
				ps.addf("output %q: assemble %s needs a text item step (one value per item)", o.Name, o.Assemble)
			}
			if !slices.ContainsFunc(p.Inputs, func(in Input) bool { return in.Name == o.Schema }) {
				ps.addf("output %q: assemble %s needs schema, naming the input that holds the JSON Schema", o.Name, o.Assemble)
			}
		default:
			ps.addf("output %q: assemble %q must be text, wav, webvtt, each, mp4, html, jsonl or jsonl_report", o.Name, o.Assemble)
		}
		if o.Music != "" {
			if o.Assemble != AssembleWAV && o.Assemble != AssembleMP4 {
				ps.addf("output %q: music applies only to assemble wav and mp4", o.Name)
			}
			if m := p.steps[o.Music]; m == nil || m.Modality != genai.Audio || m.Items() {
				ps.addf("output %q: music must name an audio step that is not an item step", o.Name)
			}
		}
		if o.Perturb < 0 || o.Perturb > 1 {
			ps.addf("output %q: perturb %v must be between 0 and 1", o.Name, o.Perturb)
		}
		if o.Perturb != 0 && o.Assemble != AssembleJSONL && o.Assemble != AssembleJSONLReport {
			ps.addf("output %q: perturb applies only to assemble jsonl and jsonl_report", o.Name)
		}
		if o.Schema != "" && o.Assemble != AssembleJSONL && o.Assemble != AssembleJSONLReport {
			ps.addf("output %q: schema applies only to assemble jsonl and jsonl_report", o.Name)
		}
		if o.Images != "" && o.Assemble != AssembleMP4 && o.Assemble != AssembleHTML {
			ps.addf("output %q: images applies only to assemble mp4 and html", o.Name)
		}
	}
	if len(p.Outputs) == 0 {
		ps.addf("a pipeline needs at least one output")
	}
	return ps.err()
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
