package pipeline

import (
	"errors"
	"strings"
	"testing"
)

func TestTransformSteps(t *testing.T) {
	const head = "name: t\ninputs:\n  - name: doc\n    required: true\nsteps:\n"
	const tail = "outputs:\n  - name: out\n    mime_type: text/plain\n    from: s\n"
	for _, tc := range []struct {
		name    string
		steps   string
		wantErr string // "" when valid
	}{
		{name: "reads an input", steps: "  - name: s\n    transform: split_sentences\n    text: \"{{.doc}}\"\n"},
		{name: "reads a step", steps: "  - name: a\n    modality: text\n    prompt: x\n  - name: s\n    transform: take 2\n    needs: [a]\n"},
		{name: "templated count", steps: "  - name: s\n    transform: \"split_scenes {{.doc}}\"\n    text: x\n"},
		{name: "feeds for_each", steps: "  - name: s\n    transform: split_sentences\n    text: x\n  - name: v\n    modality: audio\n    for_each: {from: s}\n    prompt: \"{{.item}}\"\n"},
		{name: "completion transform", steps: "  - name: s\n    modality: text\n    prompt: x\n    completion_transform: extract 3\n    text: \"{{.doc}}\"\n"},
		{name: "unknown transform", steps: "  - name: s\n    transform: shuffle\n    text: x\n", wantErr: `step "s": transform: invalid transform: "shuffle" is none of`},
		{name: "bad count", steps: "  - name: s\n    transform: take zero\n    text: x\n", wantErr: `step "s": transform: invalid transform: take: the count "zero"`},
		{name: "with a modality", steps: "  - name: s\n    transform: join\n    modality: text\n    text: x\n", wantErr: `step "s": a transform step has no modality`},
		{name: "with a prompt", steps: "  - name: s\n    transform: join\n    prompt: x\n    text: x\n", wantErr: `step "s": a transform step has no prompt or model`},
		{name: "nothing to read", steps: "  - name: s\n    transform: join\n", wantErr: `step "s": a transform step needs text or steps in needs`},
		{name: "with options", steps: "  - name: s\n    transform: join\n    text: x\n    options: {max_tokens: \"3\"}\n", wantErr: `step "s": a transform step takes no options`},
		{name: "text on a model step", steps: "  - name: s\n    modality: text\n    prompt: x\n    text: y\n", wantErr: `step "s": text is only for transform steps`},
		{name: "completion transform on audio", steps: "  - name: s\n    modality: audio\n    prompt: x\n    completion_transform: join\n", wantErr: `step "s": completion_transform is only for text steps`},
		{name: "reads an unknown input", steps: "  - name: s\n    transform: join\n    text: \"{{.nope}}\"\n", wantErr: `step "s": text: .nope names no input`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseBytes([]byte(head + tc.steps + tail))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s := p.Step("s"); s.Transform != "" && !s.MakesText() {
					t.Errorf("a transform step should make text")
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestMediaAssemblies(t *testing.T) {
	const steps = `name: m
inputs:
  - name: schema
steps:
  - name: t
    modality: text
    prompt: x
  - name: i
    modality: image
    for_each: {from: t}
    prompt: "{{.item}}"
  - name: a
    modality: audio
    for_each: {from: t}
    prompt: "{{.item}}"
  - name: m
    modality: audio
    model: music
    when: "{{.schema}}"
    prompt: calm
  - name: r
    modality: text
    for_each: {from: t}
    prompt: "{{.item}}"
    options: {json_schema: "{{.schema}}"}
outputs:
`
	for _, tc := range []struct {
		name, output, wantErr string
	}{
		{name: "mp4", output: "from: a\n    images: i\n    assemble: mp4"},
		{name: "html", output: "from: t\n    images: i\n    assemble: html"},
		{name: "mp4 from text", output: "from: t\n    images: i\n    assemble: mp4", wantErr: "assemble mp4 needs an audio item step"},
		{name: "mp4 without images", output: "from: a\n    assemble: mp4", wantErr: "assemble mp4 needs images"},
		{name: "html from audio", output: "from: a\n    images: i\n    assemble: html", wantErr: "assemble html needs a text or transform step"},
		{name: "html with audio as images", output: "from: t\n    images: a\n    assemble: html", wantErr: "assemble html needs images, naming an image step"},
		{name: "images on wav", output: "from: a\n    images: i\n    assemble: wav", wantErr: "images applies only to assemble mp4 and html"},
		{name: "music under wav", output: "from: a\n    assemble: wav\n    music: m"},
		{name: "music under mp4", output: "from: a\n    images: i\n    assemble: mp4\n    music: m"},
		{name: "music under text", output: "from: t\n    assemble: text\n    music: m", wantErr: "music applies only to assemble wav and mp4"},
		{name: "music from an item step", output: "from: a\n    assemble: wav\n    music: a", wantErr: "music must name an audio step that is not an item step"},
		{name: "music from text", output: "from: a\n    assemble: wav\n    music: t", wantErr: "music must name an audio step"},
		{name: "jsonl", output: "from: r\n    assemble: jsonl\n    schema: schema"},
		{name: "jsonl_report", output: "from: r\n    assemble: jsonl_report\n    schema: schema"},
		{name: "jsonl from a whole text step", output: "from: t\n    assemble: jsonl\n    schema: schema", wantErr: "assemble jsonl needs a text item step"},
		{name: "jsonl without schema", output: "from: r\n    assemble: jsonl", wantErr: "needs schema, naming the input"},
		{name: "jsonl naming no input", output: "from: r\n    assemble: jsonl\n    schema: topic", wantErr: "needs schema, naming the input"},
		{name: "schema on text", output: "from: t\n    schema: schema", wantErr: "schema applies only to assemble jsonl"},
		{name: "jsonl perturbed", output: "from: r\n    assemble: jsonl\n    schema: schema\n    perturb: 0.1"},
		{name: "perturb over 1", output: "from: r\n    assemble: jsonl\n    schema: schema\n    perturb: 2", wantErr: "perturb 2 must be between 0 and 1"},
		{name: "perturb on wav", output: "from: a\n    assemble: wav\n    perturb: 0.1", wantErr: "perturb applies only to assemble jsonl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBytes([]byte(steps + "  - name: o\n    mime_type: x/y\n    " + tc.output + "\n"))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
