// Command bench is the suite's benchmark harness (`make bench`): it starts
// the services it needs, measures each candidate against a baseline in the
// same run, prints a table and writes BENCHMARKS.md. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/chorus-ai/chorus/bench/internal/harness"
)

func main() {
	cfg := harness.Config{Rounds: 7, Scale: 1, Real: true}
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "how many interleaved rounds each comparison runs")
	flag.Float64Var(&cfg.Scale, "scale", cfg.Scale, "multiplies the calls each round makes")
	flag.BoolVar(&cfg.Real, "real", cfg.Real, "also measure with the real text and audio services (chorus-mini, flite, espeak)")
	out := flag.String("o", "BENCHMARKS.md", "the Markdown report to write; empty writes none")
	flag.Parse()
	if cfg.Rounds < 1 || cfg.Scale <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1 and -scale above 0")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := harness.Run(ctx, cfg, log)
	if err != nil {
		log.Error("bench failed", "err", err)
		os.Exit(1)
	}
	rep.WriteTable(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err == nil {
			rep.WriteMarkdown(f)
			err = f.Close()
		}
		if err != nil {
			log.Error("writing the report", "err", err)
			os.Exit(1)
		}
		log.Info("wrote " + *out)
	}
}
