// Package command implements the chorus subcommands: up, run, demo,
// generate, jobs, collections, pipelines, models, health and completion.
package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/cli/internal/client"
	"github.com/chorus-ai/chorus/platform/ports"
)

// Exit statuses. Scripts tell the kinds of failure apart by them.
const (
	// ExitOK: done.
	ExitOK = 0
	// ExitError: a run or job failed, or anything not listed below.
	ExitError = 1
	// ExitUsage: bad input: unknown command or flag, missing argument, or
	// a request the gateway refused as invalid (HTTP 400).
	ExitUsage = 2
	// ExitNotFound: no such pipeline, model or job (HTTP 404).
	ExitNotFound = 3
	// ExitUnavailable: nothing answers at the gateway's address, or it or
	// a service behind it is unavailable or overloaded (HTTP 503, 429).
	ExitUnavailable = 4
)

// exitCodes is the help's account of the exit statuses.
const exitCodes = `exit status: 0 done, 1 failed (a run or job failed, or another error),
2 bad input (usage, or a request the gateway refused as invalid),
3 not found (pipeline, model or job), 4 unavailable (gateway unreachable,
a service unavailable or overloaded)`

// errUsage marks an error caused by how the command was called; the
// message was already printed with the usage.
var errUsage = errors.New("usage")

// Env is where a command reads and writes: standard streams, and the
// environment (os.Environ() in the real command).
type Env struct {
	Stdout, Stderr io.Writer
	Environ        []string

	// collect, when set, receives the flag set of the command instead of
	// it running: completion scripts are built from the flags this way.
	collect func(*flag.FlagSet)
	// terminal makes tests see stdout as a terminal.
	terminal bool
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
	// verbs are the second words of a command such as `jobs list`.
	verbs []subcommand
	// args are the words a positional argument can be, for completion.
	args []string
}

// subcommands is the command tree; init fills it in, since completion
// reads it.
var subcommands []subcommand

func init() {
	subcommands = []subcommand{
		{name: "up", summary: "start the whole suite on 127.0.0.1 until Ctrl-C", run: Up},
		{name: "run", summary: "run a pipeline through the gateway and save its outputs", run: Run},
		{name: "demo", summary: "start the suite, run a pipeline, save its outputs, stop", run: Demo},
		{name: "generate", summary: "generate text (streamed), an image or speech from a prompt", run: Generate, verbs: generateVerbs},
		{name: "jobs", summary: "start, list, inspect, watch and cancel background runs", run: Jobs, verbs: jobVerbs},
		{name: "collections", summary: "create, fill, list, search and delete document collections", run: Collections, verbs: collectionVerbs},
		{name: "pipelines", summary: "list the pipelines the gateway can run", run: Pipelines},
		{name: "models", summary: "list the services' models; add, list and rm GGUF files", run: Models, verbs: modelVerbs, args: []string{"text", "image", "audio"}},
		{name: "health", summary: "check one server's health (for container health checks)", run: Health},
		{name: "completion", summary: "print a shell completion script (bash, zsh or fish)", run: Completion, args: shells},
	}
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
		code := exitCode(err)
		if code != ExitOK && !errors.Is(err, errUsage) {
			fmt.Fprintf(env.Stderr, "chorus %s: %v\n", sc.name, err)
		}
		return code
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
	fmt.Fprintln(w, "Run `chorus <command> -h` for a command's flags. Flags take one dash or two")
	fmt.Fprintln(w, "(-gateway or --gateway); --json prints results as JSON for scripts.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, exitCodes)
}

// badInput marks an error as bad input (exit status 2) whose message is
// to be printed, unlike errUsage whose message was.
type badInput struct{ err error }

func (e badInput) Error() string { return e.err.Error() }
func (e badInput) Unwrap() error { return e.err }

// exitCode maps a command's error to its exit status.
func exitCode(err error) int {
	var (
		apiErr *client.APIError
		opErr  *net.OpError
		bad    badInput
		nf     notFound
		unav   unavailable
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errUsage), errors.As(err, &bad):
		return ExitUsage
	case errors.As(err, &nf):
		return ExitNotFound
	case errors.As(err, &unav):
		return ExitUnavailable
	case errors.As(err, &apiErr):
		switch {
		case apiErr.Code == int(codes.NotFound) || apiErr.HTTPStatus == http.StatusNotFound:
			return ExitNotFound
		case apiErr.Code == int(codes.InvalidArgument) || apiErr.Code == int(codes.FailedPrecondition) ||
			apiErr.HTTPStatus == http.StatusBadRequest || apiErr.HTTPStatus == http.StatusRequestEntityTooLarge:
			return ExitUsage
		case apiErr.Code == int(codes.Unavailable) || apiErr.Code == int(codes.ResourceExhausted) ||
			apiErr.HTTPStatus == http.StatusServiceUnavailable || apiErr.HTTPStatus == http.StatusTooManyRequests:
			return ExitUnavailable
		}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return ExitUnavailable
	}
	return ExitError
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

// parseArgs parses flags that may come before or after positional arguments
// ("chorus run NAME -input k=v" as well as "chorus run -input k=v NAME"),
// which the flag package alone stops at.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
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

// parse parses flags and positional arguments like parseArgs, or, when
// env collects flag sets, hands fs over and returns flag.ErrHelp so that
// the command returns without running.
func parse(env Env, fs *flag.FlagSet, args []string) ([]string, error) {
	if env.collect != nil {
		env.collect(fs)
		return nil, flag.ErrHelp
	}
	return parseArgs(fs, args)
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

// jsonFlag adds --json.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print the results as JSON, for scripts")
}

// newClient returns a client of the gateway, sending $CHORUS_API_KEY as
// its bearer token when set, and a function that closes its connections.
func newClient(env Env, gateway string) (*client.Client, func(), error) {
	hc := newHTTPClient()
	c, err := client.New(gateway, hc)
	if err != nil {
		return nil, nil, badInput{err}
	}
	c.SetAPIKey(env.Getenv("CHORUS_API_KEY"))
	return c, hc.CloseIdleConnections, nil
}

// writeJSON writes v as one line of JSON: a proto message in proto3 JSON,
// anything else with encoding/json.
func writeJSON(w io.Writer, v any) error {
	var b []byte
	var err error
	if m, ok := v.(proto.Message); ok {
		// protojson varies its spacing on purpose; compact it so that
		// the output is the same from one build to the next.
		if b, err = protojson.Marshal(m); err == nil {
			var c bytes.Buffer
			err = json.Compact(&c, b)
			b = c.Bytes()
		}
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// newHTTPClient returns a client with its own connection pool, closed when
// the command returns; no timeout, since a pipeline streams for as long as
// it runs (Ctrl-C cancels it).
func newHTTPClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
}
