package pipeline

import (
	"errors"
	"io/fs"
	"testing"
)

// FuzzParse: no YAML makes Parse panic or loop; it refuses only with ErrInvalid; and what it
// accepts is a pipeline the runner can use: every step reachable by name, every dependency
// and output source a step, no cycle, item steps with a parallelism, and the inputs, the
// templates and the listing usable without a panic.
func FuzzParse(f *testing.F) {
	files, err := fs.Glob(builtinFS, "builtin/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no built-in pipelines to seed from: %v", err)
	}
	for _, name := range files {
		b, err := fs.ReadFile(builtinFS, name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseBytes(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refused with %v, not ErrInvalid", err)
			}
			return
		}
		if p.Name == "" || len(p.Steps) == 0 {
			t.Fatalf("accepted a pipeline with name %q and %d steps", p.Name, len(p.Steps))
		}
		for i := range p.Steps {
			s := &p.Steps[i]
			if p.Step(s.Name) != s {
				t.Fatalf("step %q is not found by its name", s.Name)
			}
			for _, d := range s.Deps() {
				if p.Step(d) == nil {
					t.Fatalf("step %q depends on %q, which is not a step", s.Name, d)
				}
			}
			if s.Items() && s.Parallel <= 0 {
				t.Fatalf("item step %q has parallelism %d", s.Name, s.Parallel)
			}
		}
		for _, o := range p.Outputs {
			if p.Step(o.From) == nil || o.Assemble == "" {
				t.Fatalf("output from %q assembled as %q", o.From, o.Assemble)
			}
		}
		// Kahn's algorithm, apart from the validator's own check: every step
		// must become ready once its dependencies are done.
		done := map[string]bool{}
		for progress := true; progress; {
			progress = false
			for i := range p.Steps {
				s := &p.Steps[i]
				ready := !done[s.Name]
				for _, d := range s.Deps() {
					ready = ready && done[d]
				}
				if ready {
					done[s.Name], progress = true, true
				}
			}
		}
		if len(done) != len(p.Steps) {
			t.Fatalf("accepted a cycle: %d of %d steps can run", len(done), len(p.Steps))
		}
		inputs, err := p.ResolveInputs(map[string]string{})
		if err != nil {
			return // a required input is missing: refusing that is the runner's first step
		}
		data := NewData(inputs, map[string]string{})
		for i := range p.Steps {
			for _, field := range []string{"prompt", "model"} {
				_, _ = p.Steps[i].Render(field, data.WithItem(0, "item"))
			}
		}
		_ = p.Proto()
	})
}
