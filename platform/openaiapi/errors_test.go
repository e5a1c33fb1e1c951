package openaiapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestUpstreamMessage(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{body: `{"error":{"message":"bad  thing\n happened"}}`, want: "bad thing happened"},
		{body: `{"error":"plain string"}`, want: "plain string"},
		{body: `not json`, want: ""},
		{body: `{"error":{"message":"` + strings.Repeat("é", 300) + `"}}`, want: strings.Repeat("é", 100) + "..."},
		{body: "{\"error\":{\"message\":\"a\\u0000b\xff\"}}", want: ""},
	} {
		if got := UpstreamMessage([]byte(tc.body)); got != tc.want && !(tc.want == "" && got != "" && !strings.ContainsRune(got, 0)) {
			t.Errorf("UpstreamMessage(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		status   int
		body     string
		wantCode codes.Code
		wantMsg  string
	}{
		{status: 400, body: `{"error":{"message":"max_tokens too big"}}`, wantCode: codes.InvalidArgument, wantMsg: "the image server rejected the request: max_tokens too big"},
		{status: 401, body: `{"error":{"message":"key sk-abc is wrong"}}`, wantCode: codes.FailedPrecondition, wantMsg: "the image server rejected this service's API key; the operator must check -openai-api-key"},
		{status: 404, wantCode: codes.NotFound, wantMsg: `the image server does not serve model "m"`},
		{status: 429, wantCode: codes.ResourceExhausted, wantMsg: "the image server is rate limiting requests; retry later"},
		{status: 503, wantCode: codes.Unavailable, wantMsg: "the image server is unavailable (HTTP 503)"},
		{status: 302, wantCode: codes.Internal, wantMsg: "the image server answered HTTP 302"},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Body: io.NopCloser(strings.NewReader(tt.body)), Header: http.Header{},
			Request: &http.Request{URL: &url.URL{Host: "upstream:1"}}}
		e := StatusError(resp, "m", "image server")
		if e.Code != tt.wantCode || e.Message != tt.wantMsg {
			t.Errorf("HTTP %d: %s %q, want %s %q", tt.status, e.Code, e.Message, tt.wantCode, tt.wantMsg)
		}
	}
}

func TestTransportError(t *testing.T) {
	refused := errors.New("connection refused")
	timedOut, cancel := context.WithTimeoutCause(context.Background(), 0, ErrTimeout)
	defer cancel()
	<-timedOut.Done()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	tests := []struct {
		name     string
		ctx      context.Context
		wantCode codes.Code
	}{
		{name: "connection refused", ctx: context.Background(), wantCode: codes.Unavailable},
		{name: "our own timeout", ctx: timedOut, wantCode: codes.DeadlineExceeded},
		{name: "caller canceled", ctx: canceled, wantCode: codes.Canceled},
	}
	for _, tt := range tests {
		if e := TransportError(tt.ctx, refused, "model server"); e.Code != tt.wantCode || !errors.Is(e, refused) {
			t.Errorf("%s: %s (cause kept: %v), want %s", tt.name, e.Code, errors.Is(e, refused), tt.wantCode)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secret@127.0.0.1:8000/v1": "http://user:xxxxx@127.0.0.1:8000/v1",
		"https://api.example.com/v1":           "https://api.example.com/v1",
		"http://[::1":                          "(invalid URL)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
