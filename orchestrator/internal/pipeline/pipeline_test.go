package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestBuiltinsLoad(t *testing.T) {
	r, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(r.Names()), len(entries); got != want {
		t.Fatalf("loaded %d pipelines %v from %d files", got, r.Names(), want)
	}
	for _, name := range []string{"script-then-voiceover", "illustrated-story"} {
		p := r.Get(name)
		if p == nil {
			t.Fatalf("no built-in %q", name)
		}
		pb := p.Proto()
		if pb.GetName() != name || len(pb.GetSteps()) == 0 || len(pb.GetOutputs()) == 0 {
			t.Errorf("%s: Proto() = %v", name, pb)
		}
	}
	sv := r.Get("script-then-voiceover")
	var sawMaxTokens bool
	for _, in := range sv.Proto().GetInputs() {
		if in.GetName() == "max_tokens" {
			sawMaxTokens = true
			if !strings.Contains(in.GetDescription(), "An integer from 16 to 1024.") {
				t.Errorf("max_tokens description %q does not give its range", in.GetDescription())
			}
		}
	}
	if !sawMaxTokens {
		t.Error("script-then-voiceover has no max_tokens input")
	}
	if !sv.Proto().GetSteps()[1].GetStreamsInput() {
		t.Error("voiceover step does not report streams_input")
	}
	in, err := sv.ResolveInputs(map[string]string{"topic": "the sea"})
	if err != nil {
		t.Fatalf("ResolveInputs: %v", err)
	}
	prompt, err := sv.Step("script").Render("prompt", NewData(in, nil))
	if err != nil || !strings.Contains(prompt, "about: the sea") {
		t.Errorf("script prompt = %q, %v", prompt, err)
	}
	mt, err := sv.Step("script").Render("options.max_tokens", NewData(in, nil))
	if err != nil || mt != "200" {
		t.Errorf("max_tokens = %q, %v; want the default 200", mt, err)
	}
	item, err := sv.Step("voiceover").Render("prompt", NewData(in, nil).WithItem(0, "Hello there."))
	if err != nil || item != "Hello there." {
		t.Errorf("voiceover prompt = %q, %v", item, err)
	}
}

const valid = `
name: demo
inputs:
  - name: topic
    required: true
steps:
  - name: a
    modality: text
    prompt: "about {{.topic}}"
  - name: b
    modality: audio
    stream_from: a
    prompt: "{{.item}}"
outputs:
  - name: text
    mime_type: text/plain
    from: a
`

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{name: "valid", edit: func(s string) string { return s }},
		{name: "unknown key", edit: func(s string) string { return s + "colour: red\n" }, wantErr: "colour"},
		{name: "bad name", edit: func(s string) string { return strings.Replace(s, "name: demo", "name: Demo_1", 1) }, wantErr: "lower-case"},
		{name: "duplicate step", edit: func(s string) string { return strings.Replace(s, "name: b", "name: a", 1) }, wantErr: `step "a": declared twice`},
		{name: "unknown modality", edit: func(s string) string { return strings.Replace(s, "modality: audio", "modality: video", 1) }, wantErr: `modality "video"`},
		{name: "unknown need", edit: func(s string) string {
			return strings.Replace(s, "stream_from: a", "needs: [zz]", 1)
		}, wantErr: `needs "zz"`},
		{name: "cycle", edit: func(s string) string {
			s = strings.Replace(s, "    modality: text\n", "    modality: text\n    needs: [b]\n", 1)
			return strings.Replace(s, "stream_from: a", "needs: [a]\n    for_each: {from: a}", 1)
		}, wantErr: "cycle"},
		{name: "bad template", edit: func(s string) string { return strings.Replace(s, "{{.topic}}", "{{.topic", 1) }, wantErr: "prompt"},
		{name: "unknown input in template", edit: func(s string) string { return strings.Replace(s, "{{.topic}}", "{{.subject}}", 1) }, wantErr: ".subject names no input"},
		{name: "step not in needs", edit: func(s string) string { return strings.Replace(s, `"{{.item}}"`, `"{{.steps.a}}"`, 1) }, wantErr: "not in needs"},
		{name: "item outside item step", edit: func(s string) string { return strings.Replace(s, "{{.topic}}", "{{.item}}", 1) }, wantErr: ".item exists only"},
		{name: "stream from audio", edit: func(s string) string {
			return strings.Replace(s, "outputs:", "  - name: c\n    modality: audio\n    stream_from: b\n    prompt: x\noutputs:", 1)
		}, wantErr: "only a text step"},
		{name: "output from unknown step", edit: func(s string) string { return strings.Replace(s, "    from: a\n", "    from: nope\n", 1) }, wantErr: "from names no step"},
		{name: "wav from text", edit: func(s string) string { return s + "    assemble: wav\n" }, wantErr: "needs an audio step"},
		{name: "option of another modality", edit: func(s string) string {
			return strings.Replace(s, `prompt: "{{.item}}"`, "prompt: x\n    options: {max_tokens: 5}", 1)
		}, wantErr: "max_tokens does not apply"},
		{name: "completion prompt on audio", edit: func(s string) string {
			return strings.Replace(s, `    prompt: "{{.item}}"`, "    prompt: \"{{.item}}\"\n    completion_prompt: \"{{.item}}\"", 1)
		}, wantErr: "completion_prompt is only for text steps"},
		{name: "bad completion template", edit: func(s string) string {
			return strings.Replace(s, `    prompt: "about {{.topic}}"`, "    prompt: \"about {{.topic}}\"\n    completion_prompt: \"{{.subject}}\"", 1)
		}, wantErr: "completion_prompt"},
		{name: "completion options without a completion prompt", edit: func(s string) string {
			return strings.Replace(s, `    prompt: "about {{.topic}}"`, "    prompt: \"about {{.topic}}\"\n    completion_options:\n      temperature: \"1\"", 1)
		}, wantErr: "completion_options need a completion_prompt"},
		{name: "audio completion option", edit: func(s string) string {
			return strings.Replace(s, `    prompt: "about {{.topic}}"`, "    prompt: \"about {{.topic}}\"\n    completion_prompt: \"x\"\n    completion_options:\n      voice: \"x\"", 1)
		}, wantErr: "completion_options.voice does not apply"},
		{name: "reserved input", edit: func(s string) string { return strings.Replace(s, "name: topic", "name: steps", 1) }, wantErr: "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBytes([]byte(tc.edit(valid)))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.wantErr == "":
			case err == nil:
				t.Fatalf("Parse succeeded; want an error containing %q", tc.wantErr)
			case !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Parse error %q; want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestResolveInputs(t *testing.T) {
	r, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	p := r.Get("script-then-voiceover")
	for _, tc := range []struct {
		name       string
		given      map[string]string
		wantFields []string
	}{
		{name: "ok", given: map[string]string{"topic": "owls", "max_tokens": "64"}},
		{name: "missing topic", given: map[string]string{}, wantFields: []string{"inputs.topic"}},
		{name: "blank topic", given: map[string]string{"topic": "  "}, wantFields: []string{"inputs.topic"}},
		{name: "topic too long", given: map[string]string{"topic": strings.Repeat("x", 501)}, wantFields: []string{"inputs.topic"}},
		{name: "unknown input", given: map[string]string{"topic": "owls", "colour": "red"}, wantFields: []string{"inputs.colour"}},
		{name: "max_tokens not a number", given: map[string]string{"topic": "owls", "max_tokens": "lots"}, wantFields: []string{"inputs.max_tokens"}},
		{name: "max_tokens too big", given: map[string]string{"topic": "owls", "max_tokens": "100000"}, wantFields: []string{"inputs.max_tokens"}},
		{name: "several", given: map[string]string{"max_tokens": "-1", "zz": ""}, wantFields: []string{"inputs.max_tokens", "inputs.topic", "inputs.zz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.ResolveInputs(tc.given)
			if tc.wantFields == nil {
				if err != nil {
					t.Fatalf("ResolveInputs: %v", err)
				}
				if got["voice"] != "" || got["topic"] != tc.given["topic"] {
					t.Errorf("resolved %v", got)
				}
				return
			}
			st := rpcerr.Status(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code %v, want InvalidArgument (%v)", st.Code(), err)
			}
			_, v := rpcerr.Details(st)
			var fields []string
			for _, f := range v {
				fields = append(fields, f.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.wantFields, ",") {
				t.Errorf("violations %v, want fields %v", v, tc.wantFields)
			}
		})
	}
}

func TestLoadDirReplacesBuiltin(t *testing.T) {
	dir := t.TempDir()
	custom := strings.Replace(valid, "name: demo", "name: script-then-voiceover", 1)
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LoadDir(dir); err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if p := r.Get("script-then-voiceover"); p.Step("b") == nil {
		t.Error("the directory's pipeline did not replace the built-in")
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yml"), []byte("name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.LoadDir(dir); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "broken.yml") {
		t.Errorf("LoadDir with a broken file: %v", err)
	}
}
