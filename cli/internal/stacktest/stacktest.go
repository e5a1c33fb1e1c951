// Package stacktest holds what the tests that run the whole suite (as
// containers or as processes) share: running a pipeline through the
// gateway's REST route and reading its NDJSON events, and the trace a
// run must leave in Jaeger.
package stacktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/chorus-ai/chorus/cli/internal/jaegerapi"
)

// Run is what one POST /v1/pipelines/{name}:run answered.
type Run struct {
	Status  int    // the HTTP status
	TraceID string // X-Trace-Id, the trace the gateway started
	// Events are the NDJSON lines' "result" objects, in order.
	Events []map[string]json.RawMessage
	// Error is the error line that ended the stream, or the whole body of
	// an answer that was not a stream (an error before the run began).
	Error *ErrorBody
	Body  []byte // the raw answer
}

// ErrorBody is the gateway's error body (google.rpc.Status in proto3 JSON).
type ErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type     string            `json:"@type"`
		Reason   string            `json:"reason"`
		Metadata map[string]string `json:"metadata"`
	} `json:"details"`
}

// Reasons lists the ErrorInfo reasons of the error.
func (e *ErrorBody) Reasons() []string {
	var rs []string
	for _, d := range e.Details {
		if d.Reason != "" {
			rs = append(rs, d.Reason)
		}
	}
	return rs
}

// Completed returns the runCompleted event, if the run completed.
func (r *Run) Completed() (json.RawMessage, bool) { return r.event("runCompleted") }

// Failed returns the runFailed event, if the run failed after it began.
func (r *Run) Failed() (json.RawMessage, bool) { return r.event("runFailed") }

func (r *Run) event(kind string) (json.RawMessage, bool) {
	for _, e := range r.Events {
		if v, ok := e[kind]; ok {
			return v, true
		}
	}
	return nil, false
}

// Steps returns the names of the steps that started, in order.
func (r *Run) Steps() []string {
	var steps []string
	for _, e := range r.Events {
		if v, ok := e["stepStarted"]; ok {
			var s struct {
				Step string `json:"step"`
			}
			if json.Unmarshal(v, &s) == nil {
				steps = append(steps, s.Step)
			}
		}
	}
	return steps
}

// Summary describes the answer in one line, for test logs.
func (r *Run) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d, %d events", r.Status, len(r.Events))
	if v, ok := r.Completed(); ok {
		fmt.Fprintf(&b, ", runCompleted %.200s", v)
	}
	if v, ok := r.Failed(); ok {
		fmt.Fprintf(&b, ", runFailed %s", v)
	}
	if r.Error != nil {
		fmt.Fprintf(&b, ", error code %d %q reasons %v", r.Error.Code, r.Error.Message, r.Error.Reasons())
	}
	return b.String()
}

// RunPipeline runs pipeline name through the gateway at gatewayURL with
// the inputs, reading the whole NDJSON stream. Headers are added to the
// request (Grpc-Timeout, for one). An error means no usable answer came.
func RunPipeline(ctx context.Context, hc *http.Client, gatewayURL, name string, inputs map[string]string, headers ...string) (*Run, error) {
	body, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		return nil, err
	}
	url := strings.TrimSuffix(gatewayURL, "/") + "/v1/pipelines/" + name + ":run"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: reading the answer: %w", url, err)
	}
	r := &Run{Status: resp.StatusCode, TraceID: resp.Header.Get("X-Trace-Id"), Body: raw}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		var e ErrorBody
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("POST %s: HTTP %d, %s, body not JSON: %.300s", url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
		r.Error = &e
		return r, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var msg struct {
			Result map[string]json.RawMessage `json:"result"`
			Error  *ErrorBody                 `json:"error"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			return nil, fmt.Errorf("POST %s: NDJSON line %.200q: %w", url, line, err)
		}
		if msg.Result != nil {
			r.Events = append(r.Events, msg.Result)
		}
		if msg.Error != nil {
			r.Error = msg.Error
		}
	}
	return r, sc.Err()
}

// ScriptThenVoiceover is what a script-then-voiceover run's trace must
// hold when the suite's services are named as platform/app names them:
// the gateway's root span, the orchestrator, text below step "script" and
// audio below step "voiceover".
var ScriptThenVoiceover = jaegerapi.RunWant{
	Services: []string{"chorus-gateway", "chorus-orchestrator", "chorus-text", "chorus-audio"},
	Steps:    map[string]string{"script": "chorus-text", "voiceover": "chorus-audio"},
}
