package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// maxReportedErrors bounds the validation messages a jsonl_report carries.
const maxReportedErrors = 5

// datasetReport is the tally of a jsonl assembly, the jsonl_report output.
type datasetReport struct {
	Requested  int      `json:"requested"`  // items the step ran
	Accepted   int      `json:"accepted"`   // records in the dataset
	Rejected   int      `json:"rejected"`   // not JSON, or not valid for the schema
	Duplicates int      `json:"duplicates"` // valid, but equal to an earlier record
	Errors     []string `json:"errors,omitempty"`
}

// dataset makes a "jsonl" or "jsonl_report" output: each text artifact of
// res checked against the JSON Schema in the input o.Schema names (with an
// independent validator: a backend may not enforce the schema, and the
// embedded engine's enforcement is tested against it), kept once, one per
// line. The engine writes compact JSON; values are re-encoded compactly
// anyway, so a line is a record whatever the backend's spacing.
func dataset(o *pipeline.Output, res result, inputs map[string]string) ([]*orchestratorv1.RunOutput, error) {
	schema, err := compileSchema(inputs[o.Schema])
	if err != nil {
		// The text service already refused a schema that is not JSON; one the
		// validator cannot compile is the caller's too.
		return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "inputs." + o.Schema, Description: "not a JSON Schema the validator accepts: " + err.Error()})
	}
	var bounds map[string]numberBounds
	if o.Perturb > 0 {
		bounds = schemaBounds(inputs[o.Schema])
	}
	rep := datasetReport{Requested: len(res.artifacts), Errors: []string{}}
	seen := map[string]bool{}
	var lines strings.Builder
	for i, a := range res.artifacts {
		text := a.GetText()
		if o.Perturb > 0 {
			text = perturbNumbers(text, a.GetMetadata().GetSourceText(), bounds, o.Perturb, i)
		}
		reject := func(why string) {
			rep.Rejected++
			if len(rep.Errors) < maxReportedErrors {
				rep.Errors = append(rep.Errors, fmt.Sprintf("item %d: %s", i, rpcerr.Clip(why, 200)))
			}
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
		if err != nil {
			reject("not JSON: " + err.Error())
			continue
		}
		if err := schema.Validate(inst); err != nil {
			reject(strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(text)); err != nil {
			reject("not JSON: " + err.Error())
			continue
		}
		if seen[compact.String()] {
			rep.Duplicates++
			continue
		}
		seen[compact.String()] = true
		rep.Accepted++
		lines.Write(compact.Bytes())
		lines.WriteByte('\n')
	}
	var a *genaiv1.Artifact
	if o.Assemble == pipeline.AssembleJSONLReport {
		body, err := json.Marshal(rep)
		if err != nil {
			return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "encoding the dataset report failed").WithCause(err)
		}
		a = &genaiv1.Artifact{MimeType: o.MimeType, Content: &genaiv1.Artifact_Text{Text: string(body)}}
	} else {
		a = &genaiv1.Artifact{MimeType: o.MimeType, Content: &genaiv1.Artifact_Text{Text: lines.String()}}
	}
	genai.FillDigest(a)
	return []*orchestratorv1.RunOutput{{Name: o.Name, Artifact: a}}, nil
}

func compileSchema(doc string) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", v); err != nil {
		return nil, err
	}
	return c.Compile("schema.json")
}

// numberBounds are a top-level property's numeric schema: its bounds
// (exclusive ones kept as such) and whether it is an integer.
type numberBounds struct {
	Type                               any
	Minimum, Maximum                   *float64
	ExclusiveMinimum, ExclusiveMaximum *float64
}

// schemaBounds reads the top-level properties' numeric bounds; a schema it
// cannot read gives none (the validator reports the schema itself).
func schemaBounds(doc string) map[string]numberBounds {
	var s struct {
		Properties map[string]numberBounds
	}
	_ = json.Unmarshal([]byte(doc), &s)
	return s.Properties
}

// perturbNumbers returns record with each top-level number that original
// also has replaced by original's value moved by up to ±frac of it (at
// least ±1 for integers), within the property's bounds. The draw is seeded
// by the record and its index, so a run repeats. Anything it cannot read is
// returned as is, for the validator to judge.
func perturbNumbers(record, original string, bounds map[string]numberBounds, frac float64, index int) string {
	keys, vals, ok := objectFields(record)
	okeys, ovals, ook := objectFields(original)
	if !ok || !ook {
		return record
	}
	was := map[string]json.RawMessage{}
	for i, k := range okeys {
		was[k] = ovals[i]
	}
	h := fnv.New64a()
	h.Write([]byte(record))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(index)))
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		v := vals[i]
		if n, ok := perturbOne(was[k], bounds[k], frac, rng); ok && isNumber(v) {
			v = json.RawMessage(n)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// perturbOne moves the number raw by up to ±frac of itself within nb.
func perturbOne(raw json.RawMessage, nb numberBounds, frac float64, rng *rand.Rand) (string, bool) {
	if !isNumber(raw) {
		return "", false
	}
	v0, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return "", false
	}
	integer := nb.Type == "integer"
	decimals := 0
	if dot := strings.IndexByte(string(raw), '.'); dot >= 0 && !strings.ContainsAny(string(raw), "eE") {
		decimals = len(raw) - dot - 1
	}
	spread := frac * math.Abs(v0)
	if integer {
		spread = max(spread, 1)
	}
	v := v0 + (2*rng.Float64()-1)*spread
	if integer {
		v = math.Round(v)
	} else {
		p := math.Pow(10, float64(max(decimals, 1)))
		v = math.Round(v*p) / p
	}
	if nb.Minimum != nil {
		v = max(v, *nb.Minimum)
	}
	if nb.Maximum != nil {
		v = min(v, *nb.Maximum)
	}
	if nb.ExclusiveMinimum != nil && v <= *nb.ExclusiveMinimum || nb.ExclusiveMaximum != nil && v >= *nb.ExclusiveMaximum {
		v = v0 // the original, valid as given, rather than a value on the open bound
	}
	if integer {
		return strconv.FormatFloat(v, 'f', 0, 64), true
	}
	return strconv.FormatFloat(v, 'f', -1, 64), true
}

func isNumber(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// objectFields reads a JSON object's keys and raw values in order.
func objectFields(text string) (keys []string, vals []json.RawMessage, ok bool) {
	dec := json.NewDecoder(strings.NewReader(text))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		keys = append(keys, t.(string))
		vals = append(vals, v)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, false // more after the object
	}
	return keys, vals, true
}
