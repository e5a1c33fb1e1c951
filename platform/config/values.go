package config

import "strings"

// Flag values that only parse. Checking the parsed values is the job of
// the configuration's Validate method, which also sees configurations built
// in code; see serve.ModalityConfig.Validate.

// List is a comma-separated flag; blank items are dropped. Use it through
// a pointer conversion: fs.Var((*config.List)(&cfg.Models), ...).
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *List) Set(s string) error {
	*l = nil
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}
