package command

import (
	"context"
	"errors"
	"fmt"
)

// Demo starts the suite, runs one pipeline through the gateway, writes
// its outputs, and stops the suite: `make demo` in one command.
func Demo(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "demo", "[-pipeline NAME] [-input name=value ...] [flags]",
		"Starts the suite like `chorus up`, runs a pipeline like `chorus run`, writes its\n"+
			"outputs to -out and stops the suite. Exits 0 only when the run succeeded and every\n"+
			"server stopped cleanly.\n"+suiteAbout)
	sf := addSuiteFlags(fs)
	pipeline := fs.String("pipeline", "script-then-voiceover", "the pipeline to run")
	inputs := inputsFlag{}
	fs.Var(inputs, "input", "a pipeline input as `name=value`; repeat for several (default topic=\"the sea\" for script-then-voiceover)")
	out := fs.String("out", "out", "directory to write the outputs to (created if missing)")
	quiet := fs.Bool("q", false, "print only the summary")
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(env, fs, "unexpected arguments %q", pos)
	}
	if len(inputs) == 0 && *pipeline == "script-then-voiceover" {
		inputs["topic"] = "the sea"
	}
	g, addrs, err := sf.start(ctx, env, fs, "demo")
	if err != nil {
		return err
	}
	runErr := runPipeline(ctx, env, addrs.GatewayURL(), *pipeline, inputs, runOptions{out: *out, quiet: *quiet})
	select {
	case <-g.Done():
		// A server died during the run: that is the story to tell.
		if err := g.Wait(); err != nil {
			return errors.Join(err, runErr)
		}
	default:
	}
	stopErr := stopAndWait(env, "demo", g)
	if runErr != nil {
		return runErr
	}
	if stopErr != nil {
		return fmt.Errorf("the run succeeded, but the suite did not stop cleanly: %w", stopErr)
	}
	return nil
}
