package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestPanicBecomes500(t *testing.T) {
	g := &Gateway{cfg: Config{}.withDefaults(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), codec: newCodec()}
	h := g.observe(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/text/models", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if body.Code != 13 || body.Message != "internal error" || len(body.Details) != 1 || body.Details[0].Reason != "INTERNAL" {
		t.Errorf("body %s", rec.Body)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{a: "maxtoken", b: "maxtokens", want: 1},
		{a: "", b: "abc", want: 3},
		{a: "prompt", b: "prompt", want: 0},
		{a: "kitten", b: "sitting", want: 3},
	} {
		if got := editDistance(tc.a, tc.b, 10); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		md         protoreflect.MessageDescriptor
		body       string
		wantReason string
		wantFields []rpcerr.FieldViolation
	}{
		{
			name: "unknown nested field with a suggestion", md: (&genaiv1.GenerateRequest{}).ProtoReflect().Descriptor(),
			body:       `{"prompt": "x", "audio": {"sample_rat": 8000}}`,
			wantReason: rpcerr.ReasonInvalidArgument,
			wantFields: []rpcerr.FieldViolation{{Field: "audio.sample_rat", Description: `unknown field (did you mean "sampleRate"?)`}},
		},
		{
			name: "far from every name: no suggestion", md: (&genaiv1.GenerateRequest{}).ProtoReflect().Descriptor(),
			body:       `{"prompt": "x", "colour": "red"}`,
			wantReason: rpcerr.ReasonInvalidArgument,
			wantFields: []rpcerr.FieldViolation{{Field: "colour", Description: "unknown field"}},
		},
		{
			name: "list elements", md: (&genaiv1.GenerateRequest{}).ProtoReflect().Descriptor(),
			body:       `{"messages": [{"role": "user", "content": "hi"}, {"role": 1, "text": "x"}]}`,
			wantReason: rpcerr.ReasonInvalidArgument,
			wantFields: []rpcerr.FieldViolation{
				{Field: "messages[1].role", Description: "must be a string"},
				{Field: "messages[1].text", Description: "unknown field"},
			},
		},
		{
			name: "map values", md: (&orchestratorv1.RunPipelineRequest{}).ProtoReflect().Descriptor(),
			body:       `{"inputs": {"topic": 5, "ok": "x"}}`,
			wantReason: rpcerr.ReasonInvalidArgument,
			wantFields: []rpcerr.FieldViolation{{Field: "inputs.topic", Description: "must be a string"}},
		},
		{
			name: "enum names", md: (&genaiv1.GenerateResponse{}).ProtoReflect().Descriptor(),
			body:       `{"finishReason": "DONE"}`,
			wantReason: rpcerr.ReasonInvalidArgument,
			wantFields: []rpcerr.FieldViolation{{Field: "finishReason", Description: "must be one of FINISH_REASON_UNSPECIFIED, FINISH_REASON_STOP, FINISH_REASON_LENGTH"}},
		},
		{
			name: "not an object", md: (&genaiv1.GenerateRequest{}).ProtoReflect().Descriptor(),
			body:       `["prompt"]`,
			wantReason: rpcerr.ReasonInvalidArgument,
			wantFields: []rpcerr.FieldViolation{{Field: "body", Description: "must be a JSON object"}},
		},
		{
			name: "out of range number: the parser's message", md: (&genaiv1.GenerateRequest{}).ProtoReflect().Descriptor(),
			body:       `{"prompt": "x", "text": {"maxTokens": 1e20}}`,
			wantReason: ReasonMalformedBody,
		},
		{
			name: "not JSON", md: (&genaiv1.GenerateRequest{}).ProtoReflect().Descriptor(),
			body:       `{prompt: "x"}`,
			wantReason: ReasonMalformedBody,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := dynamicpb.NewMessage(tc.md)
			err := protojson.Unmarshal([]byte(tc.body), m)
			if err == nil {
				t.Fatal("protojson accepted the body")
			}
			st := rpcerr.Status(explain(tc.md, []byte(tc.body), err))
			if st.Code() != codes.InvalidArgument {
				t.Errorf("code %v", st.Code())
			}
			reason, violations := rpcerr.Details(st)
			if reason != tc.wantReason {
				t.Errorf("reason %q, want %q (%s)", reason, tc.wantReason, st.Message())
			}
			if !slices.Equal(violations, tc.wantFields) {
				t.Errorf("violations %+v, want %+v", violations, tc.wantFields)
			}
		})
	}
}
