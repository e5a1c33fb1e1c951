package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	rep := datasetReport{Requested: len(res.artifacts), Errors: []string{}}
	seen := map[string]bool{}
	var lines strings.Builder
	for i, a := range res.artifacts {
		text := a.GetText()
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
