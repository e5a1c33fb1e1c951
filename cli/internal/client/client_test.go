package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer serves h and returns a client of it.
func newTestServer(tb testing.TB, h http.HandlerFunc) *Client {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	c, err := New(srv.URL, srv.Client())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func event(tb testing.TB, ev *orchestratorv1.RunPipelineResponse) string {
	tb.Helper()
	b, err := protojson.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return `{"result":` + string(b) + "}\n"
}

func TestRunPipeline(t *testing.T) {
	started := event(t, &orchestratorv1.RunPipelineResponse{RunId: "r1", Event: &orchestratorv1.RunPipelineResponse_StepStarted{StepStarted: &orchestratorv1.StepStarted{Step: "script"}}})
	completed := event(t, &orchestratorv1.RunPipelineResponse{RunId: "r1", Event: &orchestratorv1.RunPipelineResponse_RunCompleted{RunCompleted: &orchestratorv1.RunCompleted{
		Outputs: []*orchestratorv1.RunOutput{{Name: "script", Artifact: &genaiv1.Artifact{MimeType: "text/plain", Content: &genaiv1.Artifact_Text{Text: "Hi."}}}},
	}}})
	failed := event(t, &orchestratorv1.RunPipelineResponse{RunId: "r1", Event: &orchestratorv1.RunPipelineResponse_RunFailed{RunFailed: &orchestratorv1.RunFailed{Step: "voiceover", Code: "UNAVAILABLE", Message: "audio is down"}}})

	for _, tc := range []struct {
		name       string
		status     int
		body       string
		wantEvents int
		wantErr    string
		wantIs     error
	}{
		{name: "completed", status: 200, body: started + "\n" + completed, wantEvents: 2},
		{name: "bare events", status: 200, body: strings.TrimPrefix(strings.TrimSuffix(completed, "}\n"), `{"result":`) + "\n", wantEvents: 1},
		{name: "run failed", status: 200, body: started + failed, wantEvents: 2, wantErr: "run failed in step voiceover (UNAVAILABLE): audio is down"},
		{name: "cut short", status: 200, body: started, wantEvents: 1, wantIs: ErrIncompleteStream},
		{name: "error line", status: 200, body: started + `{"error":{"code":14,"message":"orchestrator unavailable"}}` + "\n", wantEvents: 1, wantErr: "stream error: orchestrator unavailable"},
		{name: "malformed line", status: 200, body: "{not json\n", wantErr: "malformed event line"},
		{
			name:    "refused",
			status:  400,
			body:    `{"code":3,"message":"invalid inputs.topic: is required","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_ARGUMENT","domain":"chorus.ai"},{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"inputs.topic","description":"is required"}]}]}`,
			wantErr: "HTTP 400: invalid inputs.topic: is required [INVALID_ARGUMENT]",
		},
		{name: "not a status", status: 502, body: "Bad Gateway", wantErr: "HTTP 502: Bad Gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/pipelines/script-then-voiceover:run" {
					http.Error(w, "wrong route "+r.URL.Path, http.StatusTeapot)
					return
				}
				body, _ := io.ReadAll(r.Body)
				if !strings.Contains(string(body), `"topic":"owls"`) {
					http.Error(w, "wrong body "+string(body), http.StatusTeapot)
					return
				}
				w.Header().Set("Content-Type", "application/x-ndjson")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			var events int
			done, err := c.RunPipeline(context.Background(), "script-then-voiceover", map[string]string{"topic": "owls"}, func(*orchestratorv1.RunPipelineResponse) error {
				events++
				return nil
			})
			if events != tc.wantEvents {
				t.Errorf("saw %d events, want %d", events, tc.wantEvents)
			}
			switch {
			case tc.wantIs != nil:
				if !errors.Is(err, tc.wantIs) {
					t.Fatalf("err = %v, want %v", err, tc.wantIs)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got := done.GetOutputs()[0].GetArtifact().GetText(); got != "Hi." {
					t.Errorf("script = %q", got)
				}
			}
		})
	}
}

func TestAPIErrorDetails(t *testing.T) {
	c := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"code":3,"message":"invalid prompt: is required (and 1 more)","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"prompt","description":"is required"},{"field":"audio.speed","description":"must be 0.25 to 4"}]},{"@type":"type.googleapis.com/some.Unknown","x":1}]}`)
	})
	_, err := c.ListModels(context.Background(), "audio")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if apiErr.HTTPStatus != 400 || apiErr.Code != 3 || len(apiErr.Violations) != 2 {
		t.Errorf("got %+v", apiErr)
	}
	if !strings.Contains(err.Error(), "\n  audio.speed: must be 0.25 to 4") {
		t.Errorf("Error() = %q, want every violation listed", err)
	}
}

func TestListAndContent(t *testing.T) {
	c := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/pipelines":
			fmt.Fprint(w, `{"pipelines":[{"name":"script-then-voiceover","inputs":[{"name":"topic","required":true}],"futureField":1}]}`)
		case "/v1/text/models":
			fmt.Fprint(w, `{"models":[{"name":"fake-model","backend":"openai","default":true}]}`)
		case "/v1/artifacts/a1":
			fmt.Fprint(w, "RIFF")
		default:
			http.NotFound(w, r)
		}
	})
	ctx := context.Background()
	ps, err := c.ListPipelines(ctx)
	if err != nil || len(ps) != 1 || ps[0].GetName() != "script-then-voiceover" {
		t.Fatalf("ListPipelines = %v, %v", ps, err)
	}
	ms, err := c.ListModels(ctx, "text")
	if err != nil || len(ms) != 1 || !ms[0].GetDefault() {
		t.Fatalf("ListModels = %v, %v", ms, err)
	}
	for _, tc := range []struct {
		name string
		a    *genaiv1.Artifact
		want string
	}{
		{name: "text", a: &genaiv1.Artifact{Content: &genaiv1.Artifact_Text{Text: "hello"}}, want: "hello"},
		{name: "data", a: &genaiv1.Artifact{Content: &genaiv1.Artifact_Data{Data: []byte("bytes")}}, want: "bytes"},
		{name: "relative uri", a: &genaiv1.Artifact{Content: &genaiv1.Artifact_Uri{Uri: "/v1/artifacts/a1"}}, want: "RIFF"},
	} {
		got, err := c.Content(ctx, tc.a)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: Content = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := c.Content(ctx, &genaiv1.Artifact{}); err == nil {
		t.Error("Content of an empty artifact succeeded")
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := New(u, nil); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestJobCalls(t *testing.T) {
	var got []string
	c := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+string(body))
		switch r.URL.Path {
		case "/v1/jobs/j1:watch":
			fmt.Fprintln(w, `{"result":{"sequence":"1","event":{"runId":"j1","stepStarted":{"step":"script"}}}}`)
			fmt.Fprintln(w, `{"result":{"sequence":"2","event":{"runId":"j1","runCompleted":{"duration":"2s"}}}}`)
			fmt.Fprintln(w, `{"result":{"sequence":"3","event":{"runId":"j1","stepStarted":{"step":"after the end"}}}}`)
		case "/v1/jobs/j2:watch":
			fmt.Fprintln(w, `{"result":{"sequence":"1","event":{"runId":"j2","stepStarted":{"step":"script"}}}}`)
			fmt.Fprintln(w, `{"error":{"code":14,"message":"the orchestrator went away"}}`)
		default:
			fmt.Fprint(w, `{"job":{"id":"j1","state":"JOB_STATE_RUNNING"},"jobs":[{"id":"j1"}],"nextPageToken":"n"}`)
		}
	})
	ctx := context.Background()
	if j, err := c.CreateJob(ctx, &orchestratorv1.CreateJobRequest{Name: "p", Inputs: map[string]string{"topic": "owls"}, RequestId: "k"}); err != nil || j.GetId() != "j1" {
		t.Errorf("CreateJob = %v, %v", j, err)
	}
	if j, err := c.GetJob(ctx, "j 1"); err != nil || j.GetState() != orchestratorv1.JobState_JOB_STATE_RUNNING {
		t.Errorf("GetJob = %v, %v", j, err)
	}
	if j, err := c.CancelJob(ctx, "j1"); err != nil || j.GetId() != "j1" {
		t.Errorf("CancelJob = %v, %v", j, err)
	}
	if l, err := c.ListJobs(ctx, &orchestratorv1.ListJobsRequest{PageSize: 5, PageToken: "t", State: orchestratorv1.JobState_JOB_STATE_FAILED, Pipeline: "p"}); err != nil || l.GetNextPageToken() != "n" || len(l.GetJobs()) != 1 {
		t.Errorf("ListJobs = %v, %v", l, err)
	}
	var seqs []int64
	done, err := c.WatchJob(ctx, "j1", func(w *orchestratorv1.WatchJobResponse) error {
		seqs = append(seqs, w.GetSequence())
		return nil
	})
	// The watch ends at run_completed: a line after it is not read.
	if err != nil || done.GetDuration().AsDuration().Seconds() != 2 || fmt.Sprint(seqs) != "[1 2]" {
		t.Errorf("WatchJob = %v, %v after %v", done, err, seqs)
	}
	_, err = c.WatchJob(ctx, "j2", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 14 || apiErr.HTTPStatus != 0 {
		t.Errorf("WatchJob with an error line = %v, want an *APIError with code 14", err)
	}
	want := []string{
		`POST /v1/jobs {"name":"p","inputs":{"topic":"owls"},"requestId":"k"}`,
		`GET /v1/jobs/j%201 `,
		`POST /v1/jobs/j1:cancel {}`,
		`GET /v1/jobs?pageSize=5&pageToken=t&pipeline=p&state=JOB_STATE_FAILED `,
		`GET /v1/jobs/j1:watch `,
		`GET /v1/jobs/j2:watch `,
	}
	for i := range want {
		// protojson may space its output: compare without spaces.
		if i >= len(got) || strings.ReplaceAll(got[i], " ", "") != strings.ReplaceAll(want[i], " ", "") {
			t.Errorf("request %d = %q, want %q", i, got, want[i])
		}
	}
}

func TestStreamGenerate(t *testing.T) {
	c := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/text:streamGenerate" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `{"result":{"delta":{"text":"Hel"}}}`)
		fmt.Fprintln(w, `{"result":{"delta":{"text":"lo"}}}`)
		fmt.Fprintln(w, `{"result":{"done":{"model":"m","usage":{"outputTokens":2}}}}`)
	})
	var text strings.Builder
	done, err := c.StreamGenerate(context.Background(), "text", &genaiv1.GenerateRequest{Prompt: "hi"}, func(ch *genaiv1.GenerateChunk) error {
		text.WriteString(ch.GetDelta().GetText())
		return nil
	})
	if err != nil || text.String() != "Hello" || done.GetModel() != "m" || done.GetUsage().GetOutputTokens() != 2 {
		t.Errorf("StreamGenerate = %v, %v, text %q", done, err, text.String())
	}
	_, err = c.StreamGenerate(context.Background(), "image", &genaiv1.GenerateRequest{Prompt: "hi"}, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusNotFound {
		t.Errorf("StreamGenerate on a missing route = %v, want a 404 *APIError", err)
	}
}

func TestAPIKeyIsSent(t *testing.T) {
	for _, tc := range []struct {
		name, key, want string
	}{
		{name: "no key sends no header", key: "", want: ""},
		{name: "key as bearer", key: " secret-key-0123456789 ", want: "Bearer secret-key-0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			c := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"pipelines": []}`)
			})
			c.SetAPIKey(tc.key)
			if _, err := c.ListPipelines(context.Background()); err != nil {
				t.Fatal(err)
			}
			if h := <-got; h != tc.want {
				t.Errorf("Authorization %q, want %q", h, tc.want)
			}
		})
	}
}
