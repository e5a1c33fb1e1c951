package openaitest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
