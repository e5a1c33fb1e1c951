// Package subcmd runs the engine's command-line tools, each a set of
// subcommands (`train tokenizer|fit|export|eval|sample`): one dispatcher, one
// usage line, one exit-code convention (2 for a wrong command line, 1 for a
// failed command).
package subcmd

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Command is one subcommand: its name and what runs it with the arguments
// that follow the name.
type Command struct {
	Name string
	Run  func(args []string) error
}

// Main runs the subcommand named by os.Args[1] and exits.
func Main(prog string, cmds ...Command) {
	os.Exit(Run(prog, os.Args[1:], os.Stderr, cmds...))
}

// Run runs the subcommand args[0] names with the rest of args and returns
// the process's exit code, writing usage and errors to stderr.
func Run(prog string, args []string, stderr io.Writer, cmds ...Command) int {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	if len(args) < 1 {
		fmt.Fprintf(stderr, "usage: %s %s [flags]\n", prog, strings.Join(names, "|"))
		return 2
	}
	for _, c := range cmds {
		if c.Name == args[0] {
			if err := c.Run(args[1:]); err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", prog, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q (want %s)\n", prog, args[0], strings.Join(names, ", "))
	return 2
}
