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
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := config.Parse(fs, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
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
