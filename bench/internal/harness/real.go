package harness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/chorus-ai/chorus/bench/internal/stats"
	"github.com/chorus-ai/chorus/platform/wav"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

const (
	realTextModel = "chorus-mini"
	// realMaxTokens bounds the script: the pipeline's default, given to
	// both sides.
	realMaxTokens = 200
	topic         = "the lighthouse keeper"
)

func spreadOne(v float64) stats.Spread { return stats.SpreadOf([]float64{v}) }

// realParts measures, with the real text service (the embedded
// chorus-mini) and audio service (flite, espeak) started from the
// repository root: time to first audio with and without the streaming
// edge, speech against the command-line tools, and their memory.
func realParts(ctx context.Context, cfg Config, log *slog.Logger, rep *Report, ps *procs, root, bin, tmp string) error {
	addrs := make([]string, 3)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		addrs[i] = a
	}
	textAddr, audioAddr, orchAddr := addrs[0], addrs[1], addrs[2]
	text, err := ps.start("text", root, filepath.Join(bin, "text"), "-grpc-addr", textAddr, "-metrics-addr", "")
	if err != nil {
		return err
	}
	audio, err := ps.start("audio", root, filepath.Join(bin, "audio"), "-grpc-addr", audioAddr, "-metrics-addr", "")
	if err != nil {
		return err
	}
	orch, err := ps.start("orchestrator", root, filepath.Join(bin, "orchestrator"),
		"-grpc-addr", orchAddr, "-metrics-addr", "", "-text-addr", textAddr, "-audio-addr", audioAddr,
		"-image-addr", textAddr, "-data-dir", filepath.Join(tmp, "orchestrator-real"))
	if err != nil {
		return err
	}
	conns := map[string]string{"text": textAddr, "audio": audioAddr, "orchestrator": orchAddr}
	clients := map[string]*grpc.ClientConn{}
	for name, a := range conns {
		c, err := dial(a)
		if err != nil {
			return err
		}
		defer c.Close()
		clients[name] = c
	}
	textClient := genaiv1.NewTextServiceClient(clients["text"])
	audioClient := genaiv1.NewAudioServiceClient(clients["audio"])
	if err := text.ready(ctx, func(ctx context.Context) error {
		_, err := textClient.ListModels(ctx, &genaiv1.ListModelsRequest{})
		return err
	}); err != nil {
		return err
	}
	if err := audio.ready(ctx, func(ctx context.Context) error {
		_, err := audioClient.ListModels(ctx, &genaiv1.ListModelsRequest{})
		return err
	}); err != nil {
		return err
	}
	if err := orch.ready(ctx, func(ctx context.Context) error {
		_, err := orchestratorv1.NewOrchestratorServiceClient(clients["orchestrator"]).ListPipelines(ctx, &orchestratorv1.ListPipelinesRequest{})
		return err
	}); err != nil {
		return err
	}
	idle := map[*process]int64{}
	for _, p := range []*process{text, audio, orch} {
		if idle[p], err = p.rss(); err != nil {
			return err
		}
	}
	sampler := samplePeaks([]*process{text, audio, orch})

	// 3. Streaming between steps: time to first audio.
	opening := "This is the story of " + topic + "."
	temp, penalty := float32(0.7), float32(1.15)
	seq := direct{
		text:        textClient,
		audioClient: audioClient,
		textReq: &genaiv1.GenerateRequest{Model: realTextModel, Prompt: "Title: " + topic + ", chapter 1\n\n" + opening,
			Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{MaxTokens: realMaxTokens, Temperature: &temp, RepetitionPenalty: &penalty}}},
		opening:    opening,
		audioModel: "flite",
	}
	inputs := map[string]string{"topic": topic, "text_model": realTextModel, "audio_model": "flite", "max_tokens": fmt.Sprint(realMaxTokens)}
	log.Info("warming up the text and audio services")
	if _, err := viaOrchestrator(ctx, clients["orchestrator"], inputs); err != nil {
		return fmt.Errorf("streaming warm-up: %w", err)
	}
	if _, err := seq.run(ctx, true); err != nil {
		return fmt.Errorf("sequential warm-up: %w", err)
	}
	var ratios, streamed, sequential []float64
	for r := range cfg.Rounds {
		log.Info("time to first audio", "round", r+1)
		var s, q time.Duration
		var err error
		if r%2 == 0 {
			if s, err = viaOrchestrator(ctx, clients["orchestrator"], inputs); err == nil {
				q, err = seq.run(ctx, true)
			}
		} else {
			if q, err = seq.run(ctx, true); err == nil {
				s, err = viaOrchestrator(ctx, clients["orchestrator"], inputs)
			}
		}
		if err != nil {
			return fmt.Errorf("time to first audio: %w", err)
		}
		streamed, sequential = append(streamed, ms(s)), append(sequential, ms(q))
		ratios = append(ratios, stats.Ratio(ms(s), ms(q)))
	}
	rep.Rows = append(rep.Rows, Row{
		Section:  ttfaSection,
		Name:     ttfaName,
		Baseline: fmtMS(stats.SpreadOf(sequential).Median),
		Cand:     fmtMS(stats.SpreadOf(streamed).Median),
		Ratio:    stats.SpreadOf(ratios),
	})

	// 4. Speech: real-time factor through the service against the CLI,
	// with the same voice: the service's default for each.
	for _, e := range []struct {
		model, cli, voice string
		args              func(out string) []string
	}{
		{"flite", "flite", "slt", func(out string) []string { return []string{"-voice", "slt", "-t", Script, "-o", out} }},
		{"espeak", "espeak-ng", "en-us", func(out string) []string { return []string{"-v", "en-us", "-w", out, Script} }},
	} {
		cliPath, err := exec.LookPath(e.cli)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Speech, %s: skipped: no %s command on PATH (%v).", e.model, e.cli, err))
			continue
		}
		out := filepath.Join(tmp, e.model+".wav")
		cliRTF := func(ctx context.Context) (float64, error) {
			start := time.Now()
			if b, err := exec.CommandContext(ctx, cliPath, e.args(out)...).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("%s: %v: %s", e.cli, err, b)
			}
			took := time.Since(start)
			b, err := os.ReadFile(out)
			if err != nil {
				return 0, err
			}
			a, err := wav.Decode(b)
			if err != nil {
				return 0, fmt.Errorf("%s's WAV: %w", e.cli, err)
			}
			return took.Seconds() / a.Seconds(), nil
		}
		serviceRTF := func(ctx context.Context) (float64, error) {
			start := time.Now()
			resp, err := audioClient.Generate(ctx, &genaiv1.GenerateRequest{Model: e.model, Prompt: Script,
				Options: &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{Voice: e.voice}}})
			if err != nil {
				return 0, err
			}
			took := time.Since(start)
			secs := 0.0
			for _, a := range resp.GetArtifacts() {
				d, err := wav.Decode(a.GetData())
				if err != nil {
					return 0, fmt.Errorf("the service's WAV: %w", err)
				}
				secs += d.Seconds()
			}
			if secs == 0 {
				return 0, fmt.Errorf("%s through the service made no audio", e.model)
			}
			return took.Seconds() / secs, nil
		}
		// Warm both up.
		if _, err := cliRTF(ctx); err != nil {
			return err
		}
		if _, err := serviceRTF(ctx); err != nil {
			return err
		}
		var ratios, svc, cli []float64
		for r := range cfg.Rounds * 2 {
			first, second := serviceRTF, cliRTF
			if r%2 == 1 {
				first, second = cliRTF, serviceRTF
			}
			a, err := first(ctx)
			if err != nil {
				return err
			}
			b, err := second(ctx)
			if err != nil {
				return err
			}
			if r%2 == 1 {
				a, b = b, a
			}
			svc, cli = append(svc, a), append(cli, b)
			ratios = append(ratios, stats.Ratio(a, b))
		}
		rep.Rows = append(rep.Rows, Row{
			Section:  speechSection,
			Name:     speechName(e.model, e.cli) + ", voice " + e.voice,
			Baseline: fmt.Sprintf("RTF %.4f", stats.SpreadOf(cli).Median),
			Cand:     fmt.Sprintf("RTF %.4f", stats.SpreadOf(svc).Median),
			Ratio:    stats.SpreadOf(ratios),
		})
	}
	peaks := sampler.end()
	for _, p := range []*process{text, audio, orch} {
		rep.Rows = append(rep.Rows, memRow(p.name+" (real services: chorus-mini, flite, espeak)", idle[p], peaks[p]))
	}
	return nil
}

const (
	ttfaSection   = "Streaming between steps (time to first audio, chorus-mini and flite)"
	ttfaName      = "script-then-voiceover with the streaming edge vs whole script then speech"
	speechSection = "Speech (real-time factor through the audio service vs the command-line tool, same text)"
)

func speechName(model, cli string) string { return fmt.Sprintf("%s backend vs `%s`", model, cli) }
