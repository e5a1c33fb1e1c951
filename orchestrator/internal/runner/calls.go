package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/sentence"
	"github.com/chorus-ai/chorus/platform/wav"
)

// streamText runs a text step with StreamGenerate, emitting its deltas and,
// when other steps stream from it, feeding them its sentences as they
// complete.
func (r *run) streamText(ctx context.Context, st *stepState, data pipeline.Data) (result, error) {
	req, client, opening, err := r.request(ctx, st.step, data)
	if err != nil {
		return result{}, err
	}
	out := &textOut{run: r, step: st.step.Name, feed: st.feed}
	if opening != "" {
		// The opening was written into the prompt; it is the text's start.
		if err := out.write(opening); err != nil {
			return result{}, err
		}
	}
	var final *genaiv1.GenerateResponse
	err = r.retry(ctx, st.step, func(ctx context.Context) (produced bool, err error) {
		final, produced, err = receiveText(ctx, client, req, out)
		return produced, err
	})
	if err != nil {
		return result{}, err
	}
	return out.end(final, opening), nil
}

// receiveText makes one StreamGenerate call, writing its deltas to out, and
// returns its final response. produced says whether any delta came.
func receiveText(ctx context.Context, client genai.Client, req *genaiv1.GenerateRequest, out *textOut) (final *genaiv1.GenerateResponse, produced bool, _ error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.StreamGenerate(ctx, req)
	if err != nil {
		return nil, false, err
	}
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, produced, rpcerr.New(codes.Internal, ReasonBadOutput, "the text service ended its stream without a final chunk")
		}
		if err != nil {
			return nil, produced, err
		}
		switch c := c.GetChunk().(type) {
		case *genaiv1.GenerateChunk_Delta:
			produced = true
			if d := c.Delta.GetText(); d != "" {
				if err := out.write(d); err != nil {
					return nil, produced, err
				}
			}
		case *genaiv1.GenerateChunk_Done:
			return c.Done, produced, nil
		}
	}
}

// textOut is where a text step's text goes as it streams: into the step's
// text, to the client as deltas, and, sentence by sentence, to the steps
// that stream from it (feed, when there are any).
type textOut struct {
	run      *run
	step     string
	feed     *feed
	text     strings.Builder
	splitter sentence.Splitter
}

func (o *textOut) write(d string) error {
	if err := o.run.output.charge(o.step, len(d)); err != nil {
		return err
	}
	o.text.WriteString(d)
	if err := o.run.send(delta(o.step, d, nil)); err != nil {
		return err
	}
	o.push(d)
	return nil
}

// push feeds the sentences that d completes.
func (o *textOut) push(d string) {
	if o.feed == nil {
		return
	}
	for _, s := range o.splitter.Write(d) {
		o.feed.push(s)
	}
}

// end returns the step's result once the stream is done, and feeds the
// last sentence.
func (o *textOut) end(final *genaiv1.GenerateResponse, opening string) result {
	res := result{text: o.text.String(), usage: final.GetUsage()}
	if res.text == opening {
		// A backend that streamed nothing still returns the whole text.
		for _, a := range final.GetArtifacts() {
			if t, ok := a.GetContent().(*genaiv1.Artifact_Text); ok {
				res.text += t.Text
			}
		}
		o.push(strings.TrimPrefix(res.text, opening))
	}
	pending := o.splitter.Pending()
	rest := strings.TrimSpace(o.splitter.Flush())
	if final.GetFinishReason() == genaiv1.FinishReason_FINISH_REASON_LENGTH && !endsSentence(rest) {
		// The token limit cut the text mid-sentence: end the script at its
		// last complete sentence rather than voice half of one. A text with
		// no complete sentence at all is kept whole.
		end := lastSentenceEnd(res.text)
		if o.feed != nil && strings.HasSuffix(res.text, pending) {
			// The sentences fed so far are the complete ones: what the
			// splitter still held is one unfinished sentence, whatever
			// punctuation it holds ("Dr.", "3."), so the script ends where
			// the last fed sentence did and its sentences are the ones voiced.
			end = len(res.text) - len(pending)
		}
		if cut := strings.TrimRightFunc(res.text[:end], unicode.IsSpace); cut != "" {
			res.text, rest = cut, ""
		}
	}
	if o.feed != nil && rest != "" {
		o.feed.push(rest)
	}
	return res
}

// closers may follow a sentence's final punctuation.
const closers = "\"')]}*_`”’"

// endsSentence reports whether s ends with terminal punctuation, perhaps
// followed by closing quotes or brackets.
func endsSentence(s string) bool {
	s = strings.TrimRight(s, closers)
	return strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "…")
}

// lastSentenceEnd returns the length of text up to and including its last
// terminal punctuation and any closers after it, or 0 when it has none.
func lastSentenceEnd(text string) int {
	i := strings.LastIndexAny(text, ".!?…")
	if i < 0 {
		return 0
	}
	_, size := utf8.DecodeRuneInString(text[i:])
	end := i + size
	for end < len(text) {
		r, n := utf8.DecodeRuneInString(text[end:])
		if !strings.ContainsRune(closers, r) {
			break
		}
		end += n
	}
	return end
}

// unary runs an image or audio step with one call (see generate) and emits each
// artifact as a delta.
func (r *run) unary(ctx context.Context, st *stepState, data pipeline.Data) (result, error) {
	resp, err := r.generate(ctx, st.step, data)
	if err != nil {
		return result{}, err
	}
	res := result{usage: resp.GetUsage()}
	for i, a := range resp.GetArtifacts() {
		if err := r.keep(st.step.Name, &res, withIndex(a, i)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// items runs an item step: one Generate call per item of src, at most
// Parallel in flight or awaiting emission, results emitted strictly in item
// order. When the items stream from another step (streaming is that step's
// state), a source that fails ends this step without success.
func (r *run) items(ctx context.Context, st *stepState, data pipeline.Data, src *feed, streaming *stepState) (result, error) {
	s := st.step
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	calls := r.startItems(ctx, &wg, s, data, src)
	var (
		res   result
		audio = segments{bounded: r.runner.cfg.Artifacts == nil}
	)
	for c := range calls.order {
		var o itemOutcome
		select {
		case o = <-c.done:
		case <-ctx.Done():
			return res, ctx.Err()
		}
		<-calls.window
		if o.err != nil {
			return res, o.err
		}
		if err := r.keepItem(s, c, o.resp, &res, &audio); err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if streaming != nil {
		<-streaming.done
		if !streaming.ok {
			return res, errRunOver
		}
	}
	return res, nil
}

// itemCall is one item's call, its outcome delivered on done.
type itemCall struct {
	index int
	item  string
	done  chan itemOutcome // buffered: the call never waits for its reader
}

type itemOutcome struct {
	resp *genaiv1.GenerateResponse
	err  error
}

// itemCalls are the calls of an item step in item order. A place in window
// is taken for every call started, and freed (<-window) by the reader once
// it has the call's outcome.
type itemCalls struct {
	order  <-chan *itemCall
	window chan struct{}
}

// startItems starts one call per item of src, in item order, at most
// s.Parallel of them in flight or awaiting emission, until src closes or
// ctx ends. Every goroutine it starts is in wg.
func (r *run) startItems(ctx context.Context, wg *sync.WaitGroup, s *pipeline.Step, data pipeline.Data, src *feed) itemCalls {
	window := make(chan struct{}, s.Parallel)
	order := make(chan *itemCall, s.Parallel)
	wg.Go(func() {
		defer close(order)
		defer func() {
			if p := recover(); p != nil {
				r.fail(ctx, s.Name, r.recovered(ctx, s.Name, p))
			}
		}()
		for i := 0; ; i++ {
			item, ok := src.next(ctx, i)
			if !ok {
				return
			}
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			c := &itemCall{index: i, item: item, done: make(chan itemOutcome, 1)}
			wg.Go(func() {
				defer func() {
					if p := recover(); p != nil {
						c.done <- itemOutcome{err: r.recovered(ctx, s.Name, p)}
					}
				}()
				resp, err := r.generate(ctx, s, data.WithItem(c.index, c.item))
				c.done <- itemOutcome{resp, err}
			})
			select {
			case order <- c:
			case <-ctx.Done():
				return
			}
		}
	})
	return itemCalls{order: order, window: window}
}

// keepItem adds the artifacts of one item's response to res and emits
// them; an audio step's segments are checked and timed on the way.
func (r *run) keepItem(s *pipeline.Step, c *itemCall, resp *genaiv1.GenerateResponse, res *result, audio *segments) error {
	if len(resp.GetArtifacts()) == 0 {
		return rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf("the %s service returned nothing for item %d", s.Modality, c.index))
	}
	res.usage = addUsage(res.usage, resp.GetUsage())
	for _, a := range resp.GetArtifacts() {
		a = withIndex(a, len(res.artifacts))
		a.Metadata.SourceText = c.item
		if s.Modality == genai.Audio {
			if err := audio.add(a, c.index); err != nil {
				return err
			}
		}
		if err := r.keep(s.Name, res, a); err != nil {
			return err
		}
	}
	return nil
}

// segments follows the segments of an audio step: they must share one
// sample rate and fit in one result, and each starts where the last ended.
type segments struct {
	bounded bool // the joined WAV must fit in MaxResultBytes (no artifact store)
	rate    int  // Hz, of the first segment; 0 before it
	samples int  // so far
	offset  time.Duration
}

// add checks segment a (item index) and sets its timing metadata.
func (sg *segments) add(a *genaiv1.Artifact, index int) error {
	audio, err := wav.Inspect(a.GetData())
	if err != nil {
		return rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf("the audio service's segment %d is not usable: %v", index, err)).WithCause(err)
	}
	if sg.rate == 0 {
		sg.rate = audio.Rate
	} else if audio.Rate != sg.rate {
		return rpcerr.New(codes.Internal, ReasonBadOutput, fmt.Sprintf(
			"the audio service's segments differ in format (segment %d is %d Hz, segment 0 is %d Hz), so they cannot be joined into one WAV", index, audio.Rate, sg.rate))
	}
	sg.samples += audio.Frames
	if sg.bounded && wav.EncodedSize(sg.samples) > MaxResultBytes {
		return tooLarge(fmt.Sprintf("the voiceover would exceed %d bytes, the most one gRPC message can carry with the other outputs; lower max_tokens", MaxResultBytes))
	}
	d := audio.Duration()
	a.Metadata.SampleRate = int32(audio.Rate)
	a.Metadata.DurationSeconds = d.Seconds()
	a.Metadata.OffsetSeconds = sg.offset.Seconds()
	sg.offset += d
	return nil
}

// withIndex numbers a as the step's artifact number index and returns it.
// It changes a in place: a is from a response the runner just received and
// owns, and a copy would copy the artifact's data (a WAV, an image), the
// largest allocation of a run.
func withIndex(a *genaiv1.Artifact, index int) *genaiv1.Artifact {
	if a.Metadata == nil {
		a.Metadata = &genaiv1.ArtifactMetadata{}
	}
	a.Metadata.Index = int32(index)
	return a
}

// keep adds a finished artifact to res and emits it.
func (r *run) keep(step string, res *result, a *genaiv1.Artifact) error {
	if err := r.output.charge(step, len(a.GetData())+len(a.GetText())); err != nil {
		return err
	}
	genai.FillDigest(a)
	res.artifacts = append(res.artifacts, a)
	return r.send(delta(step, "", a))
}

// generate makes a step's (or one item's) call, retried as retry allows:
// a StreamGenerate collected whole (genai.Collect), so that an artifact
// over one gRPC message arrives in parts rather than failing.
func (r *run) generate(ctx context.Context, s *pipeline.Step, data pipeline.Data) (*genaiv1.GenerateResponse, error) {
	req, client, _, err := r.request(ctx, s, data)
	if err != nil {
		return nil, err
	}
	var resp *genaiv1.GenerateResponse
	err = r.retry(ctx, s, func(ctx context.Context) (bool, error) {
		var err error
		resp, err = genai.Collect(ctx, client, req, 0)
		return false, err
	})
	return resp, err
}

// retry calls fn until it succeeds, fails with something other than
// UNAVAILABLE, reports that it produced output, or runs out of attempts.
func (r *run) retry(ctx context.Context, s *pipeline.Step, fn func(context.Context) (produced bool, err error)) error {
	policy := r.runner.cfg.Retry
	backoff := policy.Initial
	for attempt := 1; ; attempt++ {
		produced, err := fn(ctx)
		if err == nil {
			return nil
		}
		if produced || attempt >= policy.Attempts || ctx.Err() != nil || status.Code(err) != codes.Unavailable {
			return err
		}
		trace.SpanFromContext(ctx).AddEvent("retry", trace.WithAttributes(
			attribute.Int("attempt", attempt), attribute.Int64("backoff_ms", backoff.Milliseconds())))
		r.runner.cfg.Log.DebugContext(ctx, "retrying unavailable service", "pipeline", r.p.Name, "step", s.Name, "attempt", attempt)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		backoff = min(2*backoff, policy.Max)
	}
}

func delta(step, text string, a *genaiv1.Artifact) *orchestratorv1.RunPipelineResponse {
	return &orchestratorv1.RunPipelineResponse{Event: &orchestratorv1.RunPipelineResponse_StepDelta{StepDelta: &orchestratorv1.StepDelta{
		Step: step, Text: text, Artifact: a,
	}}}
}

// itemsOf splits a completed step's text into a closed feed of items.
func itemsOf(text string, f *pipeline.ForEach) *feed {
	var items []string
	if f.Split == pipeline.SplitSentences {
		items = sentence.Split(text)
	} else {
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				items = append(items, line)
			}
		}
	}
	out := newFeed()
	for i, it := range items {
		if i >= f.MaxItems {
			break
		}
		out.push(it)
	}
	out.close()
	return out
}

// feed is a growing list of items that readers consume in order, each at
// its own pace, until it is closed. It never blocks the writer: a text step
// must not stall on the steps that stream from it.
type feed struct {
	mu     sync.Mutex
	items  []string
	closed bool
	wake   chan struct{} // closed (and replaced) whenever the feed changes
}

func newFeed() *feed { return &feed{wake: make(chan struct{})} }

func (f *feed) push(item string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, item)
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.wake)
	}
}

// next returns item i, waiting for it; false once the feed is closed
// without it or ctx ends.
func (f *feed) next(ctx context.Context, i int) (string, bool) {
	for {
		f.mu.Lock()
		if i < len(f.items) {
			item := f.items[i]
			f.mu.Unlock()
			return item, true
		}
		if f.closed {
			f.mu.Unlock()
			return "", false
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return "", false
		}
	}
}
