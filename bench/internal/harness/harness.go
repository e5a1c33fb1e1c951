// Package harness is the suite's benchmark: it starts the services it
// needs, measures each candidate against a baseline in the same run, in
// interleaved rounds, and reports ratios (see bench/README.md).
package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// Config says how much to measure.
type Config struct {
	// Rounds is how many times each comparison is repeated.
	Rounds int
	// Scale multiplies the calls each round makes.
	Scale float64
	// Real, when set, also runs the parts with the real text and audio
	// services (streaming between steps, speech, their memory).
	Real bool
}

// Run measures everything and returns the report.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Report, error) {
	rep := &Report{Started: time.Now(), Rounds: cfg.Rounds, LoadStart: loadAvg()}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "chorus-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	log.Info("building the binaries")
	if err := build(ctx, root, bin, "./gateway/cmd/gateway", "./orchestrator/cmd/orchestrator",
		"./services/text/cmd/text", "./services/audio/cmd/audio"); err != nil {
		return nil, err
	}
	// Instant backends, in this process, behind the real genai handler and
	// gRPC server.
	textAddr, stopText, err := instant(genai.Text, genaitest.NewBackend(genaitest.Echo), scriptBackend{})
	if err != nil {
		return nil, err
	}
	defer stopText()
	audioAddr, stopAudio, err := instant(genai.Audio, genaitest.NewBackend(genaitest.Voice))
	if err != nil {
		return nil, err
	}
	defer stopAudio()
	// Stopped first, before the backends they call.
	ps := &procs{}
	defer ps.stop()

	orchAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	orch, err := ps.start("orchestrator", root, filepath.Join(bin, "orchestrator"),
		"-grpc-addr", orchAddr, "-metrics-addr", "", "-text-addr", textAddr, "-audio-addr", audioAddr,
		"-image-addr", textAddr, "-data-dir", filepath.Join(tmp, "orchestrator"),
		"-max-runs", "64", "-run-queue", "1024")
	if err != nil {
		return nil, err
	}
	gwAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	gw, err := ps.start("gateway", root, filepath.Join(bin, "gateway"),
		"-http-addr", gwAddr, "-text-addr", textAddr, "-audio-addr", audioAddr, "-image-addr", textAddr,
		"-orchestrator-addr", orchAddr)
	if err != nil {
		return nil, err
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 60 * time.Second}
	defer httpc.CloseIdleConnections()
	if err := gw.ready(ctx, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+gwAddr+"/healthz", nil)
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	orchConn, err := dial(orchAddr)
	if err != nil {
		return nil, err
	}
	defer orchConn.Close()
	if err := orch.ready(ctx, func(ctx context.Context) error {
		_, err := orchestratorv1.NewOrchestratorServiceClient(orchConn).ListPipelines(ctx, &orchestratorv1.ListPipelinesRequest{})
		return err
	}); err != nil {
		return nil, err
	}
	textConn, err := dial(textAddr)
	if err != nil {
		return nil, err
	}
	defer textConn.Close()
	audioConn, err := dial(audioAddr)
	if err != nil {
		return nil, err
	}
	defer audioConn.Close()

	mem := map[*process]int64{}
	for _, p := range []*process{gw, orch} {
		if mem[p], err = p.rss(); err != nil {
			return nil, err
		}
	}
	sampler := samplePeaks([]*process{gw, orch})

	n := func(k int) int { return max(1, int(float64(k)*cfg.Scale)) }

	// 1. Gateway overhead.
	gc := newGatewayCalls(httpc, "http://"+gwAddr, textConn)
	log.Info("warming up the gateway")
	for _, f := range []func(context.Context) error{gc.restUnary, gc.grpcUnary, gc.restStream, gc.grpcStream} {
		if _, err := load(ctx, 50, 4, f); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	for _, c := range []struct {
		what       string
		base, cand func(context.Context) error
		unit       string
		n1, n16    int
	}{
		{"POST /v1/text:generate vs gRPC Generate", gc.grpcUnary, gc.restUnary, "requests", 400, 1600},
		{fmt.Sprintf("POST /v1/text:streamGenerate vs gRPC StreamGenerate, %d chunks", streamChunks), gc.grpcStream, gc.restStream, "streams", 60, 240},
	} {
		for _, conc := range []int{1, 16} {
			calls := c.n1
			if conc > 1 {
				calls = c.n16
			}
			log.Info("gateway", "call", c.what, "concurrency", conc, "calls", n(calls))
			cmp, err := interleave(ctx, cfg.Rounds, n(calls), conc, c.base, c.cand)
			if err != nil {
				return nil, fmt.Errorf("gateway %s: %w", c.what, err)
			}
			rep.Rows = append(rep.Rows, cmp.rows("Gateway overhead (REST through the gateway vs direct gRPC; instant echo backend)",
				fmt.Sprintf("%s, concurrency %d", c.what, conc), c.unit)...)
		}
	}

	// 2. Orchestrator overhead.
	inst := direct{
		text:        genaiv1.NewTextServiceClient(textConn),
		audioClient: genaiv1.NewAudioServiceClient(audioConn),
		textReq:     &genaiv1.GenerateRequest{Model: scriptModel, Prompt: "Title: the lighthouse keeper, chapter 1\n\nThis is the story of the lighthouse keeper."},
		audioModel:  genaitest.Voice,
	}
	inputs := map[string]string{"topic": "the lighthouse keeper", "text_model": scriptModel, "audio_model": genaitest.Voice}
	orchRun := func(ctx context.Context) error { _, err := viaOrchestrator(ctx, orchConn, inputs); return err }
	directRun := func(ctx context.Context) error { _, err := inst.run(ctx, false); return err }
	log.Info("warming up the orchestrator")
	for _, f := range []func(context.Context) error{orchRun, directRun} {
		if _, err := load(ctx, 50, 4, f); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	for _, c := range []struct{ conc, calls int }{{1, 60}, {16, 240}, {64, 512}} {
		log.Info("orchestrator", "concurrency", c.conc, "runs", n(c.calls))
		cmp, err := interleave(ctx, cfg.Rounds, n(c.calls), c.conc, directRun, orchRun)
		if err != nil {
			return nil, fmt.Errorf("orchestrator: %w", err)
		}
		rep.Rows = append(rep.Rows, cmp.rows("Orchestrator overhead (script-then-voiceover through the orchestrator vs the same calls in sequence; instant backends)",
			fmt.Sprintf("run, concurrency %d", c.conc), "runs")...)
	}
	peaks := sampler.end()
	for _, p := range []*process{gw, orch} {
		rep.Rows = append(rep.Rows, memRow(p.name+" (instant backends)", mem[p], peaks[p]))
	}

	if cfg.Real {
		if err := realParts(ctx, cfg, log, rep, ps, root, bin, tmp); err != nil {
			return nil, err
		}
	} else {
		rep.Notes = append(rep.Notes, "The parts with the real text and audio services were skipped (-real=false).")
	}
	log.Info("optimisations: before and after", "pairs", len(optimPairs))
	optim, err := optimisations(ctx, cfg.Rounds, root, tmp, optimBenchtime)
	if err != nil {
		return nil, err
	}
	rep.Rows = append(rep.Rows, optim...)

	rep.Notes = append(rep.Notes,
		"The instant backends (genaitest echo and voice, and a text model that streams a fixed four-sentence script) run in the harness's process behind the real genai handler and gRPC server (platform/serve); the gateway and orchestrator are the real binaries, built by the harness.",
		"Throughput rows are calls completed per second by the candidate over the baseline: below 1 means the candidate serves fewer.",
		"The orchestrator runs with -max-runs 64 so that concurrency 64 measures its overhead, not its admission queue (the default admits 4 runs at once).",
		"The baseline of the orchestrator rows streams the script from the text service, splits it into sentences (platform/sentence) and asks the audio service for each in turn; the orchestrator also assembles the WAV and WebVTT outputs and records the run.",
		"Optimisations: each pair is two Go benchmarks of the same work, the code as it was before profiling and as it is, run in interleaved rounds of "+optimBenchtime+" each from test binaries the harness builds; the ratios are after over before, below 1 is better. The voiceover pair's before is a _test.go copy of the old functions (orchestrator/internal/runner/voiceover_bench_test.go); the stream pair's before turns the gateway's read-ahead off (an unexported switch); the marshal pair's before is runtime.JSONPb itself. What the profiles showed is in bench/README.md.")
	if cfg.Real {
		rep.Notes = append(rep.Notes, fmt.Sprintf(
			"Time to first audio: the script is capped at %d tokens (the pipeline's default max_tokens, given to both sides); the baseline sends the text service the same completion prompt and options the orchestrator does, waits for the whole script, then asks for the first sentence's speech.", realMaxTokens),
			"Speech: the same four-sentence text and the same voice on both sides (the service's default voices, flite's slt and espeak-ng's en-us); the real-time factor is wall time over the audio's duration, read from the WAV each side made. The service voices one sentence at a time (espeak-ng as one process per sentence) and sends the WAVs over gRPC; the command-line tools voice the whole text in one go into a file.")
	}
	rep.verdicts()
	rep.Duration = time.Since(rep.Started)
	rep.LoadEnd = loadAvg()
	return rep, nil
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

const memSection = "Memory (VmRSS: peak under the load above vs idle after start)"

func memRow(name string, idle, peak int64) Row {
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	r := float64(peak) / float64(idle)
	return Row{Section: memSection, Name: name, Baseline: mib(idle), Cand: mib(peak), Ratio: spreadOne(r)}
}
