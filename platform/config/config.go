// Package config reads a server's settings from flags and CHORUS_*
// environment variables, flags winning.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the environment variable that sets the flag named name:
// "grpc-addr" is CHORUS_GRPC_ADDR.
func EnvName(name string) string {
	return "CHORUS_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// Parse parses args into fs, then sets every flag not given on the command
// line from its CHORUS_* variable, if that is set. Errors name both the
// variable and the flag, so a person can fix whichever they used.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (settings are flags or CHORUS_* variables)", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if setErr := fs.Set(f.Name, v); setErr != nil {
				err = fmt.Errorf("%s=%q (flag -%s): %w", env, v, f.Name, setErr)
			}
		}
	})
	return err
}
