// Command chorus runs the Chorus suite locally and talks to its gateway:
// `chorus up` starts every service, `chorus run PIPELINE` runs a pipeline.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chorus-ai/chorus/cli/internal/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command.Main(ctx, command.Env{Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()}, os.Args[1:])
	stop()
	os.Exit(code)
}
