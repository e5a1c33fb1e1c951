package openaitest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/openaiapi"
)

// CheckCancelReachesUpstream runs call in the background, cancels its
// context once the fake holds the request, and fails tb unless the fake
// sees the request canceled and call returns CANCELED. s must hold
// requests: built with an Options.Gate that the test never opens.
func (s *Server) CheckCancelReachesUpstream(tb testing.TB, call func(context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- call(ctx) }()
	wait, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if err := s.WaitRequests(wait, 1); err != nil {
		cancel()
		<-errc
		tb.Fatal(err)
	}
	cancel()
	select {
	case <-s.Canceled():
	case <-wait.Done():
		tb.Error("the upstream request was not canceled")
	}
	if err := <-errc; status.Code(err) != codes.Canceled {
		tb.Errorf("code %v (%v), want Canceled", status.Code(err), err)
	}
}

// Start is New for a test: the server closes when tb ends.
func Start(tb testing.TB, opts Options) *Server {
	s := New(opts)
	tb.Cleanup(s.Close)
	return s
}

// Config is how a backend reaches this fake: its base URL, the key it
// expects (Options.APIKey) and the first model it serves.
func (s *Server) Config() openaiapi.Config {
	return openaiapi.Config{BaseURL: s.BaseURL, APIKey: s.opts.APIKey, Models: s.opts.Models[:1]}
}

// NewBackend starts a fake with opts (see Start) and builds a backend on
// it with newBackend, from the config that config makes of the fake's
// Config, adjusted by edit when it is not nil.
func NewBackend[C, B any](tb testing.TB, opts Options, config func(openaiapi.Config) C, edit func(*C),
	newBackend func(context.Context, C, *slog.Logger) (B, error)) (B, *Server) {
	tb.Helper()
	s := Start(tb, opts)
	cfg := config(s.Config())
	if edit != nil {
		edit(&cfg)
	}
	b, err := newBackend(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	return b, s
}

// CheckQueueFull checks the admission of a server that runs one request
// and queues one, in front of this fake: s must be built with gate as its
// Options.Gate, which the test does not use itself. Of four concurrent calls, the
// two beyond the running and the queued one must fail at once with
// RESOURCE_EXHAUSTED, and the two admitted must succeed once the fake lets
// them through.
func (s *Server) CheckQueueFull(tb testing.TB, gate chan<- struct{}, call func(context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make(chan error, 4)
	generate := func() { results <- call(ctx) }
	// One request holds the only slot (the fake holds it at the gate).
	go generate()
	if err := s.WaitRequests(ctx, 1); err != nil {
		cancel()
		<-results
		tb.Fatal(err)
	}
	// Of three more, one takes the queue place and two are refused at once,
	// whichever order they arrive in.
	for range 3 {
		go generate()
	}
	for range 2 {
		if err := <-results; status.Code(err) != codes.ResourceExhausted {
			tb.Errorf("code %v (%v), want ResourceExhausted", status.Code(err), err)
		}
	}
	// Let the running and the queued request finish.
	gate <- struct{}{}
	gate <- struct{}{}
	for range 2 {
		if err := <-results; err != nil {
			tb.Errorf("admitted request failed: %v", err)
		}
	}
}
