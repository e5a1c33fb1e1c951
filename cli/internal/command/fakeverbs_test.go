package command

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chorus-ai/chorus/platform/wav"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// fakeTone is the speech the fake audio service returns: 0.25 s of a
// 16 kHz tone, streamed as two segments (fakeSegments), which the CLI
// joins into fakeWAV.
var fakeTone = func() wav.Audio {
	a := wav.Audio{Rate: 16000, Samples: make([]int16, 4000)}
	for i := range a.Samples {
		a.Samples[i] = int16(8000 * (i%40 - 20) / 20)
	}
	return a
}()

var (
	fakeWAV      = wav.Encode(fakeTone)
	fakeSegments = [][]byte{
		wav.Encode(wav.Audio{Rate: 16000, Samples: fakeTone.Samples[:1500]}),
		wav.Encode(wav.Audio{Rate: 16000, Samples: fakeTone.Samples[1500:]}),
	}
)

// Errors as the gateway writes them.
const (
	errModelNotFound = `{"code":5,"message":"no model named \"nope\"","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"MODEL_NOT_FOUND"}]}`
	errJobNotFound   = `{"code":5,"message":"no job \"nope\"","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"JOB_NOT_FOUND"}]}`
	errBadSpeed      = `{"code":3,"message":"audio.speed: must be 0.25..4","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"audio.speed","description":"must be 0.25..4"}]}]}`
	errUnavailable   = `{"code":14,"message":"the image service is unavailable","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"UPSTREAM_UNAVAILABLE"}]}`
)

// fakeVerbs answers the routes of generate and jobs the way the gateway
// does (shapes from proto/chorus/api.yaml), checking the requests; it
// reports whether it handled the route.
func fakeVerbs(tb testing.TB, w http.ResponseWriter, r *http.Request, firstSeen <-chan struct{}) bool {
	fail := func(status int, body string) bool {
		w.WriteHeader(status)
		io.WriteString(w, body)
		return true
	}
	decode := func() *genaiv1.GenerateRequest {
		b, _ := io.ReadAll(r.Body)
		req := &genaiv1.GenerateRequest{}
		if err := protojson.Unmarshal(b, req); err != nil {
			tb.Errorf("%s: body %s: %v", r.URL.Path, b, err)
		}
		return req
	}
	job := func(id, st string) string {
		return fmt.Sprintf(`{"id":%q,"pipeline":"script-then-voiceover","inputs":{"topic":"owls"},"state":%q,"createTime":"2026-11-30T10:00:00Z","eventCount":"3"}`, id, st)
	}
	switch p := r.URL.Path; {
	case p == "/v1/text:streamGenerate":
		req := decode()
		if req.GetModel() == "nope" {
			return fail(http.StatusNotFound, errModelNotFound)
		}
		if req.GetPrompt() != "Once upon" || req.GetText().GetMaxTokens() != 5 || req.GetText().Temperature == nil || req.GetText().GetTemperature() != 0 || req.GetText().GetSeed() != 7 {
			tb.Errorf("text request %v, want prompt \"Once upon\", maxTokens 5, temperature 0 (set), seed 7", req)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"result":{"delta":{"text":"Once upon"}}}`)
		w.(http.Flusher).Flush()
		if firstSeen != nil {
			select {
			case <-firstSeen:
			case <-time.After(10 * time.Second):
				tb.Errorf("the first delta did not reach stdout before the stream ended")
			}
		}
		fmt.Fprintln(w, `{"result":{"delta":{"text":" a time"}}}`)
		fmt.Fprintln(w, `{"result":{"done":{"model":"m1","artifacts":[{"mimeType":"text/plain","text":"Once upon a time"}],"usage":{"inputTokens":2,"outputTokens":3},"finishReason":"FINISH_REASON_LENGTH"}}}`)
	case p == "/v1/audio:streamGenerate":
		req := decode()
		if req.GetAudio().GetSpeed() > 4 {
			return fail(http.StatusBadRequest, errBadSpeed)
		}
		if req.GetPrompt() != "Hello there." || req.GetAudio().GetVoice() != "slt" {
			tb.Errorf("audio request %v, want prompt \"Hello there.\" and voice slt", req)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i, seg := range fakeSegments {
			fmt.Fprintf(w, `{"result":{"artifact":{"mimeType":"audio/wav","data":%q,"metadata":{"index":%d,"sampleRate":16000}}}}`+"\n", base64.StdEncoding.EncodeToString(seg), i)
		}
		fmt.Fprintln(w, `{"result":{"done":{"model":"flite","usage":{"audioSeconds":0.25}}}}`)
	case p == "/v1/image:streamGenerate":
		req := decode()
		if req.GetPrompt() == "busy" {
			w.Header().Set("Retry-After", "1")
			return fail(http.StatusServiceUnavailable, errUnavailable)
		}
		o := req.GetImage()
		if o.GetWidth() != 64 || o.GetHeight() != 48 || o.GetCount() != 2 || o.GetSeed() != 0 || o.Seed == nil {
			tb.Errorf("image options %v, want 64x48, count 2, seed 0 (set)", o)
		}
		var arts []string
		for i := range o.GetCount() {
			arts = append(arts, fmt.Sprintf(`{"mimeType":"image/png","data":%q,"metadata":{"width":64,"height":48,"seed":"%d"}}`,
				base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("\x89PNG-%d", i))), i+1))
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintf(w, `{"result":{"done":{"model":"painter","artifacts":[%s]}}}`+"\n", strings.Join(arts, ","))
	case p == "/v1/jobs" && r.Method == http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		req := &orchestratorv1.CreateJobRequest{}
		if err := protojson.Unmarshal(b, req); err != nil || req.GetName() != "script-then-voiceover" || req.GetInputs()["topic"] != "owls" {
			tb.Errorf("create job body %s (%v), want the pipeline's name and topic=owls", b, err)
		}
		if req.GetName() == "nope" {
			return fail(http.StatusNotFound, `{"code":5,"message":"no pipeline named \"nope\""}`)
		}
		fmt.Fprintf(w, `{"job":%s}`, job("j1", "JOB_STATE_QUEUED"))
	case p == "/v1/jobs":
		if got := r.URL.Query().Get("state"); got != "JOB_STATE_RUNNING" {
			tb.Errorf("list jobs state %q, want JOB_STATE_RUNNING", got)
		}
		fmt.Fprintf(w, `{"jobs":[%s,%s],"nextPageToken":"p2"}`, job("j2", "JOB_STATE_RUNNING"), job("j1", "JOB_STATE_RUNNING"))
	case p == "/v1/jobs/j1":
		fmt.Fprintf(w, `{"job":%s}`, strings.Replace(job("j1", "JOB_STATE_SUCCEEDED"), `"eventCount"`,
			`"outputs":[{"name":"script","artifact":{"mimeType":"text/plain","text":"Hello."}}],"eventCount"`, 1))
	case p == "/v1/jobs/j1:cancel" && r.Method == http.MethodPost:
		fmt.Fprintf(w, `{"job":%s}`, job("j1", "JOB_STATE_CANCELLED"))
	case p == "/v1/jobs/j1:watch", p == "/v1/jobs/j2:watch":
		w.Header().Set("Content-Type", "application/x-ndjson")
		end := `"runCompleted":{"duration":"1.5s","outputs":[{"name":"script","artifact":{"mimeType":"text/plain","text":"Hello."}}]}`
		if p == "/v1/jobs/j2:watch" {
			end = `"runFailed":{"step":"voiceover","code":"UNAVAILABLE","message":"the audio service is unavailable"}`
		}
		for i, e := range []string{
			`"stepStarted":{"step":"script","modality":"text"}`,
			`"stepCompleted":{"step":"script","duration":"1s","usage":{"outputTokens":2}}`,
			end,
		} {
			fmt.Fprintf(w, `{"result":{"sequence":"%d","event":{"runId":"j1",%s}}}`+"\n", i+1, e)
		}
	case strings.HasPrefix(p, "/v1/jobs/nope"):
		return fail(http.StatusNotFound, errJobNotFound)
	default:
		return false
	}
	return true
}
