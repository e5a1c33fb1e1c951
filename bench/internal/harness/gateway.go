package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/grpc"

	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// streamChunks is how many deltas the streaming comparison carries.
const streamChunks = 200

// gatewayCalls are the four calls the gateway comparison makes: unary and
// streaming, over REST through the gateway and over gRPC direct.
type gatewayCalls struct {
	restUnary, restStream, grpcUnary, grpcStream func(context.Context) error
}

func newGatewayCalls(httpc *http.Client, gatewayURL string, text *grpc.ClientConn) gatewayCalls {
	client := genaiv1.NewTextServiceClient(text)
	unaryPrompt := "Say hello to the gateway."
	words := make([]string, streamChunks)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	streamPrompt := strings.Join(words, " ")
	body := func(prompt string) []byte {
		b, _ := json.Marshal(map[string]string{"model": genaitest.Echo, "prompt": prompt})
		return b
	}
	unaryBody, streamBody := body(unaryPrompt), body(streamPrompt)
	post := func(ctx context.Context, path string, b []byte, wantBytes int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: %s: %s", path, resp.Status, got)
		}
		if len(got) < wantBytes {
			return fmt.Errorf("POST %s: %d bytes, want at least %d", path, len(got), wantBytes)
		}
		return nil
	}
	return gatewayCalls{
		restUnary: func(ctx context.Context) error {
			return post(ctx, "/v1/text:generate", unaryBody, len(unaryPrompt))
		},
		restStream: func(ctx context.Context) error {
			// At least one line per delta.
			return post(ctx, "/v1/text:streamGenerate", streamBody, len(streamPrompt)+streamChunks)
		},
		grpcUnary: func(ctx context.Context) error {
			resp, err := client.Generate(ctx, &genaiv1.GenerateRequest{Model: genaitest.Echo, Prompt: unaryPrompt})
			if err != nil {
				return err
			}
			if got := firstText(resp); got != unaryPrompt {
				return fmt.Errorf("Generate: %q, want %q", got, unaryPrompt)
			}
			return nil
		},
		grpcStream: func(ctx context.Context) error {
			st, err := client.StreamGenerate(ctx, &genaiv1.GenerateRequest{Model: genaitest.Echo, Prompt: streamPrompt})
			if err != nil {
				return err
			}
			deltas := 0
			for {
				c, err := st.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				if c.GetDelta() != nil {
					deltas++
				}
			}
			if deltas != streamChunks {
				return fmt.Errorf("StreamGenerate: %d deltas, want %d", deltas, streamChunks)
			}
			return nil
		},
	}
}

// firstText is the text of a response's first artifact.
func firstText(resp *genaiv1.GenerateResponse) string {
	if as := resp.GetArtifacts(); len(as) > 0 {
		return as[0].GetText()
	}
	return ""
}
