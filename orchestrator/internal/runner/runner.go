// Package runner runs pipelines: it schedules their steps as a DAG over the
// modality services, streams each step's progress as events, and assembles
// the outputs.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// MaxResultBytes bounds a run's assembled outputs (the RunCompleted event),
// and in particular a voiceover: gRPC refuses messages over 4 MiB, and the
// event needs room for the script and captions besides. Runs that would
// exceed it fail with RESOURCE_EXHAUSTED. With an artifact store (see
// Config.Artifacts) large artifacts travel by reference and the limit only
// bounds what stays inline.
const MaxResultBytes = 3*1024*1024 + 512*1024

// DefaultInlineLimit is the largest artifact kept inline in events and
// results when the runner has an artifact store.
const DefaultInlineLimit = 256 * 1024

// ArtifactStore keeps artifacts too large to travel inline and returns the
// URI they can be fetched from.
type ArtifactStore interface {
	PutURI(data []byte, mimeType string) (uri string, err error)
}

// ErrorInfo reasons the runner reports.
const (
	ReasonOutputTooLarge = "OUTPUT_TOO_LARGE"
	ReasonBadOutput      = "UPSTREAM_BAD_OUTPUT"
	ReasonPipeline       = "PIPELINE_ERROR"
)

// errRunOver is returned to steps that try to emit after the run failed.
var errRunOver = errors.New("runner: the run has already failed")

// Retry bounds how a step that fails with UNAVAILABLE before producing any
// output is retried, covering a peer that stays down a little while, such
// as a service restarting. It is the only retry of a pipeline's calls: the
// orchestrator dials its services with dial.WithoutRetries, so one item
// reaches a failing service at most Attempts times.
type Retry struct {
	// Attempts is the most calls per step or item, at least 1. Default 3.
	Attempts int
	// Initial is the first backoff, doubled after each attempt up to Max.
	// Defaults 250ms and 2s.
	Initial, Max time.Duration
}

// Config configures a Runner.
type Config struct {
	// Clients holds one client per modality; a step of a modality without
	// a client fails.
	Clients map[genai.Modality]genai.Client
	// MaxParallelSteps bounds how many steps of one run execute at once.
	// Default 4.
	MaxParallelSteps int
	Retry            Retry
	Log              *slog.Logger
	// Artifacts, when set, stores every artifact (step deltas and outputs)
	// whose inline bytes exceed InlineLimit, and the event carries its URI
	// instead. Without it, outputs are bounded by MaxResultBytes.
	Artifacts ArtifactStore
	// InlineLimit is the largest artifact kept inline; default
	// DefaultInlineLimit.
	InlineLimit int
	// Meter makes the run and step duration metrics; default the global
	// meter provider.
	Meter metric.MeterProvider
	// Retriever serves the retrieve transform; without it such steps fail
	// FAILED_PRECONDITION.
	Retriever Retriever
	// MaxStepBytes and MaxRunBytes bound the text and artifact bytes one
	// step, and all the steps of one run, may produce; past them the run
	// fails RESOURCE_EXHAUSTED naming the step. Defaults
	// DefaultMaxStepBytes and DefaultMaxRunBytes.
	MaxStepBytes, MaxRunBytes int64
}

// Runner runs pipelines. It is safe for concurrent use.
type Runner struct {
	cfg     Config
	tracer  trace.Tracer
	metrics *metrics
	models  *modelCache
}

// New returns a Runner, filling in defaults.
func New(cfg Config) *Runner {
	if cfg.MaxParallelSteps < 1 {
		cfg.MaxParallelSteps = 4
	}
	if cfg.Retry.Attempts < 1 {
		cfg.Retry.Attempts = 3
	}
	if cfg.Retry.Initial <= 0 {
		cfg.Retry.Initial = 250 * time.Millisecond
	}
	if cfg.Retry.Max < cfg.Retry.Initial {
		cfg.Retry.Max = max(2*time.Second, cfg.Retry.Initial)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.InlineLimit <= 0 {
		cfg.InlineLimit = DefaultInlineLimit
	}
	if cfg.Meter == nil {
		cfg.Meter = otel.GetMeterProvider()
	}
	if cfg.MaxStepBytes <= 0 {
		cfg.MaxStepBytes = DefaultMaxStepBytes
	}
	if cfg.MaxRunBytes <= 0 {
		cfg.MaxRunBytes = DefaultMaxRunBytes
	}
	return &Runner{cfg: cfg, tracer: otel.Tracer("github.com/chorus-ai/chorus/orchestrator/internal/runner"),
		metrics: newMetrics(cfg.Meter),
		models:  &modelCache{ttl: 30 * time.Second, log: cfg.Log}}
}

// Emit receives the events of a run, one at a time, in order. The runner
// sets Time and the event; the caller adds the run id. An error from Emit
// (the client went away) ends the run.
type Emit func(*orchestratorv1.RunPipelineResponse) error

// Run executes p with resolved inputs (see pipeline.ResolveInputs) and
// emits its events, ending with exactly one RunCompleted or RunFailed. It
// returns nil after RunCompleted, and otherwise the run's error: an
// *rpcerr.Error with a deliberate code, or the error Emit returned. Every
// call it makes ends before it returns.
func (rn *Runner) Run(ctx context.Context, p *pipeline.Pipeline, inputs map[string]string, emit Emit) (err error) {
	start := time.Now()
	defer func() { rn.metrics.recordRun(ctx, p.Name, start, err) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{
		runner: rn, p: p, inputs: inputs, start: start, emit: emit, cancel: cancel,
		sem:    make(chan struct{}, rn.cfg.MaxParallelSteps),
		states: make(map[string]*stepState, len(p.Steps)),
		output: outputBytes{maxOne: rn.cfg.MaxStepBytes, maxRun: rn.cfg.MaxRunBytes},
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		r.states[s.Name] = &stepState{step: s, started: make(chan struct{}), done: make(chan struct{})}
	}
	for _, st := range r.states {
		if src := st.step.StreamFrom; src != "" && r.states[src].feed == nil {
			r.states[src].feed = newFeed()
		}
	}
	// A panic after the steps (assembling the outputs) fails the run like
	// one in a step: RunFailed with INTERNAL, once, and the process lives.
	defer func() {
		if p := recover(); p != nil {
			r.fail(ctx, "", r.recovered(ctx, "", p))
			err = r.finishFailed()
		}
	}()
	var wg sync.WaitGroup
	for _, st := range r.states {
		wg.Go(func() { r.runStep(ctx, st) })
	}
	wg.Wait()

	// A step that gave up waiting (the run's context ended between steps)
	// recorded no failure of its own.
	for i := range p.Steps {
		if st := r.states[p.Steps[i].Name]; !st.ok && !r.failed() {
			err := ctx.Err()
			if err == nil {
				err = rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the step did not run")
			}
			r.fail(ctx, st.step.Name, err)
		}
	}
	if !r.failed() {
		done, step, err := r.complete(ctx)
		if err != nil {
			r.fail(ctx, step, err)
		} else if err := r.send(&orchestratorv1.RunPipelineResponse{Event: &orchestratorv1.RunPipelineResponse_RunCompleted{RunCompleted: done}}); err != nil {
			return err
		} else {
			return nil
		}
	}
	return r.finishFailed()
}

// run is the state of one Run.
type run struct {
	runner *Runner
	p      *pipeline.Pipeline
	inputs map[string]string
	start  time.Time
	cancel context.CancelFunc
	sem    chan struct{}
	states map[string]*stepState // fixed after Run starts the steps
	output outputBytes

	mu         sync.Mutex // serialises emit and guards what follows
	emit       Emit
	err        *rpcerr.Error // the run's failure, once it failed
	failedStep string
	emitErr    error // Emit failed: the client is gone
	firstAudio time.Duration
}

type stepState struct {
	step      *pipeline.Step
	started   chan struct{} // closed when the step begins (or gives up)
	startOnce sync.Once
	done      chan struct{} // closed when the step ends
	ok        bool          // set before done is closed
	res       result        // set before done is closed
	feed      *feed         // the sentences of a text step that others stream from
}

// result is what a step produced.
type result struct {
	text      string
	artifacts []*genaiv1.Artifact
	usage     *genaiv1.Usage
}

func (r *run) runStep(ctx context.Context, st *stepState) {
	s := st.step
	defer close(st.done)
	defer func() {
		if p := recover(); p != nil {
			st.ok = false
			r.fail(ctx, s.Name, r.recovered(ctx, s.Name, p))
		}
	}()
	if st.feed != nil {
		defer st.feed.close()
	}
	defer st.startOnce.Do(func() { close(st.started) })

	src, release, ok := r.await(ctx, st)
	if !ok {
		return
	}
	defer release()
	st.startOnce.Do(func() { close(st.started) })

	steps := map[string]string{}
	for _, d := range s.Deps() {
		steps[d] = r.states[d].res.text
	}
	data := pipeline.NewData(r.inputs, steps)
	if skip, err := r.skipped(s, data); skip || err != nil {
		if err != nil {
			r.fail(ctx, s.Name, err)
			return
		}
		// Started and completed at once, with no result: clients see every
		// step of the pipeline complete, and outputs read an empty result.
		if r.send(&orchestratorv1.RunPipelineResponse{Event: &orchestratorv1.RunPipelineResponse_StepStarted{StepStarted: &orchestratorv1.StepStarted{
			Step: s.Name, Modality: s.ModalityName()}}}) != nil {
			return
		}
		st.ok = true
		_ = r.send(&orchestratorv1.RunPipelineResponse{Event: &orchestratorv1.RunPipelineResponse_StepCompleted{StepCompleted: &orchestratorv1.StepCompleted{
			Step: s.Name, Duration: durationpb.New(0)}}})
		return
	}
	model, _ := s.Render("model", data)

	start := time.Now()
	ctx, span := r.runner.tracer.Start(ctx, "step "+s.Name, trace.WithAttributes(
		attribute.String("chorus.pipeline", r.p.Name),
		attribute.String("chorus.step", s.Name),
		attribute.String("chorus.modality", s.ModalityName()),
		attribute.String("gen_ai.request.model", model),
	))
	defer span.End()
	if err := r.send(&orchestratorv1.RunPipelineResponse{Event: &orchestratorv1.RunPipelineResponse_StepStarted{StepStarted: &orchestratorv1.StepStarted{
		Step: s.Name, Modality: s.ModalityName(), Model: model,
	}}}); err != nil {
		return
	}
	r.runner.cfg.Log.DebugContext(ctx, "step started", "pipeline", r.p.Name, "step", s.Name, "model", model)

	res, err := r.execute(ctx, st, data, src)
	u := res.usage
	span.SetAttributes(
		attribute.Int("gen_ai.usage.input_tokens", int(u.GetInputTokens())),
		attribute.Int("gen_ai.usage.output_tokens", int(u.GetOutputTokens())),
		attribute.Float64("chorus.usage.audio_seconds", u.GetAudioSeconds()),
		attribute.Int("chorus.usage.images", int(u.GetImages())),
	)
	if err != nil {
		if src != nil && ctx.Err() != nil {
			// When the run's deadline or cancellation ends both, the
			// source was the one at work: let it report first.
			<-src.done
		}
		mapped := r.fail(ctx, s.Name, err)
		r.runner.metrics.recordStep(ctx, r.p.Name, s.Name, s.ModalityName(), start, mapped)
		span.SetStatus(otelcodes.Error, mapped.Message)
		span.SetAttributes(attribute.String("rpc.grpc.status_code", mapped.Code.String()))
		return
	}
	st.res, st.ok = res, true
	r.runner.metrics.recordStep(ctx, r.p.Name, s.Name, s.ModalityName(), start, nil)
	_ = r.send(&orchestratorv1.RunPipelineResponse{Event: &orchestratorv1.RunPipelineResponse_StepCompleted{StepCompleted: &orchestratorv1.StepCompleted{
		Step: s.Name, Usage: u, Duration: durationpb.New(time.Since(start)),
	}}})
	r.runner.cfg.Log.DebugContext(ctx, "step completed", "pipeline", r.p.Name, "step", s.Name, "duration_ms", time.Since(start).Milliseconds())
}

// skipped reports whether an optional step (one with when) is to be
// skipped: its when renders blank.
func (r *run) skipped(s *pipeline.Step, data pipeline.Data) (bool, error) {
	if s.When == "" {
		return false, nil
	}
	when, err := s.Render("when", data)
	if err != nil {
		return false, rpcerr.New(codes.Internal, ReasonPipeline, fmt.Sprintf("pipeline %q step %q: %v", r.p.Name, s.Name, err)).WithCause(err)
	}
	return strings.TrimSpace(when) == "", nil
}

// await waits until st may start: its dependencies have completed, the
// step it streams from (src, when it has one) has started, and a place
// among the run's MaxParallelSteps is free; release gives the place back.
// ok is false when a dependency failed or the run ended first.
func (r *run) await(ctx context.Context, st *stepState) (src *stepState, release func(), ok bool) {
	for _, d := range st.step.Deps() {
		select {
		case <-r.states[d].done:
			if !r.states[d].ok {
				return nil, nil, false
			}
		case <-ctx.Done():
			return nil, nil, false
		}
	}
	if name := st.step.StreamFrom; name != "" {
		src = r.states[name]
		select {
		case <-src.started:
		case <-ctx.Done():
			return nil, nil, false
		}
	}
	select {
	case r.sem <- struct{}{}:
		return src, func() { <-r.sem }, true
	case <-ctx.Done():
		return nil, nil, false
	}
}

// execute runs a started step as its kind requires.
func (r *run) execute(ctx context.Context, st *stepState, data pipeline.Data, src *stepState) (result, error) {
	s := st.step
	switch {
	case s.Transform != "":
		return r.transform(ctx, st, data, "transform")
	case r.useCompletionTransform(ctx, s, data):
		return r.transform(ctx, st, data, "completion_transform")
	case src != nil:
		return r.items(ctx, st, data, src.feed, src)
	case s.ForEach != nil:
		return r.items(ctx, st, data, itemsOf(r.states[s.ForEach.From].res.text, s.ForEach), nil)
	case s.Modality == genai.Text:
		return r.streamText(ctx, st, data)
	default:
		return r.unary(ctx, st, data)
	}
}

// send emits one event unless the run has failed.
func (r *run) send(ev *orchestratorv1.RunPipelineResponse) error {
	if d := ev.GetStepDelta(); r.runner.offloads(d.GetArtifact()) {
		// The step keeps its own copy, inline, for assembly. Only an
		// artifact that goes to the store is copied: the others are never
		// changed after this (offload leaves them as they are).
		d.Artifact = proto.Clone(d.Artifact).(*genaiv1.Artifact)
		if err := r.runner.offload(d.Artifact); err != nil {
			r.fail(context.Background(), ev.GetStepDelta().GetStep(), err)
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil || r.emitErr != nil {
		return errRunOver
	}
	ev.Time = timestamppb.Now()
	if d := ev.GetStepDelta(); d != nil && r.firstAudio == 0 && strings.HasPrefix(d.GetArtifact().GetMimeType(), "audio/") {
		r.firstAudio = max(time.Since(r.start), time.Nanosecond)
	}
	if err := r.emit(ev); err != nil {
		r.emitErr = err
		r.cancel()
		return err
	}
	return nil
}

// fail records the run's failure (the first one wins), stops every other
// step, and returns err as reported to the client.
func (r *run) fail(ctx context.Context, step string, err error) *rpcerr.Error {
	service := "orchestrator"
	if s := r.p.Step(step); s != nil && s.Transform == "" {
		service = string(s.Modality)
	}
	// A call cut off by the run's own deadline or cancellation says so in
	// the caller's words, not as an upstream fault.
	if ctxErr := ctx.Err(); ctxErr != nil && isContextCode(err) {
		err = ctxErr
	}
	mapped := rpcerr.Upstream(service, err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && r.emitErr == nil && !errors.Is(err, errRunOver) {
		r.err, r.failedStep = mapped, step
		r.runner.cfg.Log.InfoContext(ctx, "step failed", "pipeline", r.p.Name, "step", step,
			"code", mapped.Code.String(), "error", mapped.Error())
	}
	r.cancel()
	return mapped
}

// recovered logs a panic of one of the run's goroutines (in step, or after
// the steps when step is "") and returns the INTERNAL error that fails the
// run: the panic ends this run only, never the process or other runs.
func (r *run) recovered(ctx context.Context, step string, p any) *rpcerr.Error {
	r.runner.cfg.Log.ErrorContext(ctx, "run panicked", "pipeline", r.p.Name, "step", step,
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the orchestrator failed running this step")
}

func (r *run) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil || r.emitErr != nil
}

// finishFailed emits RunFailed (if the client is still there) and returns
// the run's error.
func (r *run) finishFailed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.emitErr != nil {
		return r.emitErr
	}
	out := *r.err
	if r.failedStep != "" {
		out.Message = "step " + r.failedStep + ": " + out.Message
		out.Metadata = map[string]string{}
		for k, v := range r.err.Metadata {
			out.Metadata[k] = v
		}
		out.Metadata["step"] = r.failedStep
	}
	ev := &orchestratorv1.RunPipelineResponse{Time: timestamppb.Now(), Event: &orchestratorv1.RunPipelineResponse_RunFailed{RunFailed: &orchestratorv1.RunFailed{
		Step: r.failedStep, Code: codeName(out.Code), Message: out.Message,
	}}}
	if err := r.emit(ev); err != nil {
		return err
	}
	return &out
}

// complete assembles the outputs after every step succeeded.
func (r *run) complete(ctx context.Context) (_ *orchestratorv1.RunCompleted, step string, _ error) {
	done := &orchestratorv1.RunCompleted{Duration: durationpb.New(time.Since(r.start))}
	for i := range r.p.Outputs {
		o := &r.p.Outputs[i]
		var (
			outs []*orchestratorv1.RunOutput
			err  error
		)
		switch o.Assemble {
		case pipeline.AssembleMP4:
			outs, err = slideshow(ctx, o, r.states[o.From].res, r.states[o.Images].res, r.bed(o))
		case pipeline.AssembleHTML:
			outs, err = page(o, r.p, r.inputs, r.states[o.From].res, r.states[o.Images].res)
		case pipeline.AssembleJSONL, pipeline.AssembleJSONLReport:
			outs, err = dataset(o, r.states[o.From].res, r.inputs)
		default:
			outs, err = assemble(o, r.states[o.From].res, r.runner.cfg.Artifacts == nil)
			if err == nil && o.Assemble == pipeline.AssembleWAV {
				err = underlay(o, outs, r.bed(o))
			}
		}
		if err != nil {
			return nil, o.From, err
		}
		for _, out := range outs {
			if err := r.runner.offload(out.GetArtifact()); err != nil {
				return nil, o.From, err
			}
		}
		done.Outputs = append(done.Outputs, outs...)
	}
	r.mu.Lock()
	if r.firstAudio > 0 {
		done.TimeToFirstAudio = durationpb.New(r.firstAudio)
	}
	r.mu.Unlock()
	if n := proto.Size(done); n > MaxResultBytes {
		return nil, "", tooLarge(fmt.Sprintf("the run's outputs total %d bytes, over the %d-byte limit of one gRPC message; ask for less (lower max_tokens, or fewer items)", n, MaxResultBytes))
	}
	return done, "", nil
}

// offload moves a's inline bytes to the artifact store when there is one
// and they exceed the inline limit, leaving a's size and sha256 and a uri.
func (rn *Runner) offload(a *genaiv1.Artifact) error {
	if !rn.offloads(a) {
		return nil
	}
	data := a.GetData()
	genai.FillDigest(a)
	uri, err := rn.cfg.Artifacts.PutURI(data, a.GetMimeType())
	if err != nil {
		return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the artifact store failed to keep an artifact").WithCause(err)
	}
	a.Content = &genaiv1.Artifact_Uri{Uri: uri}
	return nil
}

// offloads says whether offload moves a to the artifact store: there is
// one and a's inline bytes exceed InlineLimit.
func (rn *Runner) offloads(a *genaiv1.Artifact) bool {
	return rn.cfg.Artifacts != nil && len(a.GetData()) > rn.cfg.InlineLimit
}

func tooLarge(msg string) *rpcerr.Error {
	return rpcerr.New(codes.ResourceExhausted, ReasonOutputTooLarge, msg).WithMetadata("subject", "run_output_bytes")
}

// addUsage returns a + b.
func addUsage(a, b *genaiv1.Usage) *genaiv1.Usage {
	if b == nil {
		return a
	}
	if a == nil {
		a = &genaiv1.Usage{}
	}
	return &genaiv1.Usage{
		InputTokens:     a.GetInputTokens() + b.GetInputTokens(),
		OutputTokens:    a.GetOutputTokens() + b.GetOutputTokens(),
		AudioSeconds:    a.GetAudioSeconds() + b.GetAudioSeconds(),
		Images:          a.GetImages() + b.GetImages(),
		InputCharacters: a.GetInputCharacters() + b.GetInputCharacters(),
	}
}

func isContextCode(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	c := rpcerr.Status(err).Code()
	return c == codes.Canceled || c == codes.DeadlineExceeded
}

// codeName is the canonical upper-case name of a gRPC code, as RunFailed
// reports it (its google.rpc.Code name).
func codeName(c codes.Code) string {
	if _, ok := code.Code_name[int32(c)]; ok {
		return code.Code(c).String()
	}
	return "UNKNOWN"
}
