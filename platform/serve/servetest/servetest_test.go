package servetest

import (
	"context"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo is a test backend that answers with its prompt.
type echo struct{}

func (echo) Models() []*genaiv1.Model { return []*genaiv1.Model{{Name: "echo", Backend: "test"}} }

func (echo) Generate(_ context.Context, req *genaiv1.GenerateRequest, _ func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	return &genaiv1.GenerateResponse{Model: req.GetModel(), Artifacts: []*genaiv1.Artifact{{
		MimeType: "text/plain; charset=utf-8", Content: &genaiv1.Artifact_Text{Text: req.GetPrompt()},
	}}}, nil
}

func TestStartRoutes(t *testing.T) {
	client := genaiv1.NewTextServiceClient(StartRoutes(t, genai.Text, genai.Route{Backend: echo{}}))
	resp, err := client.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetArtifacts()[0].GetText(); got != "hi" || resp.GetModel() != "echo" {
		t.Errorf("response %v", resp)
	}
	noBackend := genaiv1.NewTextServiceClient(StartRoutes(t, genai.Text))
	CheckErrors(t, client, noBackend, ErrorCase{
		Name: "no prompt", Req: &genaiv1.GenerateRequest{}, Code: codes.InvalidArgument, Reason: rpcerr.ReasonInvalidArgument, Violations: []string{"prompt"},
	})
}
