package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// threeKinds has a step of each kind: one call (a), one call per streamed
// sentence (b), one call per line (c).
const threeKinds = `
name: kinds
steps:
  - name: a
    modality: text
    prompt: "write"
  - name: b
    modality: audio
    stream_from: a
    prompt: "{{.item}}"
  - name: c
    modality: image
    for_each: {from: a}
    prompt: "{{.item}}"
outputs:
  - name: text
    mime_type: text/plain
    from: a
`

// withParallel returns threeKinds with parallel: n on step.
func withParallel(step string, n int) string {
	return strings.Replace(threeKinds, "  - name: "+step+"\n", fmt.Sprintf("  - name: %s\n    parallel: %d\n", step, n), 1)
}

func TestParallel(t *testing.T) {
	const notItem = `step "a": parallel applies only to stream_from and for_each steps`
	for _, tc := range []struct {
		name     string
		yaml     string
		step     string
		want     int    // the step's Parallel after Parse
		wantErr  string // or the error Parse returns
		wantErrs int    // how many problems the error lists
	}{
		{name: "unset on a single-call step", yaml: threeKinds, step: "a", want: 0},
		{name: "unset on a stream_from step", yaml: threeKinds, step: "b", want: DefaultParallel},
		{name: "unset on a for_each step", yaml: threeKinds, step: "c", want: DefaultParallel},
		{name: "1 on a single-call step", yaml: withParallel("a", 1), wantErr: notItem, wantErrs: 1},
		{name: "2 on a single-call step", yaml: withParallel("a", 2), wantErr: notItem, wantErrs: 1},
		{name: "3 on a single-call step", yaml: withParallel("a", 3), wantErr: notItem, wantErrs: 1},
		{name: "1 on a stream_from step", yaml: withParallel("b", 1), step: "b", want: 1},
		{name: "2 on a stream_from step", yaml: withParallel("b", 2), step: "b", want: 2},
		{name: "3 on a stream_from step", yaml: withParallel("b", 3), step: "b", want: 3},
		{name: "1 on a for_each step", yaml: withParallel("c", 1), step: "c", want: 1},
		{name: "2 on a for_each step", yaml: withParallel("c", 2), step: "c", want: 2},
		{name: "3 on a for_each step", yaml: withParallel("c", 3), step: "c", want: 3},
		{name: "the most on a for_each step", yaml: withParallel("c", MaxParallel), step: "c", want: MaxParallel},
		{name: "over the most", yaml: withParallel("c", MaxParallel+1), wantErr: `step "c": parallel 9 must be between 0 and 8`, wantErrs: 1},
		{name: "negative", yaml: withParallel("b", -1), wantErr: `step "b": parallel -1 must be between 0 and 8`, wantErrs: 1},
		{name: "out of range on a single-call step", yaml: withParallel("a", 9), wantErr: notItem, wantErrs: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseBytes([]byte(tc.yaml))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), tc.wantErr) {
					t.Fatalf("Parse error %v; want ErrInvalid containing %q", err, tc.wantErr)
				}
				if n := strings.Count(err.Error(), "parallel"); n != tc.wantErrs {
					t.Errorf("Parse error %q lists %d problems with parallel; want %d", err, n, tc.wantErrs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := p.Step(tc.step).Parallel; got != tc.want {
				t.Errorf("step %s: Parallel = %d; want %d", tc.step, got, tc.want)
			}
		})
	}
}

func TestValidateFillsInNothing(t *testing.T) {
	for _, name := range []string{"script-then-voiceover", "illustrated-story"} {
		t.Run(name, func(t *testing.T) {
			src, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range []string{string(src), threeKinds} {
				var p Pipeline
				if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
					t.Fatal(err)
				}
				before, err := yaml.Marshal(&p)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.validate(); err != nil {
					t.Fatalf("validate: %v", err)
				}
				after, err := yaml.Marshal(&p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(before, after) {
					t.Errorf("validate changed the pipeline:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			}
		})
	}
}

func TestParseFillsInDefaults(t *testing.T) {
	doc := strings.Replace(threeKinds, "name: kinds\n", "name: kinds\ninputs:\n  - name: topic\n", 1)
	doc += "  - name: images\n    mime_type: image/png\n    from: c\n"
	p, err := ParseBytes([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	in := p.Inputs[0]
	c := p.Step("c")
	for _, tc := range []struct {
		field     string
		got, want any
	}{
		{field: "inputs[0].type", got: in.Type, want: TypeString},
		{field: "inputs[0].max_length", got: in.MaxLength, want: DefaultMaxInputLen},
		{field: "steps.c.for_each.split", got: c.ForEach.Split, want: SplitLines},
		{field: "steps.c.for_each.max_items", got: c.ForEach.MaxItems, want: DefaultMaxItems},
		{field: "steps.a.parallel", got: p.Step("a").Parallel, want: 0},
		{field: "steps.c.parallel", got: c.Parallel, want: DefaultParallel},
		{field: "outputs.text.assemble", got: p.Outputs[0].Assemble, want: AssembleText},
		{field: "outputs.images.assemble", got: p.Outputs[1].Assemble, want: AssembleEach},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v; want %v", tc.field, tc.got, tc.want)
		}
	}
}
