package pipeline

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Registry holds the pipelines an orchestrator can run, by name.
type Registry struct {
	byName map[string]*Pipeline
}

// Builtin returns the built-in pipelines.
func Builtin() (*Registry, error) {
	r := &Registry{byName: map[string]*Pipeline{}}
	if err := r.load(builtinFS, "builtin", false); err != nil {
		return nil, err
	}
	return r, nil
}

// LoadDir adds every *.yaml and *.yml file of dir. A pipeline from dir
// replaces a built-in of the same name, so an operator can adapt a
// built-in's prompts to their models; two files of dir may not share a name.
func (r *Registry) LoadDir(dir string) error {
	return r.load(os.DirFS(dir), ".", true)
}

func (r *Registry) load(fsys fs.FS, dir string, replaceBuiltin bool) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("pipelines: %w", err)
	}
	fromHere := map[string]string{}
	var errs []error
	for _, e := range entries {
		ext := strings.ToLower(path.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("pipelines: %w", err))
			continue
		}
		p, err := ParseBytes(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(dir, e.Name()), err))
			continue
		}
		if prev, dup := fromHere[p.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: %w: pipeline %q is already defined in %s", e.Name(), ErrInvalid, p.Name, prev))
			continue
		}
		if _, exists := r.byName[p.Name]; exists && !replaceBuiltin {
			errs = append(errs, fmt.Errorf("%s: %w: pipeline %q is defined twice", e.Name(), ErrInvalid, p.Name))
			continue
		}
		fromHere[p.Name] = e.Name()
		r.byName[p.Name] = p
	}
	return errors.Join(errs...)
}

// Get returns the pipeline called name, or nil.
func (r *Registry) Get(name string) *Pipeline { return r.byName[name] }

// Names returns every pipeline's name, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Proto describes p for clients.
func (p *Pipeline) Proto() *orchestratorv1.Pipeline {
	out := &orchestratorv1.Pipeline{Name: p.Name, Description: p.Description}
	for _, in := range p.Inputs {
		maxLen := int32(in.MaxLength)
		if in.MaxLength > 1<<30 {
			maxLen = 1 << 30
		}
		desc := in.Description
		if in.Type == TypeInteger {
			// The proto has no type field; say it where people read.
			desc = strings.TrimSpace(desc + " " + in.rangeText())
		}
		out.Inputs = append(out.Inputs, &orchestratorv1.PipelineInput{
			Name: in.Name, Description: desc, Required: in.Required,
			DefaultValue: in.Default, MaxLength: maxLen,
		})
	}
	for _, s := range p.Steps {
		ps := &orchestratorv1.PipelineStep{
			Name: s.Name, Modality: s.ModalityName(), Needs: s.Deps(),
			StreamsInput: s.StreamFrom != "",
		}
		if s.StreamFrom != "" {
			ps.Needs = append(ps.Needs, s.StreamFrom)
		}
		// A templated model is chosen per run; clients see the service
		// default ("") rather than template source.
		if !strings.Contains(s.Model, "{{") {
			ps.Model = s.Model
		}
		out.Steps = append(out.Steps, ps)
	}
	for _, o := range p.Outputs {
		out.Outputs = append(out.Outputs, &orchestratorv1.PipelineOutput{Name: o.Name, MimeType: o.MimeType, Description: o.Description})
	}
	return out
}

// rangeText describes an integer input's accepted values.
func (in *Input) rangeText() string {
	switch {
	case in.Min != nil && in.Max != nil:
		return fmt.Sprintf("(An integer from %d to %d.)", *in.Min, *in.Max)
	case in.Min != nil:
		return fmt.Sprintf("(An integer, at least %d.)", *in.Min)
	case in.Max != nil:
		return fmt.Sprintf("(An integer, at most %d.)", *in.Max)
	}
	return "(An integer.)"
}
