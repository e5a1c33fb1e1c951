package pipeline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// ResolveInputs checks the inputs a run gives against the pipeline's
// declarations and returns every input's value, defaults applied. Its
// error is an INVALID_ARGUMENT *rpcerr.Error with one field violation per
// bad input ("inputs.topic").
func (p *Pipeline) ResolveInputs(given map[string]string) (map[string]string, error) {
	var v []rpcerr.FieldViolation
	add := func(name, format string, args ...any) {
		v = append(v, rpcerr.FieldViolation{Field: "inputs." + name, Description: fmt.Sprintf(format, args...)})
	}
	declared := map[string]bool{}
	out := make(map[string]string, len(p.Inputs))
	for i := range p.Inputs {
		in := &p.Inputs[i]
		declared[in.Name] = true
		val, ok := given[in.Name]
		if !ok || strings.TrimSpace(val) == "" {
			if in.Required {
				add(in.Name, "is required")
				continue
			}
			val = in.Default
		}
		if msg := in.check(val); msg != "" {
			add(in.Name, "%s", msg)
			continue
		}
		if in.Type == TypeInteger && val != "" {
			val = strings.TrimSpace(val)
		}
		out[in.Name] = val
	}
	var unknown []string
	for name := range given {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		add(rpcerr.Clip(name, 32), "is not an input of pipeline %q", p.Name)
	}
	if len(v) > 0 {
		return nil, rpcerr.Invalid(v...)
	}
	return out, nil
}

// check returns what is wrong with val, or "".
func (in *Input) check(val string) string {
	switch {
	case !utf8.ValidString(val):
		return "must be valid UTF-8"
	case len(val) > in.MaxLength:
		return fmt.Sprintf("must be at most %d bytes, got %d", in.MaxLength, len(val))
	}
	if in.Type != TypeInteger || val == "" {
		return ""
	}
	n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
	switch {
	case err != nil:
		return fmt.Sprintf("must be an integer, got %q", rpcerr.Clip(val, 32))
	case in.Min != nil && n < *in.Min:
		return fmt.Sprintf("must be at least %d, got %d", *in.Min, n)
	case in.Max != nil && n > *in.Max:
		return fmt.Sprintf("must be at most %d, got %d", *in.Max, n)
	}
	return ""
}
