package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/chorus-ai/chorus/platform/sentence"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

const pipelineName = "script-then-voiceover"

// viaOrchestrator runs script-then-voiceover once and returns the time to
// its first voiceover audio.
func viaOrchestrator(ctx context.Context, orch *grpc.ClientConn, inputs map[string]string) (time.Duration, error) {
	start := time.Now()
	st, err := orchestratorv1.NewOrchestratorServiceClient(orch).RunPipeline(ctx, &orchestratorv1.RunPipelineRequest{Name: pipelineName, Inputs: inputs})
	if err != nil {
		return 0, err
	}
	var ttfa time.Duration
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return 0, errors.New("RunPipeline ended without run_completed")
		}
		if err != nil {
			return 0, err
		}
		if d := ev.GetStepDelta(); d != nil && d.GetStep() == "voiceover" && d.GetArtifact() != nil && ttfa == 0 {
			ttfa = time.Since(start)
		}
		if f := ev.GetRunFailed(); f != nil {
			return 0, fmt.Errorf("run failed in step %q: %s: %s", f.GetStep(), f.GetCode(), f.GetMessage())
		}
		if ev.GetRunCompleted() != nil {
			if ttfa == 0 {
				return 0, errors.New("run completed without voiceover audio")
			}
			// Drain to the end of the stream, as a client does.
			for {
				if _, err := st.Recv(); err != nil {
					if errors.Is(err, io.EOF) {
						return ttfa, nil
					}
					return 0, err
				}
			}
		}
	}
}

// direct is the pipeline's calls made by the client in sequence: the whole
// script streamed from the text service, then the speech of its sentences
// one after another (only the first when firstOnly). It returns the time
// to the first audio.
type direct struct {
	text        genaiv1.TextServiceClient
	audioClient genaiv1.AudioServiceClient
	textReq     *genaiv1.GenerateRequest
	opening     string // the completion opening the orchestrator puts before the text
	audioModel  string
}

func (d direct) run(ctx context.Context, firstOnly bool) (time.Duration, error) {
	start := time.Now()
	st, err := d.text.StreamGenerate(ctx, d.textReq)
	if err != nil {
		return 0, err
	}
	script := d.opening
	for {
		c, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if delta := c.GetDelta(); delta != nil {
			script += delta.GetText()
		}
	}
	sentences := sentence.Split(script)
	if len(sentences) == 0 {
		return 0, fmt.Errorf("the script %q has no sentence", script)
	}
	var ttfa time.Duration
	for i, s := range sentences {
		resp, err := d.audioClient.Generate(ctx, &genaiv1.GenerateRequest{Model: d.audioModel, Prompt: s})
		if err != nil {
			return 0, err
		}
		if len(resp.GetArtifacts()) == 0 {
			return 0, fmt.Errorf("no audio for %q", s)
		}
		if i == 0 {
			ttfa = time.Since(start)
			if firstOnly {
				break
			}
		}
	}
	return ttfa, nil
}
