package command

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/cli/internal/client"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

var jobVerbs = []subcommand{
	{name: "create", summary: "start a pipeline run in the background (like run -async)", run: jobsCreate},
	{name: "list", summary: "list jobs, newest first", run: jobsList},
	{name: "get", summary: "show one job; -out writes its outputs", run: jobsGet},
	{name: "watch", summary: "follow a job's events until it ends; -out writes its outputs", run: jobsWatch},
	{name: "cancel", summary: "cancel a job", run: jobsCancel},
}

// Jobs runs `chorus jobs create|list|get|watch|cancel`.
func Jobs(ctx context.Context, env Env, args []string) error {
	return dispatch(ctx, env, "jobs", "create|list|get|watch|cancel [ID] [flags]", jobVerbs, args)
}

func jobsCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "jobs create", "PIPELINE [-input name=value ...] [flags]",
		"Starts a pipeline run as a background job (POST /v1/jobs) and prints its id.\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	inputs := inputsFlag{}
	fs.Var(inputs, "input", "a pipeline input as `name=value`; repeat for several")
	requestID := fs.String("request-id", "", "a key of your choosing: the same key again returns the same job")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(env, fs, "want exactly one pipeline name, got %q", pos)
	}
	return createJob(ctx, env, *gateway, &orchestratorv1.CreateJobRequest{Name: pos[0], Inputs: inputs, RequestId: *requestID}, *asJSON)
}

// createJob starts a job and prints it.
func createJob(ctx context.Context, env Env, gateway string, req *orchestratorv1.CreateJobRequest, asJSON bool) error {
	c, closeConns, err := newClient(env, gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	job, err := c.CreateJob(ctx, req)
	if err != nil {
		return unreachable(err, gateway)
	}
	if asJSON {
		return writeJSON(env.Stdout, job)
	}
	fmt.Fprintln(env.Stdout, job.GetId())
	fmt.Fprintf(env.Stderr, "job %s: %s %s; `chorus jobs watch %s` follows it\n", job.GetId(), job.GetPipeline(), state(job.GetState()), job.GetId())
	return nil
}

// state is a job state without its prefix, in lower case: "running".
func state(s orchestratorv1.JobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

// parseState reads -state: "running" or "JOB_STATE_RUNNING".
func parseState(s string) (orchestratorv1.JobState, bool) {
	if s == "" {
		return orchestratorv1.JobState_JOB_STATE_UNSPECIFIED, true
	}
	v, ok := orchestratorv1.JobState_value["JOB_STATE_"+strings.TrimPrefix(strings.ToUpper(s), "JOB_STATE_")]
	return orchestratorv1.JobState(v), ok
}

func jobsList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "jobs list", "[flags]", "Lists jobs, newest first (GET /v1/jobs).\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	stateFlag := fs.String("state", "", "only jobs in this state: queued, running, succeeded, failed or cancelled")
	pipeline := fs.String("pipeline", "", "only jobs of this pipeline")
	limit := fs.Int("limit", 0, "most jobs to list, 1..100 (default 20)")
	pageToken := fs.String("page-token", "", "the next page, from the previous list")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(env, fs, "unexpected arguments %q", pos)
	}
	st, ok := parseState(*stateFlag)
	if !ok {
		return usageError(env, fs, "-state %q: want queued, running, succeeded, failed or cancelled", *stateFlag)
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	resp, err := c.ListJobs(ctx, &orchestratorv1.ListJobsRequest{PageSize: int32(*limit), PageToken: *pageToken, State: st, Pipeline: *pipeline})
	if err != nil {
		return unreachable(err, *gateway)
	}
	if *asJSON {
		return writeJSON(env.Stdout, resp)
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPIPELINE\tSTATE\tCREATED\tEVENTS")
	for _, j := range resp.GetJobs() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", j.GetId(), j.GetPipeline(), state(j.GetState()), when(j.GetCreateTime()), j.GetEventCount())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if t := resp.GetNextPageToken(); t != "" {
		fmt.Fprintf(env.Stderr, "more: chorus jobs list -page-token %s\n", t)
	}
	return nil
}

// when formats a timestamp in local time, or "-" when unset.
func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Local().Format(time.DateTime)
}

// jobID parses the flags of a verb that takes one job id.
func jobID(env Env, fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parse(env, fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usageError(env, fs, "want exactly one job id, got %q", pos)
	}
	return pos[0], nil
}

func jobsGet(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "jobs get", "ID [flags]", "Shows one job (GET /v1/jobs/{id}); with -out, writes the outputs of a\nsucceeded job there.\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	out := fs.String("out", "", "directory to write a succeeded job's outputs to")
	asJSON := jsonFlag(fs)
	id, err := jobID(env, fs, args)
	if err != nil {
		return err
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	job, err := c.GetJob(ctx, id)
	if err != nil {
		return unreachable(err, *gateway)
	}
	var saved []savedOutput
	if *out != "" && len(job.GetOutputs()) > 0 {
		if saved, err = saveOutputs(ctx, c, job.GetOutputs(), *out); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(env.Stdout, job)
	}
	fmt.Fprintf(env.Stdout, "job       %s\npipeline  %s\nstate     %s\n", job.GetId(), job.GetPipeline(), state(job.GetState()))
	inputs := job.GetInputs()
	for _, k := range slices.Sorted(maps.Keys(inputs)) {
		fmt.Fprintf(env.Stdout, "input     %s=%q\n", k, inputs[k])
	}
	fmt.Fprintf(env.Stdout, "created   %s\nstarted   %s\nended     %s\nevents    %d\n", when(job.GetCreateTime()), when(job.GetStartTime()), when(job.GetEndTime()), job.GetEventCount())
	if f := job.GetFailure(); f != nil {
		fmt.Fprintf(env.Stdout, "failure   %s\n", (&client.RunFailedError{Event: f}).Error())
	}
	for _, o := range job.GetOutputs() {
		a := o.GetArtifact()
		where := "inline"
		if u := a.GetUri(); u != "" {
			where = u
		}
		fmt.Fprintf(env.Stdout, "output    %s (%s, %s)\n", o.GetName(), a.GetMimeType(), where)
	}
	printSaved(env.Stdout, saved)
	return nil
}

func jobsWatch(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "jobs watch", "ID [flags]",
		"Follows a job's events (GET /v1/jobs/{id}:watch): the past ones, then the rest as they\n"+
			"happen, until the job ends; like `chorus run`, one live line per step on a terminal.\n"+
			"With -out, writes the outputs of a job that succeeded. With --json, the events as\n"+
			"NDJSON. Exits 1 when the job failed or was cancelled.\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	out := fs.String("out", "", "directory to write the outputs to once the job succeeded")
	quiet := fs.Bool("q", false, "print only the end")
	asJSON := jsonFlag(fs)
	id, err := jobID(env, fs, args)
	if err != nil {
		return err
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	p := newProgress(env, *quiet || *asJSON)
	p.printf("watching job %s on %s", id, *gateway)
	done, err := c.WatchJob(ctx, id, func(w *orchestratorv1.WatchJobResponse) error {
		if *asJSON {
			return writeJSON(env.Stdout, w)
		}
		return p.event(w.GetEvent())
	})
	p.close()
	if err != nil {
		return unreachable(err, *gateway)
	}
	var saved []savedOutput
	if *out != "" {
		if saved, err = saveOutputs(ctx, c, done.GetOutputs(), *out); err != nil {
			return err
		}
	}
	if !*asJSON {
		fmt.Fprintf(env.Stdout, "job %s completed in %s\n", id, seconds(done.GetDuration().AsDuration()))
		printSaved(env.Stdout, saved)
	}
	return nil
}

func jobsCancel(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "jobs cancel", "ID [flags]", "Cancels a job (POST /v1/jobs/{id}:cancel) and prints its state.\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	asJSON := jsonFlag(fs)
	id, err := jobID(env, fs, args)
	if err != nil {
		return err
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	job, err := c.CancelJob(ctx, id)
	if err != nil {
		return unreachable(err, *gateway)
	}
	if *asJSON {
		return writeJSON(env.Stdout, job)
	}
	fmt.Fprintf(env.Stdout, "job %s: %s\n", job.GetId(), state(job.GetState()))
	return nil
}
