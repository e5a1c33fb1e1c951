// Package jaegerapi reads traces from Jaeger's HTTP query API (the JSON API
// its UI uses, on port 16686: /api/services, /api/traces/{id}) and checks
// that a pipeline run's trace has the shape Chorus promises: one root from
// the gateway, every other span's parent present, spans from the gateway,
// the orchestrator and the modality services, and GenAI attributes.
package jaegerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Client queries one Jaeger.
type Client struct {
	// BaseURL is the query API's address, e.g. http://127.0.0.1:16686.
	BaseURL string
	HTTP    *http.Client
}

// Trace is one trace as the query API returns it.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
}

// Span is one span of a Trace.
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	Tags          []KeyValue  `json:"tags"`
	ProcessID     string      `json:"processID"`
	StartTime     int64       `json:"startTime"` // microseconds since the epoch
	Duration      int64       `json:"duration"`  // microseconds
}

// Reference links a span to its parent (CHILD_OF) or a span it follows.
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// KeyValue is a span tag (an OpenTelemetry attribute).
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Process is the resource a span came from.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// Tag returns the value of the span's tag key, as text.
func (s Span) Tag(key string) (string, bool) {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return fmt.Sprint(kv.Value), true
		}
	}
	return "", false
}

// Parent returns the span's parent span id, or "" for a root span.
func (s Span) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" && r.TraceID == s.TraceID {
			return r.SpanID
		}
	}
	return ""
}

// Service returns the name of the service that recorded span s.
func (t Trace) Service(s Span) string { return t.Processes[s.ProcessID].ServiceName }

// Services returns the names of the services with spans in the trace, sorted.
func (t Trace) Services() []string {
	var names []string
	for _, s := range t.Spans {
		if n := t.Service(s); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func (c *Client) get(ctx context.Context, path string, q url.Values, v any) error {
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{URL: u, Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// StatusError is an answer other than 200 OK (404 for a trace Jaeger does
// not have yet).
type StatusError struct {
	URL  string
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.URL, e.Code, e.Body)
}

// ServiceNames lists the services Jaeger has spans from.
func (c *Client) ServiceNames(ctx context.Context) ([]string, error) {
	var r struct {
		Data []string `json:"data"`
	}
	if err := c.get(ctx, "/api/services", nil, &r); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Trace fetches one trace by its id (32 hex digits).
func (c *Client) Trace(ctx context.Context, traceID string) (Trace, error) {
	var r struct {
		Data []Trace `json:"data"`
	}
	if err := c.get(ctx, "/api/traces/"+url.PathEscape(traceID), nil, &r); err != nil {
		return Trace{}, err
	}
	if len(r.Data) != 1 {
		return Trace{}, fmt.Errorf("trace %s: %d traces in the answer, want 1", traceID, len(r.Data))
	}
	return r.Data[0], nil
}

// WaitTrace polls for the trace until ready says it is complete (spans
// arrive in batches, from each service on its own schedule) or ctx ends;
// it then returns the last version seen and, if ready never held, an
// error saying why.
func (c *Client) WaitTrace(ctx context.Context, traceID string, ready func(Trace) error) (Trace, error) {
	var (
		last    Trace
		lastErr error
	)
	for {
		t, err := c.Trace(ctx, traceID)
		if err == nil {
			last = t
			if err = ready(t); err == nil {
				return t, nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("trace %s not complete: %w", traceID, lastErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// RunWant is what a pipeline run's trace must contain.
type RunWant struct {
	// Services are the service names (service.name) that must have spans;
	// the first is the one the root span must come from.
	Services []string
	// Steps maps a step name to the service its calls must reach: every
	// "step NAME" span needs a descendant server span from that service.
	Steps map[string]string
}

// CheckRun returns what is wrong with t as the trace of one pipeline run:
// exactly one root span, from Services[0]; every parent present; spans from
// every service in Services; a "step NAME" span per step, with
// gen_ai.request.model and the token usage attributes, and below it a span
// of the step's service for a Generate or StreamGenerate call with
// gen_ai.operation.name and gen_ai.request.model.
// An empty result means the trace is right.
func CheckRun(t Trace, want RunWant) []string {
	var problems []string
	byID := map[string]Span{}
	for _, s := range t.Spans {
		byID[s.SpanID] = s
	}
	var roots []Span
	for _, s := range t.Spans {
		p := s.Parent()
		if p == "" {
			roots = append(roots, s)
			continue
		}
		if _, ok := byID[p]; !ok {
			problems = append(problems, fmt.Sprintf("span %q (%s) has parent %s, which is not in the trace", s.OperationName, t.Service(s), p))
		}
	}
	switch {
	case len(roots) != 1:
		var names []string
		for _, r := range roots {
			names = append(names, fmt.Sprintf("%q (%s)", r.OperationName, t.Service(r)))
		}
		problems = append(problems, fmt.Sprintf("%d root spans %v, want 1", len(roots), names))
	case len(want.Services) > 0 && t.Service(roots[0]) != want.Services[0]:
		problems = append(problems, fmt.Sprintf("root span %q is from %s, want %s", roots[0].OperationName, t.Service(roots[0]), want.Services[0]))
	}
	have := t.Services()
	for _, svc := range want.Services {
		if !slices.Contains(have, svc) {
			problems = append(problems, fmt.Sprintf("no span from %s (services: %v)", svc, have))
		}
	}
	// descends reports whether s is below ancestor.
	descends := func(s Span, ancestor string) bool {
		for range len(t.Spans) {
			p := s.Parent()
			if p == "" {
				return false
			}
			if p == ancestor {
				return true
			}
			var ok bool
			if s, ok = byID[p]; !ok {
				return false
			}
		}
		return false
	}
	for step, svc := range want.Steps {
		var steps []Span
		for _, s := range t.Spans {
			if s.OperationName == "step "+step {
				steps = append(steps, s)
			}
		}
		if len(steps) != 1 {
			problems = append(problems, fmt.Sprintf("%d spans named %q, want 1", len(steps), "step "+step))
			continue
		}
		st := steps[0]
		for _, k := range []string{"gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "chorus.step"} {
			if _, ok := st.Tag(k); !ok {
				problems = append(problems, fmt.Sprintf("span %q lacks %s", st.OperationName, k))
			}
		}
		var calls int
		for _, s := range t.Spans {
			if t.Service(s) != svc || !descends(s, st.SpanID) {
				continue
			}
			// The Generate calls (unary or streaming); a step may also
			// ask the service other things (ListModels) first.
			if kind, _ := s.Tag("span.kind"); kind != "server" || !strings.Contains(s.OperationName, "Generate") {
				continue
			}
			calls++
			op, _ := s.Tag("gen_ai.operation.name")
			model, _ := s.Tag("gen_ai.request.model")
			if op == "" || model == "" {
				problems = append(problems, fmt.Sprintf("%s span %q below %q: gen_ai.operation.name %q, gen_ai.request.model %q; want both set",
					svc, s.OperationName, st.OperationName, op, model))
			}
		}
		if calls == 0 {
			problems = append(problems, fmt.Sprintf("no server span from %s below %q", svc, st.OperationName))
		}
	}
	return problems
}
