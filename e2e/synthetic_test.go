package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chorus-ai/chorus/e2e/internal/suite"
)

// recordSchema is the five-field schema: a string with a length
// bound, an integer range, an enum, a boolean and a number range.
const recordSchema = `{"type":"object","properties":{
  "name":{"type":"string","minLength":1,"maxLength":30},
  "age":{"type":"integer","minimum":18,"maximum":90},
  "city":{"enum":["Lisbon","Oslo","Quito","Hanoi","Accra"]},
  "member":{"type":"boolean"},
  "score":{"type":"number","minimum":0,"maximum":100}},
  "required":["name","age","city","member","score"]}`

// TestSyntheticData is the "done when": the synthetic-data
// pipeline, offline, with chorus-mini (a completion model that has never
// seen JSON), returns 100 records an independent JSON Schema validator
// accepts. It also asks the OpenAI-compatible route for structured output.
func TestSyntheticData(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and starts the whole suite; run without -short")
	}
	s := suite.Start(t, suite.Options{})
	validator := compileSchema(t, recordSchema)
	hc := &http.Client{Timeout: 5 * time.Minute}

	t.Run("pipeline", func(t *testing.T) {
		start := time.Now()
		outs := runPipeline(t, hc, s.URL, "synthetic-data", map[string]string{
			"schema": recordSchema, "count": "100", "seed": "1", "text_model": "chorus-mini"})
		t.Logf("100 records in %v; report %s", time.Since(start).Round(time.Millisecond), outs["report"])
		lines := strings.Split(strings.TrimSuffix(outs["records"], "\n"), "\n")
		if len(lines) != 100 {
			t.Fatalf("%d records, want 100; report %s", len(lines), outs["report"])
		}
		for i, l := range lines {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(l))
			if err != nil {
				t.Fatalf("record %d is not JSON: %q", i, l)
			}
			if err := validator.Validate(inst); err != nil {
				t.Fatalf("record %d %s: %v", i, l, err)
			}
		}
		var rep struct{ Requested, Accepted, Rejected, Duplicates int }
		if err := json.Unmarshal([]byte(outs["report"]), &rep); err != nil || rep.Requested != 100 || rep.Accepted != 100 {
			t.Errorf("report %s (%v)", outs["report"], err)
		}
		t.Logf("first records:\n%s", strings.Join(lines[:3], "\n"))
	})

	t.Run("augment", func(t *testing.T) {
		originals := []string{
			`{"name":"Ada Lovelace","age":36,"city":"Oslo","member":true,"score":91.5}`,
			`{"name":"Alan Turing","age":41,"city":"Quito","member":false,"score":77}`,
		}
		outs := runPipeline(t, hc, s.URL, "synthetic-data-augment", map[string]string{
			"schema": recordSchema, "records": strings.Join(originals, "\n"), "copies": "3", "text_model": "chorus-mini"})
		lines := strings.Split(strings.TrimSuffix(outs["records"], "\n"), "\n")
		if len(lines) != 6 {
			t.Fatalf("%d copies, want 6; report %s", len(lines), outs["report"])
		}
		for i, l := range lines {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(l))
			if err != nil || validator.Validate(inst) != nil || slices.Contains(originals, l) {
				t.Errorf("copy %s: invalid, or the original unchanged (%v)", l, err)
			}
			// Ages are the original's moved by at most 10 %.
			var rec struct{ Age float64 }
			want := 36.0 // Ada's three copies come first
			if i >= 3 {
				want = 41
			}
			if json.Unmarshal([]byte(l), &rec) != nil || rec.Age < want*0.9-0.5 || rec.Age > want*1.1+0.5 {
				t.Errorf("copy %s: age %v, want %v ± 10 %%", l, rec.Age, want)
			}
		}
		t.Logf("copies:\n%s", strings.Join(lines, "\n"))
	})

	t.Run("chat completions response_format", func(t *testing.T) {
		body := `{"model":"chorus-mini","messages":[{"role":"user","content":"A person:"}],"seed":3,
			"response_format":{"type":"json_schema","json_schema":{"name":"person","schema":` + recordSchema + `}}}`
		resp, err := hc.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || len(got.Choices) != 1 {
			t.Fatalf("status %d: %v %+v", resp.StatusCode, err, got)
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(got.Choices[0].Message.Content))
		if err != nil {
			t.Fatalf("not JSON: %q", got.Choices[0].Message.Content)
		}
		if err := validator.Validate(inst); err != nil {
			t.Fatalf("%s: %v", got.Choices[0].Message.Content, err)
		}
	})
}

// runPipeline runs a pipeline through the gateway's REST route and returns
// its outputs' texts.
func runPipeline(t *testing.T, hc *http.Client, base, name string, inputs map[string]string) map[string]string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"inputs": inputs})
	resp, err := hc.Post(base+"/v1/pipelines/"+name+":run", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	outs := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20)
	var last string
	for sc.Scan() {
		last = sc.Text()
		var ev struct {
			Result struct {
				RunCompleted *struct {
					Outputs []struct {
						Name     string
						Artifact struct{ Text string }
					}
				}
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %.300s: %v", sc.Text(), err)
		}
		if rc := ev.Result.RunCompleted; rc != nil {
			for _, o := range rc.Outputs {
				outs[o.Name] = o.Artifact.Text
			}
		}
	}
	if resp.StatusCode != http.StatusOK || len(outs) == 0 {
		t.Fatalf("%s: status %d, last event %.500s", name, resp.StatusCode, last)
	}
	return outs
}

func compileSchema(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil || c.AddResource("schema.json", doc) != nil {
		t.Fatalf("schema %s: %v", schema, err)
	}
	return c.MustCompile("schema.json")
}
