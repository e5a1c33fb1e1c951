// Package client is a REST client of the Chorus gateway, written as any user
// of the public HTTP API would write one: JSON in, JSON or NDJSON out.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// ErrIncompleteStream means a pipeline's event stream ended without
// run_completed or run_failed: the gateway or the connection went away.
var ErrIncompleteStream = errors.New("the event stream ended before the run finished")

// maxLine bounds one NDJSON line (an event can carry a whole WAV, base64).
const maxLine = 256 << 20

// Client calls one gateway.
type Client struct {
	base *url.URL
	http *http.Client
	// apiKey is sent as "Authorization: Bearer"; empty sends none.
	apiKey string
}

// SetAPIKey makes the client send key as its bearer token, for a gateway
// with API keys; an empty key sends none.
func (c *Client) SetAPIKey(key string) { c.apiKey = strings.TrimSpace(key) }

// New returns a client of the gateway at baseURL (for example
// "http://127.0.0.1:8080"). A nil hc uses http.DefaultClient; give one
// without a Timeout, since pipeline runs stream for as long as they take.
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway URL %q: want http://host:port", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, http: hc}, nil
}

// URL returns the absolute URL of path on the gateway.
func (c *Client) URL(path string) string {
	ref, err := url.Parse(path)
	if err != nil {
		return c.base.String() + path
	}
	return c.base.ResolveReference(ref).String()
}

// APIError is an HTTP error answer of the gateway: a google.rpc.Status in
// JSON, with the details a person needs to fix the request.
type APIError struct {
	// HTTPStatus is the response's status code (0 for an error line inside
	// a stream that had already started).
	HTTPStatus int
	// Code is the gRPC code, for example 3 (INVALID_ARGUMENT).
	Code int
	// Message says what was wrong.
	Message string
	// Reason is the google.rpc.ErrorInfo reason, for example
	// "MODEL_NOT_FOUND".
	Reason string
	// Violations are the google.rpc.BadRequest field violations.
	Violations []FieldViolation
	// Body is the raw body when it was not a status at all.
	Body string
}

// FieldViolation names one invalid field of a request.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	} else {
		b.WriteString("stream error")
	}
	switch {
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case e.Body != "":
		b.WriteString(": " + e.Body)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " [%s]", e.Reason)
	}
	for _, v := range e.Violations {
		// The message already names the first violation; list them all
		// when there are several.
		if len(e.Violations) > 1 {
			fmt.Fprintf(&b, "\n  %s: %s", v.Field, v.Description)
		}
	}
	return b.String()
}

// rpcStatus is google.rpc.Status as the gateway writes it. It is decoded
// with encoding/json, not protojson, so that a detail type this client
// does not know does not hide the message.
type rpcStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string           `json:"@type"`
		Reason          string           `json:"reason"`
		FieldViolations []FieldViolation `json:"fieldViolations"`
	} `json:"details"`
}

func (s *rpcStatus) apiError(httpStatus int) *APIError {
	e := &APIError{HTTPStatus: httpStatus, Code: s.Code, Message: s.Message}
	for _, d := range s.Details {
		switch {
		case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo"):
			e.Reason = d.Reason
		case strings.HasSuffix(d.Type, "google.rpc.BadRequest"):
			e.Violations = append(e.Violations, d.FieldViolations...)
		}
	}
	return e
}

func readAPIError(resp *http.Response) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st rpcStatus
	if err := json.Unmarshal(body, &st); err != nil || (st.Code == 0 && st.Message == "") {
		return &APIError{HTTPStatus: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return st.apiError(resp.StatusCode)
}

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// do sends a request with an optional proto body and returns the response
// when it is 2xx, else an *APIError.
func (c *Client) do(ctx context.Context, method, path string, body proto.Message) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL(path), r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return resp, nil
}

func (c *Client) get(ctx context.Context, path string, out proto.Message) error {
	return c.call(ctx, http.MethodGet, path, nil, out)
}

// call sends a unary request and decodes the answer into out.
func (c *Client) call(ctx context.Context, method, path string, body, out proto.Message) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := unmarshal.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// ListPipelines returns the pipelines the orchestrator can run.
func (c *Client) ListPipelines(ctx context.Context) ([]*orchestratorv1.Pipeline, error) {
	var out orchestratorv1.ListPipelinesResponse
	if err := c.get(ctx, "/v1/pipelines", &out); err != nil {
		return nil, err
	}
	return out.GetPipelines(), nil
}

// ListModels returns the models of one modality: "text", "image" or
// "audio".
func (c *Client) ListModels(ctx context.Context, modality string) ([]*genaiv1.Model, error) {
	var out genaiv1.ListModelsResponse
	if err := c.get(ctx, "/v1/"+url.PathEscape(modality)+"/models", &out); err != nil {
		return nil, err
	}
	return out.GetModels(), nil
}

// RunFailedError is a run that started and then failed (run_failed).
type RunFailedError struct {
	// Event is the run_failed event.
	Event *orchestratorv1.RunFailed
}

func (e *RunFailedError) Error() string {
	ev := e.Event
	msg := "run failed"
	if ev.GetStep() != "" {
		msg += " in step " + ev.GetStep()
	}
	if ev.GetCode() != "" {
		msg += " (" + ev.GetCode() + ")"
	}
	if ev.GetMessage() != "" {
		msg += ": " + ev.GetMessage()
	}
	return msg
}

// streamLine is one line of a grpc-gateway server stream.
type streamLine struct {
	Result json.RawMessage `json:"result"`
	Error  *rpcStatus      `json:"error"`
}

// RunPipeline runs a pipeline through POST /v1/pipelines/{name}:run and
// calls onEvent (when not nil) with every event as it arrives, the last
// one included. It returns the run_completed event; a run that failed is a
// *RunFailedError, a request the gateway refused an *APIError, and a
// stream cut short wraps ErrIncompleteStream.
func (c *Client) RunPipeline(ctx context.Context, name string, inputs map[string]string, onEvent func(*orchestratorv1.RunPipelineResponse) error) (*orchestratorv1.RunCompleted, error) {
	// The name travels in the path; the body holds the inputs only.
	resp, err := c.do(ctx, http.MethodPost, "/v1/pipelines/"+url.PathEscape(name)+":run", &orchestratorv1.RunPipelineRequest{Inputs: inputs})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var done *orchestratorv1.RunCompleted
	err = readStream(ctx, resp.Body, func() *orchestratorv1.RunPipelineResponse { return &orchestratorv1.RunPipelineResponse{} },
		func(ev *orchestratorv1.RunPipelineResponse) (bool, error) {
			if onEvent != nil {
				if err := onEvent(ev); err != nil {
					return true, err
				}
			}
			var err error
			done, err = runEnd(ev)
			return done != nil || err != nil, err
		})
	return done, err
}

// runEnd returns the run_completed event, a *RunFailedError for
// run_failed, or neither for the events in between.
func runEnd(ev *orchestratorv1.RunPipelineResponse) (*orchestratorv1.RunCompleted, error) {
	switch e := ev.GetEvent().(type) {
	case *orchestratorv1.RunPipelineResponse_RunCompleted:
		return e.RunCompleted, nil
	case *orchestratorv1.RunPipelineResponse_RunFailed:
		return nil, &RunFailedError{Event: e.RunFailed}
	}
	return nil, nil
}

// readStream reads a grpc-gateway NDJSON stream, decoding each result
// into a message from newMsg and passing it to onMsg until onMsg says the
// stream is done. A stream that ends before that wraps
// ErrIncompleteStream; an error line is an *APIError.
func readStream[M proto.Message](ctx context.Context, r io.Reader, newMsg func() M, onMsg func(M) (done bool, err error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l streamLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("malformed event line: %w", err)
		}
		if l.Error != nil {
			return l.Error.apiError(0)
		}
		raw := l.Result
		if raw == nil {
			// Not wrapped: accept a bare message too.
			raw = line
		}
		m := newMsg()
		if err := unmarshal.Unmarshal(raw, m); err != nil {
			return fmt.Errorf("malformed event: %w", err)
		}
		done, err := onMsg(m)
		if err != nil || done {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrIncompleteStream, err)
	}
	return ErrIncompleteStream
}

// Generate asks one modality service ("text", "image" or "audio") for a
// complete generation: POST /v1/{modality}:generate.
func (c *Client) Generate(ctx context.Context, modality string, req *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	var out genaiv1.GenerateResponse
	if err := c.call(ctx, http.MethodPost, "/v1/"+url.PathEscape(modality)+":generate", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StreamGenerate streams a generation through POST
// /v1/{modality}:streamGenerate, calling onChunk with every chunk as it
// arrives, and returns the final chunk's response.
func (c *Client) StreamGenerate(ctx context.Context, modality string, req *genaiv1.GenerateRequest, onChunk func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	resp, err := c.do(ctx, http.MethodPost, "/v1/"+url.PathEscape(modality)+":streamGenerate", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var done *genaiv1.GenerateResponse
	err = readStream(ctx, resp.Body, func() *genaiv1.GenerateChunk { return &genaiv1.GenerateChunk{} },
		func(ch *genaiv1.GenerateChunk) (bool, error) {
			if onChunk != nil {
				if err := onChunk(ch); err != nil {
					return true, err
				}
			}
			done = ch.GetDone()
			return done != nil, nil
		})
	return done, err
}

// CreateJob starts a pipeline run in the background: POST /v1/jobs.
func (c *Client) CreateJob(ctx context.Context, req *orchestratorv1.CreateJobRequest) (*orchestratorv1.Job, error) {
	var out orchestratorv1.CreateJobResponse
	if err := c.call(ctx, http.MethodPost, "/v1/jobs", req, &out); err != nil {
		return nil, err
	}
	return out.GetJob(), nil
}

// GetJob returns one job, with its outputs once it succeeded.
func (c *Client) GetJob(ctx context.Context, id string) (*orchestratorv1.Job, error) {
	var out orchestratorv1.GetJobResponse
	if err := c.call(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return out.GetJob(), nil
}

// CancelJob asks for a job to be cancelled and returns it.
func (c *Client) CancelJob(ctx context.Context, id string) (*orchestratorv1.Job, error) {
	var out orchestratorv1.CancelJobResponse
	if err := c.call(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+":cancel", &orchestratorv1.CancelJobRequest{}, &out); err != nil {
		return nil, err
	}
	return out.GetJob(), nil
}

// ListJobs returns one page of jobs, newest first. A zero state or an
// empty pipeline means any.
func (c *Client) ListJobs(ctx context.Context, req *orchestratorv1.ListJobsRequest) (*orchestratorv1.ListJobsResponse, error) {
	q := url.Values{}
	if req.GetPageSize() > 0 {
		q.Set("pageSize", fmt.Sprint(req.GetPageSize()))
	}
	if req.GetPageToken() != "" {
		q.Set("pageToken", req.GetPageToken())
	}
	if req.GetState() != orchestratorv1.JobState_JOB_STATE_UNSPECIFIED {
		q.Set("state", req.GetState().String())
	}
	if req.GetPipeline() != "" {
		q.Set("pipeline", req.GetPipeline())
	}
	path := "/v1/jobs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out orchestratorv1.ListJobsResponse
	if err := c.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WatchJob streams a job's events, the past ones first, through GET
// /v1/jobs/{id}:watch, calling onEvent with each. It returns when the job
// has ended: the run_completed event, or a *RunFailedError.
func (c *Client) WatchJob(ctx context.Context, id string, onEvent func(*orchestratorv1.WatchJobResponse) error) (*orchestratorv1.RunCompleted, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+":watch", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var done *orchestratorv1.RunCompleted
	err = readStream(ctx, resp.Body, func() *orchestratorv1.WatchJobResponse { return &orchestratorv1.WatchJobResponse{} },
		func(w *orchestratorv1.WatchJobResponse) (bool, error) {
			if onEvent != nil {
				if err := onEvent(w); err != nil {
					return true, err
				}
			}
			var err error
			done, err = runEnd(w.GetEvent())
			return done != nil || err != nil, err
		})
	return done, err
}

// Content returns an artifact's bytes: inline data or text, or fetched
// from its URI (relative URIs are resolved against the gateway).
func (c *Client) Content(ctx context.Context, a *genaiv1.Artifact) ([]byte, error) {
	switch content := a.GetContent().(type) {
	case *genaiv1.Artifact_Data:
		return content.Data, nil
	case *genaiv1.Artifact_Text:
		return []byte(content.Text), nil
	case *genaiv1.Artifact_Uri:
		resp, err := c.do(ctx, http.MethodGet, content.Uri, nil)
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", content.Uri, err)
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	return nil, errors.New("the artifact has no content")
}
