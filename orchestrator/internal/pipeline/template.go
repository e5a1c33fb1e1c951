package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// funcs are the functions prompt templates may call.
var funcs = template.FuncMap{
	"trim":  strings.TrimSpace,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"add":   add,
	// speech_seconds estimates how long a text takes to speak (at 150
	// words a minute), in whole seconds from 5 to 30: the length to ask of
	// music meant to play under it (wav.Underlay repeats a shorter piece).
	"speech_seconds": func(text string) int {
		return min(max(5, int(float64(len(strings.Fields(text)))/2.5+0.5)+1), 30)
	},
}

// add sums integers given as numbers or as the strings inputs are
// ("{{add .seed .index}}": one seed per item).
func add(vals ...any) (int64, error) {
	var sum int64
	for _, v := range vals {
		n, err := strconv.ParseInt(strings.TrimSpace(fmt.Sprint(v)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("add: %q is not an integer", fmt.Sprint(v))
		}
		sum += n
	}
	return sum, nil
}

// Data is what a step's templates read: the run's inputs by name, the text
// of completed steps under "steps", and "item" and "index" in item steps.
type Data map[string]any

// NewData returns template data over the resolved inputs and the text of
// completed steps.
func NewData(inputs map[string]string, steps map[string]string) Data {
	d := Data{"steps": steps}
	for k, v := range inputs {
		d[k] = v
	}
	return d
}

// WithItem returns a copy of d with the item of an item step.
func (d Data) WithItem(index int, item string) Data {
	out := make(Data, len(d)+2)
	for k, v := range d {
		out[k] = v
	}
	out["item"], out["index"] = item, index
	return out
}

// Render executes the step's template called name ("prompt", "model",
// "options.max_tokens", ...) over d. A template the step does not define
// renders as "".
func (s *Step) Render(name string, d Data) (string, error) {
	if s.tmpl == nil {
		return "", fmt.Errorf("step %q was not validated", s.Name)
	}
	t := s.tmpl.Lookup(name)
	if t == nil {
		return "", nil
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("step %q: %s: %w", s.Name, name, err)
	}
	return b.String(), nil
}

// refs returns the field chains a template reads from its data: ".topic"
// gives [topic], ".steps.script" gives [steps script], "$.topic" too.
func refs(n parse.Node) [][]string {
	var out [][]string
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case nil:
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			out = append(out, n.Ident)
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				out = append(out, n.Ident[1:])
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	walk(n)
	return out
}
