package gateway_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/gateway/internal/gateway"
)

// BenchmarkStreamBefore and BenchmarkStreamAfter stream 200 text deltas
// through the gateway (POST /v1/text:streamGenerate, the echo backend
// behind the real genai handler over gRPC) and read the NDJSON body: before
// is the gateway flushing every message as it used to, after is the
// read-ahead that flushes only when no message is waiting (stream in
// upstream.go). `make bench` reports the pair's ratios (bench/README.md).
func BenchmarkStreamBefore(b *testing.B) {
	gateway.SetReadAhead(false)
	defer gateway.SetReadAhead(true)
	benchStream(b)
}

func BenchmarkStreamAfter(b *testing.B) { benchStream(b) }

const benchStreamChunks = 200

func benchStream(b *testing.B) {
	env := newTestServer(b)
	body := `{"model": "echo", "prompt": "` + strings.TrimSpace(strings.Repeat("word ", benchStreamChunks)) + `"}`
	b.ReportAllocs()
	for b.Loop() {
		resp := env.send(b, context.Background(), "POST", "/v1/text:streamGenerate", body)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if n := bytes.Count(got, []byte("\n")); n != benchStreamChunks+1 {
			b.Fatalf("%d lines, want %d deltas and done:\n%s", n, benchStreamChunks+1, got)
		}
	}
}
