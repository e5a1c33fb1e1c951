package jaegerapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// goodTrace is a run's trace as the suite leaves it, trimmed: the gateway's
// server span, the orchestrator's, a step span per step, and the text and
// audio services' server spans below them.
func goodTrace() Trace {
	kv := func(k, v string) KeyValue { return KeyValue{Key: k, Type: "string", Value: v} }
	span := func(id, parent, proc, op string, tags ...KeyValue) Span {
		s := Span{TraceID: "t1", SpanID: id, OperationName: op, ProcessID: proc, Tags: tags}
		if parent != "" {
			s.References = []Reference{{RefType: "CHILD_OF", TraceID: "t1", SpanID: parent}}
		}
		return s
	}
	genai := []KeyValue{kv("gen_ai.request.model", "m"), kv("gen_ai.usage.input_tokens", "3"), kv("gen_ai.usage.output_tokens", "9")}
	return Trace{
		TraceID: "t1",
		Processes: map[string]Process{
			"p1": {ServiceName: "gw"}, "p2": {ServiceName: "orch"}, "p3": {ServiceName: "text"}, "p4": {ServiceName: "audio"},
		},
		Spans: []Span{
			span("a", "", "p1", "POST", kv("span.kind", "server")),
			span("b", "a", "p1", "RunPipeline", kv("span.kind", "client")),
			span("c", "b", "p2", "RunPipeline", kv("span.kind", "server")),
			span("d", "c", "p2", "step script", append(genai, kv("chorus.step", "script"))...),
			span("e", "d", "p2", "StreamGenerate", kv("span.kind", "client")),
			span("f", "e", "p3", "chorus.genai.v1.TextService/StreamGenerate", kv("span.kind", "server"), kv("gen_ai.operation.name", "text.generate"), kv("gen_ai.request.model", "mini")),
			span("e2", "d", "p2", "chorus.genai.v1.TextService/ListModels", kv("span.kind", "client")),
			span("f2", "e2", "p3", "chorus.genai.v1.TextService/ListModels", kv("span.kind", "server")),
			span("g", "c", "p2", "step voiceover", append(genai, kv("chorus.step", "voiceover"))...),
			span("h", "g", "p2", "Generate", kv("span.kind", "client")),
			span("i", "h", "p4", "chorus.genai.v1.AudioService/Generate", kv("span.kind", "server"), kv("gen_ai.operation.name", "audio.generate"), kv("gen_ai.request.model", "flite")),
		},
	}
}

var want = RunWant{Services: []string{"gw", "orch", "text", "audio"}, Steps: map[string]string{"script": "text", "voiceover": "audio"}}

func TestCheckRun(t *testing.T) {
	drop := func(id string) func(*Trace) {
		return func(tr *Trace) {
			tr.Spans = slices.DeleteFunc(tr.Spans, func(s Span) bool { return s.SpanID == id })
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*Trace)
		want   string // in the problems; "" for none
	}{
		{name: "good", change: func(*Trace) {}},
		{name: "parent missing", change: drop("e"), want: "has parent e, which is not in the trace"},
		{name: "root from the wrong service", change: func(tr *Trace) {
			tr.Spans = tr.Spans[2:]
			tr.Spans[0].References = nil
		}, want: "root span \"RunPipeline\" is from orch, want gw"},
		{name: "two roots", change: func(tr *Trace) { tr.Spans[8].References = nil }, want: "2 root spans"},
		{name: "no audio spans", change: drop("i"), want: "no span from audio"},
		{name: "step span missing", change: func(tr *Trace) { tr.Spans[3].OperationName = "script" }, want: `0 spans named "step script"`},
		{name: "step without usage", change: func(tr *Trace) { tr.Spans[8].Tags = tr.Spans[8].Tags[:1] }, want: `"step voiceover" lacks gen_ai.usage.input_tokens`},
		{name: "service span without model", change: func(tr *Trace) { tr.Spans[10].Tags = tr.Spans[10].Tags[:2] }, want: `gen_ai.request.model ""`},
		{name: "text call below the wrong step", change: func(tr *Trace) {
			tr.Spans[4].References[0].SpanID = "g"
		}, want: `no server span from text below "step script"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := goodTrace()
			tc.change(&tr)
			got := strings.Join(CheckRun(tr, want), "\n")
			switch {
			case tc.want == "" && got != "":
				t.Errorf("problems in a good trace:\n%s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("problems:\n%s\nwant one with %q", got, tc.want)
			}
		})
	}
}

// A trace as Jaeger v2's query API (/api/traces/{id}) answers it, trimmed.
const traceJSON = `{"data":[{"traceID":"0af7651916cd43dd8448eb211c80319c","spans":[
 {"traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"b7ad6b7169203331","operationName":"POST","references":[],
  "startTime":1764495000000000,"duration":1200,"tags":[{"key":"span.kind","type":"string","value":"server"},{"key":"http.response.status_code","type":"int64","value":200}],"processID":"p1"},
 {"traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"00f067aa0ba902b7","operationName":"step script","references":[{"refType":"CHILD_OF","traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"b7ad6b7169203331"}],
  "startTime":1764495000000100,"duration":900,"tags":[{"key":"gen_ai.request.model","type":"string","value":"chorus-mini"}],"processID":"p2"}],
 "processes":{"p1":{"serviceName":"chorus-gateway","tags":[]},"p2":{"serviceName":"chorus-orchestrator","tags":[]}},"warnings":null}],
 "total":0,"limit":0,"offset":0,"errors":null}`

func TestClient(t *testing.T) {
	var polls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/services":
			_, _ = w.Write([]byte(`{"data":["chorus-gateway","chorus-orchestrator"],"total":2}`))
		case "/api/traces/0af7651916cd43dd8448eb211c80319c":
			// Not there on the first poll, as when spans are still in a
			// service's batch.
			if polls++; polls == 1 {
				http.Error(w, `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`, http.StatusNotFound)
				return
			}
			_, _ = w.Write([]byte(traceJSON))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	names, err := c.ServiceNames(ctx)
	if err != nil || !slices.Equal(names, []string{"chorus-gateway", "chorus-orchestrator"}) {
		t.Fatalf("ServiceNames = %q, %v", names, err)
	}
	tr, err := c.WaitTrace(ctx, "0af7651916cd43dd8448eb211c80319c", func(Trace) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if polls != 2 {
		t.Errorf("%d polls, want 2 (one 404, then the trace)", polls)
	}
	if len(tr.Spans) != 2 || tr.Spans[1].Parent() != "b7ad6b7169203331" || tr.Spans[0].Parent() != "" {
		t.Errorf("spans %+v", tr.Spans)
	}
	if got := tr.Services(); !slices.Equal(got, []string{"chorus-gateway", "chorus-orchestrator"}) {
		t.Errorf("Services = %q", got)
	}
	if v, ok := tr.Spans[0].Tag("http.response.status_code"); !ok || v != "200" {
		t.Errorf("status tag %q %v", v, ok)
	}
	if _, err := c.Trace(ctx, "ffffffffffffffffffffffffffffffff"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown trace: %v, want a 404 error", err)
	}
}
