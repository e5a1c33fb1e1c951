// Package openaiapi holds what every backend that calls an OpenAI-compatible
// HTTP API shares: its configuration and flags, one HTTP client (API key,
// tracing, timeout), and how the server's errors become Chorus errors.
package openaiapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Reasons these backends report beyond rpcerr's shared ones.
const (
	// ReasonUpstreamAuth: the upstream server rejected the configured API
	// key.
	ReasonUpstreamAuth = "UPSTREAM_AUTH"
	// ReasonUpstreamRejected: the upstream server rejected the request
	// (HTTP 400/413/422) as invalid.
	ReasonUpstreamRejected = "UPSTREAM_REJECTED"
)

// ErrTimeout is the cause to give the context that bounds one upstream call
// (context.WithTimeoutCause), so that the backend's own timeout can be told
// apart from the caller's deadline.
var ErrTimeout = errors.New("openai: upstream timeout")

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// maxMessage bounds the upstream message echoed to clients.
const maxMessage = 200

// UpstreamMessage extracts error.message from an OpenAI-shaped error body,
// shortened to one printable line; "" when there is none.
func UpstreamMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) == 0 {
		return ""
	}
	var msg string
	var obj struct {
		Message string `json:"message"`
	}
	// Most servers send {"error":{"message":...}}; some (older llama.cpp,
	// Ollama) send {"error":"..."}.
	if json.Unmarshal(e.Error, &obj) == nil {
		msg = obj.Message
	} else if json.Unmarshal(e.Error, &msg) != nil {
		return ""
	}
	return trimMessage(msg)
}

// trimMessage makes an upstream message fit to show a client: valid UTF-8,
// one line, no control characters, at most maxMessage bytes.
func trimMessage(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// StatusError maps an upstream HTTP error response to the error the service
// reports; server names the upstream for people (e.g. "image server").
// Only a short message from the body reaches the client.
func StatusError(resp *http.Response, model, server string) *rpcerr.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := UpstreamMessage(body)
	status := resp.StatusCode
	withMsg := func(prefix string) string {
		if msg == "" {
			return prefix
		}
		return prefix + ": " + msg
	}
	var e *rpcerr.Error
	switch {
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge, status == http.StatusUnprocessableEntity:
		e = rpcerr.New(codes.InvalidArgument, ReasonUpstreamRejected, withMsg("the "+server+" rejected the request"))
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		// FAILED_PRECONDITION, not UNAUTHENTICATED or PERMISSION_DENIED:
		// the key is this service's configuration, not the caller's
		// credentials, so those codes would tell the caller to fix
		// something they cannot. Not INTERNAL either: nothing is broken in
		// the code, the system is in a state (a wrong or missing key) that
		// an operator must fix before the request can succeed, and
		// retrying will not help, which is what FAILED_PRECONDITION means.
		// The upstream message is not echoed: it may quote part of the key.
		e = rpcerr.New(codes.FailedPrecondition, ReasonUpstreamAuth,
			"the "+server+" rejected this service's API key; the operator must check -openai-api-key")
	case status == http.StatusNotFound:
		e = rpcerr.New(codes.NotFound, rpcerr.ReasonModelNotFound,
			fmt.Sprintf("the %s does not serve model %q", server, model)).WithMetadata("model", model)
	case status == http.StatusTooManyRequests:
		e = rpcerr.New(codes.ResourceExhausted, rpcerr.ReasonUpstreamBusy, withMsg("the "+server+" is rate limiting requests; retry later")).
			WithMetadata("subject", "upstream:"+resp.Request.URL.Host)
		if ra := resp.Header.Get("Retry-After"); ra != "" && len(ra) < 32 {
			e.WithMetadata("retry_after", ra)
		}
	case status == http.StatusRequestTimeout, status >= 500:
		e = rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown, fmt.Sprintf("the %s is unavailable (HTTP %d)", server, status))
	default:
		e = rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, fmt.Sprintf("the %s answered HTTP %d", server, status))
	}
	return e.WithMetadata("upstream_status", fmt.Sprint(status)).WithCause(fmt.Errorf("upstream HTTP %d: %s", status, trimMessage(string(body))))
}

// TransportError maps a failure to get (or finish reading) a response from
// server; ctx is the context of the upstream call.
func TransportError(ctx context.Context, err error, server string) *rpcerr.Error {
	switch {
	case errors.Is(context.Cause(ctx), ErrTimeout):
		return rpcerr.New(codes.DeadlineExceeded, rpcerr.ReasonDeadlineExceeded,
			"the "+server+" did not finish within this service's timeout").WithCause(err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return rpcerr.New(codes.DeadlineExceeded, rpcerr.ReasonDeadlineExceeded,
			"the deadline expired while waiting for the "+server).WithCause(err)
	case errors.Is(ctx.Err(), context.Canceled):
		return rpcerr.New(codes.Canceled, rpcerr.ReasonCanceled, "the request was canceled").WithCause(err)
	}
	// Connection refused, reset, EOF mid-body, DNS: the caller may retry.
	return rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown, "the "+server+" is unavailable").WithCause(err)
}

// RedactURL returns u with any password replaced, for logs.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	return p.Redacted()
}
