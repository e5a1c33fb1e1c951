package e2e

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/cli/internal/stacktest"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/processtest"
)

// TestMetricsAfterTraffic sends text, audio and a pipeline run through the
// gateway of a suite started by `chorus up`, then scrapes every server's
// /metrics and checks that the traffic was counted where it happened.
func TestMetricsAfterTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the five servers and runs them as processes; run without -short")
	}
	bin := buildServers(t)
	fake := openaitest.New(openaitest.Options{Models: []string{"fake-llm"}, Deltas: []string{"One ", "sentence. ", "Two."}})
	t.Cleanup(fake.Close)
	s := startSuite(t, bin, processtest.HermeticEnv(t,
		"CHORUS_TEXT_OPENAI_BASE_URL="+fake.BaseURL,
		"CHORUS_TEXT_OPENAI_MODELS=fake-llm",
	))
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport, Timeout: time.Minute}

	for _, req := range []struct{ path, body string }{
		{"/v1/text:generate", `{"model":"fake-llm","prompt":"hi"}`},
		{"/v1/text:streamGenerate", `{"model":"fake-llm","prompt":"hi"}`},
		{"/v1/audio:generate", `{"prompt":"Hello from Chorus."}`},
	} {
		if code, body := post(t, hc, s.gateway+req.path, req.body); code != http.StatusOK {
			t.Fatalf("POST %s: HTTP %d: %.300s", req.path, code, body)
		}
	}
	if code, _ := post(t, hc, s.gateway+"/v1/audio:generate", `{"model":"no-such-voice","prompt":"hi"}`); code != http.StatusNotFound {
		t.Fatalf("unknown voice: HTTP %d, want 404", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := stacktest.RunPipeline(ctx, hc, s.gateway, "script-then-voiceover", map[string]string{"topic": "the sea"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := run.Completed(); !ok {
		t.Fatalf("run did not complete: %s", run.Summary())
	}

	type series struct {
		name   string
		labels []string
	}
	want := map[string][]series{
		"gateway": {
			{"http_server_request_duration_seconds_count", []string{`http_request_method="POST"`, `http_response_status_code="200"`, `http_route="/v1/text:generate"`}},
			{"http_server_request_duration_seconds_count", []string{`http_response_status_code="200"`, `http_route="/v1/pipelines/{name}:run"`}},
			{"http_server_request_duration_seconds_count", []string{`http_response_status_code="404"`}},
			{"rpc_client_call_duration_seconds_count", []string{`rpc_method="chorus.genai.v1.TextService/Generate"`, `rpc_response_status_code="OK"`}},
		},
		"text": {
			{"rpc_server_call_duration_seconds_count", []string{`rpc_method="chorus.genai.v1.TextService/Generate"`, `rpc_response_status_code="OK"`}},
			{"rpc_server_call_duration_seconds_count", []string{`rpc_method="chorus.genai.v1.TextService/StreamGenerate"`, `rpc_response_status_code="OK"`}},
			{"gen_ai_server_request_duration_seconds_count", []string{`gen_ai_request_model="fake-llm"`}},
			{"gen_ai_server_time_to_first_token_seconds_count", []string{`gen_ai_request_model="fake-llm"`}},
		},
		"audio": {
			{"rpc_server_call_duration_seconds_count", []string{`rpc_method="chorus.genai.v1.AudioService/Generate"`, `rpc_response_status_code="OK"`}},
			{"rpc_server_call_duration_seconds_count", []string{`rpc_method="chorus.genai.v1.AudioService/Generate"`, `rpc_response_status_code="NOT_FOUND"`}},
			{"gen_ai_server_time_to_first_token_seconds_count", []string{`gen_ai_operation_name="audio.generate"`}},
			{"chorus_genai_audio_duration_seconds_total", []string{`gen_ai_operation_name="audio.generate"`}},
		},
		"orchestrator": {
			{"rpc_server_call_duration_seconds_count", []string{`rpc_method="chorus.orchestrator.v1.OrchestratorService/RunPipeline"`, `rpc_response_status_code="OK"`}},
			{"chorus_pipeline_run_duration_seconds_count", []string{`chorus_pipeline="script-then-voiceover"`, `chorus_outcome="OK"`}},
			{"chorus_pipeline_step_duration_seconds_count", []string{`chorus_step="script"`, `chorus_modality="text"`, `chorus_outcome="OK"`}},
			{"chorus_pipeline_step_duration_seconds_count", []string{`chorus_step="voiceover"`, `chorus_modality="audio"`, `chorus_outcome="OK"`}},
		},
	}
	for server, all := range want {
		url := "http://" + s.addrs.MetricsAddr(server) + "/metrics"
		// A server records a call after its client has the answer: scrape
		// until the traffic is in.
		var body string
		missing := all
		for deadline := time.Now().Add(10 * time.Second); len(missing) > 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			body = scrape(t, hc, url)
			missing = nil
			for _, w := range all {
				if v, ok := sample(body, w.name, w.labels...); !ok || v <= 0 {
					missing = append(missing, w)
				}
			}
		}
		for _, w := range missing {
			t.Errorf("%s (%s): no %s{%s} above zero", server, url, w.name, strings.Join(w.labels, ","))
		}
		if len(missing) > 0 {
			t.Logf("%s scrape:\n%s", server, body)
		}
	}
}

func scrape(t *testing.T, hc *http.Client, url string) string {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}

// sample sums the values of the Prometheus text-format series name whose
// labels include every one of labels; ok is false if there is none.
func sample(body, name string, labels ...string) (sum float64, ok bool) {
next:
	for line := range strings.SplitSeq(body, "\n") {
		rest, found := strings.CutPrefix(line, name+"{")
		if !found {
			continue
		}
		set, value, found := strings.Cut(rest, "} ")
		if !found {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(set, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		sum, ok = sum+v, true
	}
	return sum, ok
}
