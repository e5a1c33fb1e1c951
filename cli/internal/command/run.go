package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/cli/internal/client"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// inputsFlag collects repeated -input k=v.
type inputsFlag map[string]string

func (f inputsFlag) String() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + f[k]
	}
	return strings.Join(parts, " ")
}

func (f inputsFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	f[k] = v
	return nil
}

// Run runs a pipeline through the gateway, printing its progress, and
// writes its outputs to a directory; with -async it starts a job instead.
func Run(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "run", "PIPELINE [-input name=value ...] [flags]",
		"Runs a pipeline through the gateway's REST API, prints its progress (on a terminal,\n"+
			"one live status line per step) and writes each output to -out, named after the\n"+
			"output (script.txt, voiceover.wav, captions.vtt). With -async it starts the run\n"+
			"as a background job, prints its id and returns (see `chorus jobs`).\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	inputs := inputsFlag{}
	fs.Var(inputs, "input", "a pipeline input as `name=value`; repeat for several")
	out := fs.String("out", "out", "directory to write the outputs to (created if missing)")
	quiet := fs.Bool("q", false, "print only the summary")
	async := fs.Bool("async", false, "start the run as a background job, print its id and return")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(env, fs, "want exactly one pipeline name, got %q", pos)
	}
	if *async {
		return createJob(ctx, env, *gateway, &orchestratorv1.CreateJobRequest{Name: pos[0], Inputs: inputs}, *asJSON)
	}
	return runPipeline(ctx, env, *gateway, pos[0], inputs, runOptions{out: *out, quiet: *quiet, json: *asJSON})
}

// runOptions say where a run's outputs go and how it reports.
type runOptions struct {
	out   string
	quiet bool
	// json prints one JSON summary and no progress.
	json bool
}

// runSummary is what `chorus run --json` prints.
type runSummary struct {
	Pipeline string        `json:"pipeline"`
	RunID    string        `json:"runId"`
	Outputs  []savedOutput `json:"outputs"`
	// Seconds as the server measured them.
	TimeToFirstAudioSeconds float64 `json:"timeToFirstAudioSeconds,omitempty"`
	DurationSeconds         float64 `json:"durationSeconds,omitempty"`
}

// savedOutput is one output written to a file.
type savedOutput struct {
	Name            string  `json:"name"`
	Path            string  `json:"path"`
	MimeType        string  `json:"mimeType"`
	SizeBytes       int     `json:"sizeBytes"`
	DurationSeconds float64 `json:"durationSeconds,omitempty"`
}

// runPipeline runs one pipeline through the gateway, printing progress,
// and writes its outputs to opts.out.
func runPipeline(ctx context.Context, env Env, gateway, name string, inputs map[string]string, opts runOptions) error {
	c, closeConns, err := newClient(env, gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	p := newProgress(env, opts.quiet || opts.json)
	p.printf("running %s on %s", name, gateway)
	done, err := c.RunPipeline(ctx, name, inputs, p.event)
	p.close()
	if err != nil {
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.HTTPStatus == http.StatusNotFound && apiErr.Code == 5 {
			return fmt.Errorf("%w\n(`chorus pipelines` lists the pipelines)", err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %s; the run is cancelled", seconds(time.Since(p.start)))
		}
		return unreachable(err, gateway)
	}
	total := time.Since(p.start)
	saved, err := saveOutputs(ctx, c, done.GetOutputs(), opts.out)
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(env.Stdout, runSummary{
			Pipeline: name, RunID: p.runID, Outputs: saved,
			TimeToFirstAudioSeconds: done.GetTimeToFirstAudio().AsDuration().Seconds(),
			DurationSeconds:         done.GetDuration().AsDuration().Seconds(),
		})
	}
	fmt.Fprintf(env.Stdout, "\n%s completed (run %s)\n", name, p.runID)
	printSaved(env.Stdout, saved)
	if ttfa := done.GetTimeToFirstAudio(); ttfa != nil {
		fmt.Fprintf(env.Stdout, "  time to first audio  %s (server), %s (here)\n", seconds(ttfa.AsDuration()), seconds(p.firstAudio))
	}
	server := ""
	if d := done.GetDuration(); d != nil {
		server = seconds(d.AsDuration()) + " (server), "
	}
	fmt.Fprintf(env.Stdout, "  total time           %s%s (here)\n", server, seconds(total))
	return nil
}

// saveOutputs writes a run's outputs to files in dir, named after each
// output and its MIME type.
func saveOutputs(ctx context.Context, c *client.Client, outputs []*orchestratorv1.RunOutput, dir string) ([]savedOutput, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	saved := make([]savedOutput, 0, len(outputs))
	for i, o := range outputs {
		data, err := c.Content(ctx, o.GetArtifact())
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.GetName(), err)
		}
		path := filepath.Join(dir, fileName(o.GetName(), o.GetArtifact().GetMimeType(), i, used))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
		saved = append(saved, savedOutput{
			Name: o.GetName(), Path: path, MimeType: o.GetArtifact().GetMimeType(), SizeBytes: len(data),
			DurationSeconds: o.GetArtifact().GetMetadata().GetDurationSeconds(),
		})
	}
	return saved, nil
}

// printSaved prints one line per file written.
func printSaved(w io.Writer, saved []savedOutput) {
	for _, s := range saved {
		line := fmt.Sprintf("  %-28s %9s  %s", s.Path, size(s.SizeBytes), s.MimeType)
		if s.DurationSeconds > 0 {
			line += fmt.Sprintf(", %.1f s", s.DurationSeconds)
		}
		fmt.Fprintln(w, line)
	}
}

// progress prints a run's events as they arrive: plain lines, or on a
// terminal one live status line per step.
type progress struct {
	w          io.Writer
	quiet      bool
	live       *statusLines
	start      time.Time
	runID      string
	firstAudio time.Duration
}

func newProgress(env Env, quiet bool) *progress {
	p := &progress{w: env.Stdout, quiet: quiet, start: time.Now()}
	if !quiet && env.isTerminal() {
		p.live = newStatusLines(env.Stdout, p.start)
	}
	return p
}

// close stops the live status lines, leaving their last state on screen.
func (p *progress) close() {
	if p.live != nil {
		p.live.close()
	}
}

func (p *progress) printf(format string, a ...any) {
	if !p.quiet && p.live == nil {
		fmt.Fprintf(p.w, "%7s  %s\n", seconds(time.Since(p.start)), fmt.Sprintf(format, a...))
	}
}

func (p *progress) event(ev *orchestratorv1.RunPipelineResponse) error {
	p.runID = ev.GetRunId()
	switch e := ev.GetEvent().(type) {
	case *orchestratorv1.RunPipelineResponse_StepStarted:
		s := e.StepStarted
		model := s.GetModel()
		if model == "" {
			model = "default model"
		}
		p.printf("%-12s started (%s, %s)", s.GetStep(), s.GetModality(), model)
		p.setStep(s.GetStep(), stepRunning, fmt.Sprintf("%s, %s", s.GetModality(), model))
	case *orchestratorv1.RunPipelineResponse_StepDelta:
		a := e.StepDelta.GetArtifact()
		if a == nil || !strings.HasPrefix(a.GetMimeType(), "audio/") {
			if t := e.StepDelta.GetText(); t != "" && p.live != nil {
				p.live.appendText(e.StepDelta.GetStep(), t)
			}
			return nil
		}
		if p.firstAudio == 0 {
			p.firstAudio = time.Since(p.start)
			p.printf("%-12s first audio", e.StepDelta.GetStep())
		}
		if md := a.GetMetadata(); md.GetSourceText() != "" {
			text := rpcerr.Clip(strings.Join(strings.Fields(md.GetSourceText()), " "), 60)
			p.printf("%-12s segment %d, %.1f s: %q", e.StepDelta.GetStep(), md.GetIndex(), md.GetDurationSeconds(), text)
			p.setStep(e.StepDelta.GetStep(), stepRunning, fmt.Sprintf("segment %d, %.1f s: %q", md.GetIndex(), md.GetDurationSeconds(), text))
		}
	case *orchestratorv1.RunPipelineResponse_StepCompleted:
		s := e.StepCompleted
		p.printf("%-12s completed in %s%s", s.GetStep(), seconds(s.GetDuration().AsDuration()), describeUsage(s.GetUsage()))
		p.setStep(s.GetStep(), stepDone, "in "+seconds(s.GetDuration().AsDuration())+describeUsage(s.GetUsage()))
	case *orchestratorv1.RunPipelineResponse_RunFailed:
		if st := e.RunFailed.GetStep(); st != "" {
			p.setStep(st, stepFailed, e.RunFailed.GetCode()+": "+e.RunFailed.GetMessage())
		}
	}
	return nil
}

func (p *progress) setStep(step string, state stepState, detail string) {
	if p.live != nil {
		p.live.set(step, state, detail)
	}
}

func describeUsage(u *genaiv1.Usage) string {
	var parts []string
	if n := u.GetOutputTokens(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens", n))
	}
	if s := u.GetAudioSeconds(); s > 0 {
		parts = append(parts, fmt.Sprintf("%.1f s of audio", s))
	}
	if n := u.GetImages(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d images", n))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// extensions maps the MIME types Chorus produces to file extensions;
// mime.ExtensionsByType depends on the host's tables and has no text/vtt
// on many.
var extensions = map[string]string{
	"text/plain":       ".txt",
	"text/markdown":    ".md",
	"text/vtt":         ".vtt",
	"application/json": ".json",
	"audio/wav":        ".wav",
	"audio/x-wav":      ".wav",
	"audio/wave":       ".wav",
	"audio/mpeg":       ".mp3",
	"audio/ogg":        ".ogg",
	"image/png":        ".png",
	"image/jpeg":       ".jpg",
	"image/webp":       ".webp",
	"video/mp4":        ".mp4",
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName names an output's file after the output and its MIME type
// ("voiceover", "audio/wav" -> "voiceover.wav"), keeping the name inside
// the output directory and distinct from the names already used.
func fileName(name, mimeType string, index int, used map[string]bool) string {
	base := strings.Trim(unsafeName.ReplaceAllString(name, "_"), "._")
	if base == "" {
		base = fmt.Sprintf("output-%d", index+1)
	}
	ext := ".bin"
	if mt, _, err := mime.ParseMediaType(mimeType); err == nil {
		if e, ok := extensions[mt]; ok {
			ext = e
		} else if es, _ := mime.ExtensionsByType(mt); len(es) > 0 {
			ext = es[0]
		}
	}
	f := base + ext
	for n := 2; used[f]; n++ {
		f = fmt.Sprintf("%s-%d%s", base, n, ext)
	}
	used[f] = true
	return f
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// unreachable adds a hint to an error that means nothing answers at the
// gateway's address.
func unreachable(err error, gateway string) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("cannot reach the gateway at %s (is `chorus up` running? -gateway sets the URL): %w", gateway, err)
	}
	return err
}
