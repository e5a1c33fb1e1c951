package gateway

import (
	"bytes"
	"errors"
	"io"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// FuzzCodecDecode feeds arbitrary bodies to the gateway's JSON codec, as
// each request message the REST routes decode. The codec must never panic,
// must refuse only with INVALID_ARGUMENT (the client's mistake, a 4xx), and
// what it accepts must survive its own encoding unchanged.
func FuzzCodecDecode(f *testing.F) {
	for _, seed := range []string{
		`{"prompt": "hi", "text": {"maxTokens": 5}}`,
		`{"model": "chorus-mini", "messages": [{"role": "user", "content": "hi"}]}`,
		`{"prompt": "a kite", "image": {"width": 512, "height": 512, "count": 2}}`,
		`{"prompt": "Hello.", "audio": {"voice": "slt", "speed": 1.5}}`,
		`{"name": "script-then-voiceover", "inputs": {"topic": "the old mill"}}`,
		`{"prompt": "x", "text": {"temperature": "NaN"}}`,
		`{"prompt": 5}`, `{"prompt": "x", "prompt": "y"}`, `{"text": {"max_tokens": 99999999999}}`,
		`[1, 2]`, `"str"`, `null`, ``, `{`, `{"prompt": "\ud800"}`, "{\"prompt\": \"\xff\"}",
		`{"prompt": "x"} {"prompt": "y"}`, `{"unknown": true}`, `{"prompt": "x", "text": {}, "image": {}}`,
	} {
		f.Add([]byte(seed))
	}
	c := newCodec()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, msg := range []proto.Message{&genaiv1.GenerateRequest{}, &orchestratorv1.RunPipelineRequest{}, &orchestratorv1.CreateJobRequest{}} {
			err := c.NewDecoder(bytes.NewReader(data)).Decode(msg)
			if errors.Is(err, io.EOF) {
				continue // an empty body: an empty request
			}
			if err != nil {
				var e *rpcerr.Error
				if !errors.As(err, &e) || e.Code != codes.InvalidArgument {
					t.Fatalf("decoding %q as %T: %v, want INVALID_ARGUMENT", data, msg, err)
				}
				continue
			}
			out, err := c.Marshal(msg)
			if err != nil {
				t.Fatalf("encoding the decoded %T: %v", msg, err)
			}
			again := msg.ProtoReflect().New().Interface()
			if err := c.NewDecoder(bytes.NewReader(out)).Decode(again); err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("decoding our own encoding %s: %v", out, err)
			}
			if !proto.Equal(msg, again) {
				t.Fatalf("round trip of %q changed %v into %v", data, msg, again)
			}
		}
	})
}
