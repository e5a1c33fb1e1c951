package openai

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMalformedResponses: a server that answers 200 with vectors that do not fit the request
// is an upstream fault (INTERNAL, UPSTREAM_ERROR), never vectors in the wrong places.
func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{name: "not JSON", body: `{"data": [`},
		{name: "an input missing", body: `{"data": [{"index": 0, "embedding": [1, 0]}]}`},
		{name: "an index repeated", body: `{"data": [{"index": 0, "embedding": [1, 0]}, {"index": 0, "embedding": [0, 1]}]}`},
		{name: "an index out of range", body: `{"data": [{"index": 0, "embedding": [1, 0]}, {"index": 5, "embedding": [0, 1]}]}`},
		{name: "lengths differ", body: `{"data": [{"index": 0, "embedding": [1, 0]}, {"index": 1, "embedding": [0, 1, 0]}]}`},
		{name: "an empty vector", body: `{"data": [{"index": 0, "embedding": []}, {"index": 1, "embedding": [0, 1]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			b, err := New(Config{Config: openaiapi.Config{BaseURL: srv.URL + "/v1", Models: []string{"m"}}}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Embed(context.Background(), &genaiv1.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}})
			st := rpcerr.Status(err)
			if reason, _ := rpcerr.Details(st); st.Code() != codes.Internal || reason != rpcerr.ReasonUpstream {
				t.Errorf("error %v (reason %q), want INTERNAL UPSTREAM_ERROR", err, reason)
			}
		})
	}
}
