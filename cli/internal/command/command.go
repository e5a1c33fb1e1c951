// Package command implements the chorus subcommands: up, run, pipelines
// and models.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/chorus-ai/chorus/platform/ports"
)

// Exit statuses.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// errUsage marks an error caused by how the command was called; the
// message was already printed with the usage.
var errUsage = errors.New("usage")

// Env is where a command reads and writes: standard streams, and the
// environment (os.Environ() in the real command).
type Env struct {
	Stdout, Stderr io.Writer
	Environ        []string
}

// Getenv looks a variable up in e.Environ.
func (e Env) Getenv(name string) string {
	for _, kv := range e.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

type subcommand struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) error
}

var subcommands = []subcommand{
	{"up", "start the whole suite on 127.0.0.1 until Ctrl-C", Up},
	{"run", "run a pipeline through the gateway and save its outputs", Run},
	{"demo", "start the suite, run a pipeline, save its outputs, stop", Demo},
	{"pipelines", "list the pipelines the gateway can run", Pipelines},
	{"models", "list the models of the text, image and audio services", Models},
	{"health", "check one server's health (for container health checks)", Health},
}

// Main runs the subcommand named by args[0] and returns the exit status.
// ctx ends on SIGINT or SIGTERM.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, sc := range subcommands {
		if sc.name != args[0] {
			continue
		}
		err := sc.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		case errors.Is(err, errUsage):
			return ExitUsage
		default:
			fmt.Fprintf(env.Stderr, "chorus %s: %v\n", sc.name, err)
			return ExitError
		}
	}
	fmt.Fprintf(env.Stderr, "chorus: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: chorus <command> [flags]")
	fmt.Fprintln(w)
	for _, sc := range subcommands {
		fmt.Fprintf(w, "  %-10s %s\n", sc.name, sc.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `chorus <command> -h` for a command's flags.")
}

// newFlags returns a flag set that reports errors through Main.
func newFlags(env Env, name, args, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("chorus "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: chorus %s %s\n\n%s\n\nflags:\n", name, args, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags that may come before or after positional arguments
// ("chorus run NAME -input k=v" as well as "chorus run -input k=v NAME"),
// which the flag package alone stops at.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// usageError prints msg and the usage of fs, and returns errUsage.
func usageError(env Env, fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(env.Stderr, "%s: %s\n", fs.Name(), fmt.Sprintf(format, a...))
	fs.Usage()
	return errUsage
}

// gatewayFlag adds -gateway, defaulting to $CHORUS_GATEWAY or the local
// default.
func gatewayFlag(env Env, fs *flag.FlagSet) *string {
	def := env.Getenv("CHORUS_GATEWAY")
	if def == "" {
		def = "http://" + ports.GatewayAddr
	}
	return fs.String("gateway", def, "the gateway's base URL (env CHORUS_GATEWAY)")
}

// newHTTPClient returns a client with its own connection pool, closed when
// the command returns; no timeout, since a pipeline streams for as long as
// it runs (Ctrl-C cancels it).
func newHTTPClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
}
