package openai

import (
	"context"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// FuzzReadStream: no chat-completions event stream from a model server makes readStream
// panic or loop. It fails only with a deliberate UNAVAILABLE (a malformed or cut stream, an
// error event) or INTERNAL (more text than the service returns); and a stream it accepts
// returns exactly the text it emitted, delta by delta.
func FuzzReadStream(f *testing.F) {
	for _, seed := range []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\r\n\r\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"cut\"}}]}\n\n",
		"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
		"data: {not json}\n\n",
		"event: ping\n: comment\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[]}\ndata: {\"choices\":[]}\n\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var emitted strings.Builder
		resp, err := readStream(context.Background(), "m", strings.NewReader(body), func(c *genaiv1.GenerateChunk) error {
			d := c.GetDelta().GetText()
			if d == "" {
				t.Fatalf("emitted an empty or non-text chunk %v", c)
			}
			emitted.WriteString(d)
			return nil
		})
		if err != nil {
			if code := rpcerr.Status(err).Code(); !rpcerr.IsDeliberate(err) || code != codes.Unavailable && code != codes.Internal {
				t.Fatalf("failed with %v (%v), want a deliberate UNAVAILABLE or INTERNAL", code, err)
			}
			return
		}
		if len(resp.GetArtifacts()) != 1 || resp.GetArtifacts()[0].GetText() != emitted.String() {
			t.Fatalf("returned %v, emitted %q", resp.GetArtifacts(), emitted.String())
		}
	})
}
