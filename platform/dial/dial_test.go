package dial

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unavailable serves every method on a real loopback listener by failing it with
// UNAVAILABLE before any response, as a service whose backend is down does, and counts the
// attempts that reach it.
func unavailable(t *testing.T) (addr string, attempts *atomic.Int64) {
	t.Helper()
	attempts = new(atomic.Int64)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		attempts.Add(1)
		return status.Error(codes.Unavailable, "fake: the backend is down")
	}))
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String(), attempts
}

func call(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := conn.Invoke(ctx, "/chorus.test.v1.Fake/Call", &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("call: %v, want UNAVAILABLE", err)
	}
}

// The retry policy repeats a call that failed with UNAVAILABLE up to 4 attempts, and
// retryThrottling stops retrying once failures pile up: ten calls to a peer that is always
// down reach it 4 + 9 times, not 40. WithoutRetries makes each call one attempt.
func TestRetriesAreThrottledAndCanBeTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []grpc.DialOption
		first int64 // attempts of the first call
		all   int64 // attempts of ten calls
	}{
		{name: "default", first: 4, all: 4 + 9},
		{name: "without retries", opts: []grpc.DialOption{WithoutRetries()}, first: 1, all: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, attempts := unavailable(t)
			conn, err := Dial(addr, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			call(t, conn)
			if n := attempts.Load(); n != tc.first {
				t.Errorf("the first call reached the peer %d times, want %d", n, tc.first)
			}
			for range 9 {
				call(t, conn)
			}
			if n := attempts.Load(); n != tc.all {
				t.Errorf("ten calls reached the peer %d times, want %d", n, tc.all)
			}
		})
	}
}
