package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string
		wantMsg    string
	}{
		{name: "nil", err: nil, wantCode: codes.OK},
		{name: "domain error", err: New(codes.NotFound, ReasonModelNotFound, "no model"), wantCode: codes.NotFound, wantReason: ReasonModelNotFound, wantMsg: "no model"},
		{name: "wrapped domain error", err: fmt.Errorf("ctx: %w", New(codes.Unavailable, ReasonUpstreamDown, "down")), wantCode: codes.Unavailable, wantReason: ReasonUpstreamDown, wantMsg: "down"},
		{name: "canceled", err: context.Canceled, wantCode: codes.Canceled, wantReason: ReasonCanceled},
		{name: "deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), wantCode: codes.DeadlineExceeded, wantReason: ReasonDeadlineExceeded},
		{name: "plain error hides its text", err: errors.New("secret path /etc/x"), wantCode: codes.Internal, wantReason: ReasonInternal, wantMsg: "internal error"},
		{name: "raw status is not passed through", err: status.Error(codes.PermissionDenied, "peer said no"), wantCode: codes.Internal, wantReason: ReasonInternal, wantMsg: "internal error"},
		{name: "runtime cancel status kept", err: status.Error(codes.Canceled, "context canceled"), wantCode: codes.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Status(tt.err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %s, want %s", st.Code(), tt.wantCode)
			}
			reason, _ := Details(st)
			if reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", reason, tt.wantReason)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
		})
	}
}

func TestInvalidCarriesViolations(t *testing.T) {
	err := Invalid(FieldViolation{Field: "prompt", Description: "must not be empty"}, FieldViolation{Field: "text.top_k", Description: "too big"})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %s", st.Code())
	}
	if want := "invalid prompt: must not be empty (and 1 more)"; st.Message() != want {
		t.Errorf("message = %q, want %q", st.Message(), want)
	}
	reason, v := Details(st)
	if reason != ReasonInvalidArgument || len(v) != 2 || v[0].Field != "prompt" || v[1].Field != "text.top_k" {
		t.Errorf("details = %q %+v", reason, v)
	}
}

func TestResourceExhaustedHasQuotaFailure(t *testing.T) {
	st := status.Convert(New(codes.ResourceExhausted, ReasonQueueFull, "busy").WithMetadata("subject", "model:x"))
	var found bool
	for _, d := range st.Details() {
		if q, ok := d.(*errdetails.QuotaFailure); ok && q.GetViolations()[0].GetSubject() == "model:x" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no QuotaFailure with the subject in %v", st.Details())
	}
}

func TestUpstream(t *testing.T) {
	invalid := Invalid(FieldViolation{Field: "prompt", Description: "empty"}).GRPCStatus().Err()
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string
		wantFields int
	}{
		{name: "invalid keeps violations", err: invalid, wantCode: codes.InvalidArgument, wantReason: ReasonInvalidArgument, wantFields: 1},
		{name: "not found kept", err: New(codes.NotFound, ReasonModelNotFound, "x").GRPCStatus().Err(), wantCode: codes.NotFound, wantReason: ReasonModelNotFound},
		{name: "already exists kept", err: status.Error(codes.AlreadyExists, "taken"), wantCode: codes.AlreadyExists, wantReason: ReasonUpstream},
		{name: "busy kept", err: status.Error(codes.ResourceExhausted, "busy"), wantCode: codes.ResourceExhausted, wantReason: ReasonUpstream},
		{name: "unavailable", err: status.Error(codes.Unavailable, "connection refused"), wantCode: codes.Unavailable, wantReason: ReasonUpstreamDown},
		{name: "permission denied is ours", err: status.Error(codes.PermissionDenied, "no"), wantCode: codes.Internal, wantReason: ReasonUpstream},
		{name: "unknown is ours", err: status.Error(codes.Unknown, "boom"), wantCode: codes.Internal, wantReason: ReasonUpstream},
		{name: "not a status", err: errors.New("eof"), wantCode: codes.Internal, wantReason: ReasonUpstream},
		{name: "context canceled", err: context.Canceled, wantCode: codes.Canceled, wantReason: ReasonCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Upstream("text", tt.err)
			if got.Code != tt.wantCode || got.Reason != tt.wantReason || len(got.Violations) != tt.wantFields {
				t.Fatalf("Upstream = %s %s %+v, want %s %s with %d violations", got.Code, got.Reason, got.Violations, tt.wantCode, tt.wantReason, tt.wantFields)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("the cause is lost")
			}
		})
	}
	if Upstream("text", nil) != nil {
		t.Error("Upstream(nil) != nil")
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{name: "short", in: "hello", max: 32, want: "hello"},
		{name: "exact", in: "abcd", max: 4, want: "abcd"},
		{name: "long", in: "abcdefgh", max: 4, want: "abcd..."},
		{name: "cut inside a character", in: "abé", max: 3, want: "ab..."},
		{name: "invalid UTF-8", in: "a\xffb", max: 32, want: "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clip(tc.in, tc.max); got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

// A retry delay travels as google.rpc.RetryInfo, and survives a hop through
// Upstream, so a client two servers away is told when to come back.
func TestRetryDelay(t *testing.T) {
	st := New(codes.ResourceExhausted, ReasonQueueFull, "busy").WithRetryDelay(1500 * time.Millisecond).GRPCStatus()
	if d := RetryDelay(st); d != 1500*time.Millisecond {
		t.Fatalf("RetryDelay = %s, want 1.5s", d)
	}
	if d := RetryDelay(Upstream("text", st.Err()).GRPCStatus()); d != 1500*time.Millisecond {
		t.Errorf("after Upstream: %s, want 1.5s", d)
	}
	if d := RetryDelay(New(codes.ResourceExhausted, ReasonQueueFull, "busy").GRPCStatus()); d != 0 {
		t.Errorf("no delay set: %s", d)
	}
}
