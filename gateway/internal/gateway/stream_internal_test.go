package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
)

// gatedStream is an upstream stream whose message k (from 1) is sent only
// once gate[k-1] is closed; message 0 is there at once.
type gatedStream struct {
	grpc.ClientStream
	ctx  context.Context
	gate []chan struct{}
	sent int
}

func (g *gatedStream) Context() context.Context { return g.ctx }

func (g *gatedStream) Recv() (*genaiv1.GenerateChunk, error) {
	if g.sent > len(g.gate) {
		return nil, io.EOF
	}
	if g.sent > 0 {
		select {
		case <-g.gate[g.sent-1]:
		case <-g.ctx.Done():
			return nil, g.ctx.Err()
		}
	}
	g.sent++
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: fmt.Sprintf("m%d;", g.sent-1)}}}, nil
}

// flushLog is a response writer that remembers what had been flushed.
type flushLog struct {
	*httptest.ResponseRecorder
	mu      sync.Mutex
	flushed string
}

func (f *flushLog) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed = f.Body.String()
}

func (f *flushLog) get() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushed
}

// TestReadAheadFlushesBeforeWaiting streams messages that the upstream
// sends one at a time, each only after the client has the one before: the
// stream must flush what the handler wrote before it waits for the next
// message, or the test times out. At the end everything is flushed.
func TestReadAheadFlushesBeforeWaiting(t *testing.T) {
	const n = 5
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &flushLog{ResponseRecorder: httptest.NewRecorder()}
	dw := &deadlineWriter{ResponseWriter: out, rc: http.NewResponseController(out), timeout: time.Second}
	up := &gatedStream{ctx: ctx, gate: make([]chan struct{}, n-1)}
	for i := range up.gate {
		up.gate[i] = make(chan struct{})
	}
	s, err := openStream[genaiv1.GenerateChunk](context.WithValue(ctx, requestInfoKey{}, &requestInfo{writer: dw}), "text", up)
	if err != nil {
		t.Fatal(err)
	}
	if !dw.lazy {
		t.Fatal("the stream does not read ahead")
	}
	handlerDone := make(chan error, 1)
	go func() { // the handler: write and flush each message, as grpc-gateway does
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				handlerDone <- nil
				return
			}
			if err != nil {
				handlerDone <- err
				return
			}
			_, _ = dw.Write([]byte(m.GetDelta().GetText()))
			if err := dw.FlushError(); err != nil {
				handlerDone <- err
				return
			}
		}
	}()
	want := ""
	for k := range n {
		want += fmt.Sprintf("m%d;", k)
		deadline := time.Now().Add(5 * time.Second)
		for out.get() != want {
			if time.Now().After(deadline) {
				t.Fatalf("message %d: flushed %q, want %q", k, out.get(), want)
			}
			time.Sleep(time.Millisecond)
		}
		if k < n-1 {
			close(up.gate[k])
		}
	}
	if err := <-handlerDone; err != nil {
		t.Fatalf("handler: %v", err)
	}
	if dw.lazy || dw.pending || !strings.HasSuffix(out.get(), fmt.Sprintf("m%d;", n-1)) {
		t.Errorf("after the end: lazy %v, pending %v, flushed %q", dw.lazy, dw.pending, out.get())
	}
}

// bigStream sends n messages of about size bytes each, counting them.
type bigStream struct {
	grpc.ClientStream
	ctx     context.Context
	n, size int
	sent    atomic.Int32
}

func (b *bigStream) Recv() (*genaiv1.GenerateChunk, error) {
	if int(b.sent.Load()) >= b.n {
		return nil, io.EOF
	}
	b.sent.Add(1)
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: strings.Repeat("x", b.size)}}}, nil
}

// TestReadAheadIsBoundedInBytes reads nothing from a stream of large
// messages: the read-ahead holds no more than readAheadBytes of them (and
// has one more in hand, waiting for room).
func TestReadAheadIsBoundedInBytes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := &bigStream{ctx: ctx, n: 10, size: 100 << 10}
	ra := readAheadOf[genaiv1.GenerateChunk](ctx, up)
	deadline := time.Now().Add(5 * time.Second)
	for up.sent.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a read too many
	if got := up.sent.Load(); got != 3 {
		t.Fatalf("read %d messages of 100 KiB ahead, want 2 held and 1 waiting", got)
	}
	if held := ra.held.Load(); held > readAheadBytes {
		t.Errorf("holding %d bytes, over %d", held, readAheadBytes)
	}
	for i := range up.n {
		r, ok, _ := ra.take(true)
		if !ok || r.err != nil {
			t.Fatalf("message %d: %v, %v", i, ok, r.err)
		}
	}
	if r, _, _ := ra.take(true); !errors.Is(r.err, io.EOF) {
		t.Errorf("after the messages: %v, want EOF", r.err)
	}
}

// SetReadAhead turns the streams' read-ahead on or off (the external
// tests' BenchmarkStreamBefore measures the gateway without it).
func SetReadAhead(on bool) { readAheadOn = on }

// TestCodecMarshalsStreamChunksAsJSONPb checks the codec's short way for
// {"result": message} against runtime.JSONPb's own, byte for byte: HTML
// characters and line separators escaped, bytes as base64, nested events;
// other values go to JSONPb.
func TestCodecMarshalsStreamChunksAsJSONPb(t *testing.T) {
	c := newCodec()
	ref := &runtime.JSONPb{MarshalOptions: c.MarshalOptions, UnmarshalOptions: c.UnmarshalOptions}
	for _, v := range []any{
		map[string]any{"result": genaitestDelta("plain")},
		map[string]any{"result": genaitestDelta("<b>fish & chips</b>\u2028\u2029 \"quoted\" \\ é 🐟\n")},
		map[string]any{"result": &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: &genaiv1.Artifact{
			MimeType: "audio/wav", Content: &genaiv1.Artifact_Data{Data: []byte{0, 1, 2, 0xff, '<'}},
			Metadata: &genaiv1.ArtifactMetadata{SourceText: "a < b", DurationSeconds: 1.25, Index: 3}}}}},
		map[string]any{"result": &orchestratorv1.RunPipelineResponse{RunId: "r1", Event: &orchestratorv1.RunPipelineResponse_StepDelta{
			StepDelta: &orchestratorv1.StepDelta{Step: "script", Text: "Hello <there>."}}}},
		map[string]any{"result": &genaiv1.GenerateChunk{}},
		map[string]any{"error": genaitestDelta("not the result")},
		map[string]any{"result": "not a message"},
		genaitestDelta("a message, not a chunk"),
	} {
		got, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("codec.Marshal(%v): %v", v, err)
		}
		want, err := ref.Marshal(v)
		if err != nil {
			t.Fatalf("JSONPb.Marshal(%v): %v", v, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("codec.Marshal = %s\nJSONPb.Marshal = %s", got, want)
		}
	}
}

func genaitestDelta(text string) *genaiv1.GenerateChunk {
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: text}}}
}

// BenchmarkChunkMarshalBefore and BenchmarkChunkMarshalAfter marshal one
// streamed text delta as runtime.ForwardResponseStream does: with
// runtime.JSONPb, as the gateway did, and with the codec's short way.
// `make bench` reports the pair's ratios (bench/README.md).
func BenchmarkChunkMarshalBefore(b *testing.B) {
	c := newCodec()
	benchChunkMarshal(b, &runtime.JSONPb{MarshalOptions: c.MarshalOptions, UnmarshalOptions: c.UnmarshalOptions})
}

func BenchmarkChunkMarshalAfter(b *testing.B) { benchChunkMarshal(b, newCodec()) }

func benchChunkMarshal(b *testing.B, m runtime.Marshaler) {
	chunk := genaitestDelta(" lighthouse")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Marshal(map[string]any{"result": chunk}); err != nil {
			b.Fatal(err)
		}
	}
}
