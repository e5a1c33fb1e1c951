package runner

import (
	"context"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestRunner returns a runner over fake text and audio services that
// write and voice text.
func newTestRunner(tb testing.TB, maxSteps int, text string) *Runner {
	tb.Helper()
	textSvc := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		for _, w := range []byte(text) {
			if err := st.Send(genaitest.Delta(string(w))); err != nil {
				return err
			}
		}
		return st.Send(genaitest.Done(text))
	}}
	audioSvc := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		return genaitest.SpeechResponse(r), nil
	}}
	return New(Config{
		Clients: map[genai.Modality]genai.Client{
			genai.Text:  genaitest.Serve(tb, genai.Text, textSvc),
			genai.Audio: genaitest.Serve(tb, genai.Audio, audioSvc),
		},
		MaxParallelSteps: maxSteps,
	})
}

func TestOneStepAtATimeStillFinishes(t *testing.T) {
	// With one step slot the voiceover cannot start until the script ends:
	// the script must not block on it meanwhile.
	e := newTestRunner(t, 1, "One. Two. Three.")
	reg, err := pipeline.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	p := reg.Get("script-then-voiceover")
	inputs, err := p.ResolveInputs(map[string]string{"topic": "x"})
	if err != nil {
		t.Fatal(err)
	}
	var events []*orchestratorv1.RunPipelineResponse
	err = e.Run(t.Context(), p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
		events = append(events, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	scriptDone, segments := false, 0
	for _, ev := range events {
		if ev.GetStepCompleted().GetStep() == "script" {
			scriptDone = true
		}
		if ev.GetStepDelta().GetArtifact() != nil {
			segments++
			if !scriptDone {
				t.Errorf("audio before the script completed with one step slot")
			}
		}
	}
	if segments != 3 || events[len(events)-1].GetRunCompleted() == nil {
		t.Errorf("%d segments, last event %v", segments, events[len(events)-1])
	}
}

func TestEmitFailureEndsTheRun(t *testing.T) {
	e := newTestRunner(t, 4, "One. Two. Three.")
	reg, _ := pipeline.Builtin()
	p := reg.Get("script-then-voiceover")
	inputs, _ := p.ResolveInputs(map[string]string{"topic": "x"})
	gone := context.Canceled
	n := 0
	err := e.Run(t.Context(), p, inputs, func(*orchestratorv1.RunPipelineResponse) error {
		if n++; n == 3 {
			return gone
		}
		if n > 3 {
			t.Errorf("event %d emitted after Emit failed", n)
		}
		return nil
	})
	if err != gone {
		t.Errorf("Run = %v, want Emit's error", err)
	}
}

func TestCodeName(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.Canceled: "CANCELLED", codes.InvalidArgument: "INVALID_ARGUMENT", codes.Unavailable: "UNAVAILABLE",
		codes.ResourceExhausted: "RESOURCE_EXHAUSTED", codes.Code(99): "UNKNOWN",
	} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%v) = %q, want %q", c, got, want)
		}
	}
}

func TestFeedReadersKeepTheirOwnPace(t *testing.T) {
	f := newFeed()
	f.push("a")
	f.push("b")
	f.close()
	for reader := range 2 {
		var got []string
		for i := 0; ; i++ {
			item, ok := f.next(t.Context(), i)
			if !ok {
				break
			}
			got = append(got, item)
		}
		if len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("reader %d got %q", reader, got)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok := newFeed().next(ctx, 0); ok {
		t.Error("next on an open, empty feed returned an item after ctx ended")
	}
}

func TestCanceledBeforeStartFailsWithoutOutputs(t *testing.T) {
	e := newTestRunner(t, 4, "One. Two.")
	reg, _ := pipeline.Builtin()
	p := reg.Get("script-then-voiceover")
	inputs, _ := p.ResolveInputs(map[string]string{"topic": "x"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var last *orchestratorv1.RunPipelineResponse
	err := e.Run(ctx, p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
		if ev.GetRunCompleted() != nil {
			t.Error("run_completed from a canceled run")
		}
		last = ev
		return nil
	})
	if rpcerr.Status(err).Code() != codes.Canceled || last.GetRunFailed().GetCode() != "CANCELLED" {
		t.Errorf("Run = %v, last event %v; want CANCELED and run_failed", err, last)
	}
}

func TestNeedsFormADAG(t *testing.T) {
	const yaml = `
name: dag
inputs:
  - name: who
    required: true
steps:
  - name: a
    modality: text
    prompt: "a for {{.who}}"
  - name: b
    modality: text
    prompt: "b for {{.who}}"
  - name: c
    modality: text
    needs: [a, b]
    prompt: "c after [{{.steps.a}}] and [{{.steps.b}}]"
outputs:
  - {name: c, mime_type: text/plain, from: c}
`
	p, err := pipeline.ParseBytes([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	echo := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		if err := st.Send(genaitest.Delta("echo " + r.GetPrompt())); err != nil {
			return err
		}
		return st.Send(genaitest.Done(""))
	}}
	for _, maxSteps := range []int{1, 4} {
		e := New(Config{Clients: map[genai.Modality]genai.Client{genai.Text: genaitest.Serve(t, genai.Text, echo)}, MaxParallelSteps: maxSteps})
		var order []string
		var done *orchestratorv1.RunCompleted
		err := e.Run(t.Context(), p, map[string]string{"who": "me"}, func(ev *orchestratorv1.RunPipelineResponse) error {
			if s := ev.GetStepStarted(); s != nil {
				order = append(order, "start "+s.GetStep())
			}
			if s := ev.GetStepCompleted(); s != nil {
				order = append(order, "end "+s.GetStep())
			}
			if d := ev.GetRunCompleted(); d != nil {
				done = d
			}
			return nil
		})
		if err != nil {
			t.Fatalf("max %d: Run: %v", maxSteps, err)
		}
		if got, want := done.GetOutputs()[0].GetArtifact().GetText(), "echo c after [echo a for me] and [echo b for me]"; got != want {
			t.Errorf("max %d: c = %q, want %q", maxSteps, got, want)
		}
		if order[len(order)-2] != "start c" {
			t.Errorf("max %d: events %v; c must start after a and b end", maxSteps, order)
		}
		if maxSteps == 1 && (order[0][:5] != "start" || order[1][:3] != "end") {
			t.Errorf("max 1: events %v; steps must not overlap", order)
		}
	}
}
