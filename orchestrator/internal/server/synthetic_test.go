package server

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

const personSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}},"required":["name","age"]}`

// recordWriter fakes a text service that writes one record per call,
// keyed by the call's seed: some valid, one a duplicate, one not JSON, one
// against the schema (a backend that does not enforce it).
type recordWriter struct {
	mu   sync.Mutex
	reqs []*genaiv1.GenerateRequest
}

func (w *recordWriter) service() *genaitest.Service {
	return &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		w.mu.Lock()
		w.reqs = append(w.reqs, r)
		w.mu.Unlock()
		seed := r.GetText().GetSeed()
		var text string
		switch seed {
		case 13:
			text = `{"name": "dup", "age": 1}` // the same record as seed 12, spaced differently
		case 12:
			text = `{"name":"dup","age":1}`
		case 14:
			text = `{"name":"cut`
		case 15:
			text = `{"name":"young","age":-1}`
		default:
			text = `{"name":"p` + strings.Repeat("x", int(seed)) + `","age":30}`
		}
		return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "text/plain", Content: &genaiv1.Artifact_Text{Text: text}}}}, nil
	}}
}

func TestSyntheticDataChecksDeduplicatesAndCounts(t *testing.T) {
	w := &recordWriter{}
	c := newTestServer(t, fakes{text: w.service()})
	events, err := run(t, c, "synthetic-data", map[string]string{"schema": personSchema, "count": "8", "seed": "10", "text_model": "m"})
	if err != nil {
		t.Fatal(err)
	}
	out := outputs(events)
	lines := strings.Split(strings.TrimSuffix(out["records"].GetText(), "\n"), "\n")
	want := []string{`{"name":"p` + strings.Repeat("x", 10) + `","age":30}`, `{"name":"p` + strings.Repeat("x", 11) + `","age":30}`,
		`{"name":"dup","age":1}`, `{"name":"p` + strings.Repeat("x", 16) + `","age":30}`, `{"name":"p` + strings.Repeat("x", 17) + `","age":30}`}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", out["records"].GetText(), strings.Join(want, "\n"))
	}
	var rep struct {
		Requested, Accepted, Rejected, Duplicates int
		Errors                                    []string
	}
	if err := json.Unmarshal([]byte(out["report"].GetText()), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Requested != 8 || rep.Accepted != 5 || rep.Rejected != 2 || rep.Duplicates != 1 || len(rep.Errors) != 2 {
		t.Errorf("report %s", out["report"].GetText())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seeds := map[int64]bool{}
	for _, r := range w.reqs {
		seeds[r.GetText().GetSeed()] = true
		if r.GetText().GetJsonSchema() != personSchema {
			t.Errorf("json_schema %q, want the input", r.GetText().GetJsonSchema())
		}
	}
	if len(w.reqs) != 8 || len(seeds) != 8 || !seeds[10] || !seeds[17] {
		t.Errorf("%d calls with seeds %v, want 8 with seeds 10 to 17", len(w.reqs), seeds)
	}
}

func TestSyntheticDataAugmentShowsEachRecord(t *testing.T) {
	w := &recordWriter{}
	c := newTestServer(t, fakes{text: w.service()})
	records := `{"name":"Ann","age":40}` + "\n" + `{"name":"Bo","age":7}`
	events, err := run(t, c, "synthetic-data-augment", map[string]string{"schema": personSchema, "records": records, "copies": "2", "text_model": "m"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(outputs(events)["records"].GetText(), "\n"), "\n")
	if len(got) != 4 {
		t.Fatalf("%d records, want 4:\n%s", len(got), strings.Join(got, "\n"))
	}
	// The fake writes age 30 every time: the copies' ages are the
	// originals' (40 and 7), moved by up to 10 % (at least 1 for an
	// integer), and never below the schema's minimum of 0.
	for i, l := range got {
		var rec struct{ Age json.Number }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		age, err := rec.Age.Int64()
		if err != nil {
			t.Fatalf("copy %s: age not an integer", l)
		}
		want := [2]int64{36, 44} // Ann's copies come first
		if i >= 2 {
			want = [2]int64{6, 8}
		}
		if age < want[0] || age > want[1] {
			t.Errorf("copy %d %s: age %d, want %d to %d", i, l, age, want[0], want[1])
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var ann, bo int
	for _, r := range w.reqs {
		ann += strings.Count(r.GetPrompt(), `{"name":"Ann","age":40}`)
		bo += strings.Count(r.GetPrompt(), `{"name":"Bo","age":7}`)
	}
	if len(w.reqs) != 4 || ann != 2 || bo != 2 {
		t.Errorf("%d calls; Ann shown %d times, Bo %d, want 2 each", len(w.reqs), ann, bo)
	}
}
