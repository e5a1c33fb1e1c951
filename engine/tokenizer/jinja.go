package tokenizer

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// The file's own chat template, rendered with a Jinja engine (gonja) as
// Hugging Face's apply_chat_template and llama.cpp do: trim_blocks and
// lstrip_blocks on, the messages, add_generation_prompt, bos_token and
// eos_token in scope, raise_exception failing the render. Templates can
// reach nothing outside the one in-memory template (no includes from
// disk). A render that fails falls back to the built-in families.

// errTemplateRaised is a template's raise_exception.
var errTemplateRaised = errors.New("tokenizer: chat template raised an exception")

// errSpans reports a template that transforms message content beyond
// trimming, so that content cannot be located in its output.
var errSpans = errors.New("tokenizer: chat template output does not place message content verbatim")

var jinjaConfig = func() *config.Config {
	c := config.New()
	c.TrimBlocks = true
	c.LeftStripBlocks = true
	return c
}()

var jinjaEnv = &exec.Environment{
	Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
	Filters:           builtins.Filters,
	Tests:             builtins.Tests,
	ControlStructures: builtins.ControlStructures,
	Methods:           builtins.Methods,
}

// jinjaVars are a render's special-token texts; stripBOS drops a leading
// BOS text from the output, for tokenizers that add BOS when encoding.
type jinjaVars struct {
	bos, eos string
	stripBOS bool
}

// renderJinja renders tmpl over msgs whose contents are given separately
// (the real ones, or placeholders).
func renderJinja(tmpl string, msgs []Message, contents []string, addGen bool, vars jinjaVars) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("tokenizer: chat template: %v", r)
		}
	}()
	loader, err := loaders.NewMemoryLoader(map[string]string{"/chat_template": tmpl})
	if err != nil {
		return "", err
	}
	tpl, err := exec.NewTemplate("/chat_template", jinjaConfig, loader, jinjaEnv)
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat template: %w", err)
	}
	ms := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		ms[i] = map[string]any{"role": m.Role, "content": contents[i]}
	}
	ctx := exec.NewContext(map[string]any{
		"messages":              ms,
		"add_generation_prompt": addGen,
		"bos_token":             vars.bos,
		"eos_token":             vars.eos,
		"raise_exception": func(msg string) (string, error) {
			return "", fmt.Errorf("%w: %s", errTemplateRaised, msg)
		},
	})
	out, err = tpl.ExecuteToString(ctx)
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat template: %w", err)
	}
	if vars.stripBOS && vars.bos != "" {
		out = strings.TrimPrefix(out, vars.bos)
	}
	return out, nil
}

// placeholderRE matches the stand-ins for message content: private-use
// characters around the message index, which no trim or strip alters.
var placeholderRE = regexp.MustCompile("\uE000([0-9]+)\uE001")

// jinjaChat renders the template and records where message content lies in
// the result. It renders twice: with the real contents, and with each
// content replaced by a placeholder. The placeholder rendering is the
// template's own text with the contents' positions marked; putting each
// content back (as is, or trimmed as the template may have done) must
// give the real rendering byte for byte, or the template did something
// else with the content (a branch on it, a case change) and the render is
// refused. So the spans come from where the template put the content,
// never from searching the output for it, and a control token a user
// typed stays inside a span.
func jinjaChat(tmpl string, msgs []Message, addGen bool, vars jinjaVars) (*chatText, error) {
	real := make([]string, len(msgs))
	ph := make([]string, len(msgs))
	for i, m := range msgs {
		real[i] = m.Content
		ph[i] = "\uE000" + strconv.Itoa(i) + "\uE001"
	}
	r, err := renderJinja(tmpl, msgs, real, addGen, vars)
	if err != nil {
		return nil, err
	}
	p, err := renderJinja(tmpl, msgs, ph, addGen, vars)
	if err != nil {
		return nil, err
	}
	locs := placeholderRE.FindAllStringSubmatchIndex(p, -1)
	c := &chatText{}
	pos, last := 0, 0
	for k, loc := range locs {
		lit := p[last:loc[0]]
		if !strings.HasPrefix(r[pos:], lit) {
			return nil, errSpans
		}
		c.WriteString(lit)
		pos += len(lit)
		i, _ := strconv.Atoi(p[loc[2]:loc[3]])
		if i >= len(msgs) {
			return nil, errSpans
		}
		next := p[loc[1]:]
		if k+1 < len(locs) {
			next = p[loc[1]:locs[k+1][0]]
		}
		v, ok := placeContent(r[pos:], msgs[i].Content, next)
		if !ok {
			return nil, errSpans
		}
		c.content(v)
		pos += len(v)
		last = loc[1]
	}
	if r[pos:] != p[last:] {
		return nil, errSpans
	}
	c.WriteString(p[last:])
	return c, nil
}

// placeContent picks the form of content (as is, or trimmed the ways
// templates trim) that r starts with, followed by the template text next.
func placeContent(r, content, next string) (string, bool) {
	for _, v := range []string{content, trimASCII(content), strings.TrimSpace(content),
		strings.TrimLeft(content, " \t\n\v\f\r"), strings.TrimRight(content, " \t\n\v\f\r")} {
		if strings.HasPrefix(r, v) && strings.HasPrefix(r[len(v):], next) {
			return v, true
		}
	}
	return "", false
}
