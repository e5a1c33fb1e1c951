package genai_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// changingBackend is a fake whose model list the test changes, as a
// rescanned models directory changes its.
type changingBackend struct {
	*genaitest.Backend
	mu     sync.Mutex
	models []string
}

func (c *changingBackend) set(models ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.models = models
}

func (c *changingBackend) Models() []*genaiv1.Model {
	c.mu.Lock()
	defer c.mu.Unlock()
	return genaitest.NewBackend(c.models...).Models()
}

// Concurrency admits one request at a time to hold, whatever the route says.
func (c *changingBackend) Concurrency(model string) int {
	if model == genaitest.Hold {
		return 1
	}
	return 0
}

func TestDynamicRouteAdmitsEachModelByItsOwnLimit(t *testing.T) {
	dyn := &changingBackend{Backend: genaitest.NewBackend()}
	dyn.set(genaitest.Hold, genaitest.Echo)
	text := genaiv1.NewTextServiceClient(newTestServer(t, newHandler(t, genai.Text,
		genai.Route{Backend: dyn, Dynamic: true, Concurrency: 4, Queue: -1})))
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := text.Generate(ctx, &genaiv1.GenerateRequest{Model: genaitest.Hold, Prompt: "a"})
		first <- err
	}()
	dyn.Wait(t, "started")
	// Bounded: admitted by mistake, hold would block it until cancelled.
	second, cancelSecond := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelSecond()
	if _, err := text.Generate(second, &genaiv1.GenerateRequest{Model: genaitest.Hold, Prompt: "b"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a second request for hold (limit 1): %v, want RESOURCE_EXHAUSTED", err)
	}
	// Echo has a limit of its own (the route's 4), free.
	if _, err := text.Generate(context.Background(), &genaiv1.GenerateRequest{Model: genaitest.Echo, Prompt: "c"}); err != nil {
		t.Errorf("echo while hold is busy: %v", err)
	}
	cancel()
	<-first
}

func TestDynamicRoute(t *testing.T) {
	dyn := &changingBackend{Backend: genaitest.NewBackend()}
	text := genaiv1.NewTextServiceClient(newTestServer(t, newHandler(t, genai.Text,
		genai.Route{Backend: dyn, Dynamic: true},
		genai.Route{Backend: genaitest.NewBackend("m1")})))
	ctx := context.Background()
	list := func() string {
		t.Helper()
		resp, err := text.ListModels(ctx, &genaiv1.ListModelsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range resp.GetModels() {
			name := m.GetName()
			if m.GetDefault() {
				name += "*"
			}
			names = append(names, name)
		}
		return strings.Join(names, ",")
	}
	if got := list(); got != "m1*" {
		t.Fatalf("before the dynamic backend lists a model: %q", got)
	}

	// The dynamic route comes first, so its model becomes the default.
	dyn.set(genaitest.Echo, "m1") // m1 is the static route's: not listed twice
	if got := list(); got != "echo*,m1" {
		t.Fatalf("after a model appears: %q", got)
	}
	resp, err := text.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "one two"})
	if err != nil || resp.GetModel() != genaitest.Echo || resp.GetArtifacts()[0].GetText() != "one two" {
		t.Fatalf("the default model: %v, %v", resp, err)
	}

	dyn.set()
	if got := list(); got != "m1*" {
		t.Fatalf("after the model goes: %q", got)
	}
	if _, err := text.Generate(ctx, &genaiv1.GenerateRequest{Model: genaitest.Echo, Prompt: "x"}); status.Code(err) != codes.NotFound {
		t.Errorf("a model that went: %v, want NOT_FOUND", err)
	}
}
