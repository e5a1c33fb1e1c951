// Package app runs a Chorus server's main function: logging, tracing,
// signal handling and one exit with an actionable message.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chorus-ai/chorus/platform/config"
	"github.com/chorus-ai/chorus/platform/telemetry"
)

// Main parses fs from the command line and CHORUS_* variables (plus the
// shared -log-level flag), sets up logs and tracing for service, and calls
// run with a context that ends on SIGINT or SIGTERM. It exits the process:
// 0 after a clean run, 2 for bad configuration, 1 for a failure.
func Main(service string, fs *flag.FlagSet, run func(ctx context.Context, log *slog.Logger) error) {
	mainWith(service, fs, nil, run)
}

// Config is a server package's configuration as Serve uses it: a pointer
// to C that registers C's flags, and C's validation.
type Config[C any] interface {
	*C
	// RegisterFlags registers the flags that set C, with C's values as
	// their defaults.
	RegisterFlags(fs *flag.FlagSet)
	// Validate reports a configuration the server cannot start with.
	Validate() error
}

// Runner is a server built from its configuration.
type Runner interface {
	// Run serves until ctx ends.
	Run(ctx context.Context) error
}

// Serve is Main for a server package: it registers cfg's flags, parses
// them, validates cfg (a bad one exits 2, as a bad flag does), then runs
// the server that newServer builds from cfg. A server's main is one call:
//
//	app.Serve("text", server.DefaultConfig(), server.New)
func Serve[C any, P Config[C], R Runner](service string, cfg C, newServer func(context.Context, C, *slog.Logger) (R, error)) {
	fs := flag.NewFlagSet(service, flag.ContinueOnError)
	P(&cfg).RegisterFlags(fs)
	mainWith(service, fs, P(&cfg).Validate, func(ctx context.Context, log *slog.Logger) error {
		s, err := newServer(ctx, cfg, log)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}

func mainWith(service string, fs *flag.FlagSet, validate func() error, run func(ctx context.Context, log *slog.Logger) error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	err := config.Parse(fs, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err == nil && validate != nil {
		err = validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(2)
	}
	log, err := telemetry.NewLogger(os.Stderr, service, *level)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(2)
	}
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdownTracing, err := telemetry.Setup(ctx, "chorus-"+service)
	if err != nil {
		log.Error("tracing setup failed", "error", err.Error())
		os.Exit(2)
	}
	runErr := run(ctx, log)
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdownTracing(flushCtx); err != nil {
		log.Warn("flushing traces failed", "error", err.Error())
	}
	if runErr != nil {
		log.Error("exiting", "error", runErr.Error())
		cancel()
		stop()
		os.Exit(1)
	}
	log.Info("stopped")
}
