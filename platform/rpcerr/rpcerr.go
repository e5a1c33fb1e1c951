// Package rpcerr is the boundary between domain errors and the gRPC status
// space: every Chorus server turns the errors its handlers return into a
// status with a deliberate code and google.rpc details here.
package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the google.rpc.ErrorInfo domain of every Chorus error.
const Domain = "chorus.ai"

// Reasons shared by several servers. A reason is a stable, machine-readable
// UPPER_SNAKE_CASE identifier carried in google.rpc.ErrorInfo.
const (
	ReasonInvalidArgument  = "INVALID_ARGUMENT"
	ReasonModelNotFound    = "MODEL_NOT_FOUND"
	ReasonQueueFull        = "QUEUE_FULL"
	ReasonUpstream         = "UPSTREAM_ERROR"
	ReasonUpstreamDown     = "UPSTREAM_UNAVAILABLE"
	ReasonUpstreamBusy     = "UPSTREAM_RATE_LIMITED"
	ReasonDeadlineExceeded = "DEADLINE_EXCEEDED"
	ReasonCanceled         = "CANCELED"
	ReasonInternal         = "INTERNAL"
)

// FieldViolation names one invalid field of a request and says why.
type FieldViolation struct {
	// Field is the path of the field, for example "text.max_tokens".
	Field string
	// Description says what is wrong, for people.
	Description string
}

// Error is a domain error with a deliberate gRPC code. Its Message reaches
// clients, so it must leak nothing; Cause stays on the server (it is logged
// and available to errors.Is/As).
type Error struct {
	Code       codes.Code
	Reason     string
	Message    string
	Violations []FieldViolation
	Metadata   map[string]string
	// RetryDelay, when positive, tells the client how long to wait before
	// trying again (a google.rpc.RetryInfo detail).
	RetryDelay time.Duration
	Cause      error
}

// New returns an Error with the given code, ErrorInfo reason and message.
func New(code codes.Code, reason, msg string) *Error {
	return &Error{Code: code, Reason: reason, Message: msg}
}

// Invalid returns an INVALID_ARGUMENT error listing the violations in a
// google.rpc.BadRequest.
func Invalid(violations ...FieldViolation) *Error {
	msg := "invalid request"
	if len(violations) > 0 {
		msg = fmt.Sprintf("invalid %s: %s", violations[0].Field, violations[0].Description)
		if n := len(violations) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more)", n)
		}
	}
	return &Error{Code: codes.InvalidArgument, Reason: ReasonInvalidArgument, Message: msg, Violations: violations}
}

// Error implements error; it includes the cause, for logs.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// WithCause records the underlying error, which never reaches clients.
func (e *Error) WithCause(err error) *Error {
	e.Cause = err
	return e
}

// WithMetadata adds one ErrorInfo metadata entry.
func (e *Error) WithMetadata(key, value string) *Error {
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	e.Metadata[key] = value
	return e
}

// WithRetryDelay says how long the client should wait before retrying.
func (e *Error) WithRetryDelay(d time.Duration) *Error {
	e.RetryDelay = d
	return e
}

// GRPCStatus lets status.FromError and the gRPC runtime see the status.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain, Metadata: e.Metadata}}
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		details = append(details, br)
	}
	if e.Code == codes.ResourceExhausted {
		details = append(details, &errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
			Subject: e.Metadata["subject"], Description: e.Message,
		}}})
	}
	if e.RetryDelay > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryDelay)})
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}

// Status returns the status a client should see for err:
//   - an *Error anywhere in the chain gives its own code and details;
//   - context cancellation and deadlines give CANCELED and DEADLINE_EXCEEDED
//     (also when they arrive as gRPC statuses from the runtime);
//   - anything else is INTERNAL with a generic message: an error without a
//     deliberate code is a bug, and its text may not be fit for clients.
//
// A nil err gives an OK status.
func Status(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	var e *Error
	if errors.As(err, &e) {
		return e.GRPCStatus()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return New(codes.Canceled, ReasonCanceled, "the request was canceled").GRPCStatus()
	case errors.Is(err, context.DeadlineExceeded):
		return New(codes.DeadlineExceeded, ReasonDeadlineExceeded, "the deadline expired before the operation completed").GRPCStatus()
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Canceled, codes.DeadlineExceeded:
			return st
		}
	}
	return New(codes.Internal, ReasonInternal, "internal error").GRPCStatus()
}

// IsDeliberate reports whether Status would keep err's own code, that is
// whether err is not an unexpected internal error worth logging loudly.
func IsDeliberate(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code != codes.Internal && e.Code != codes.Unknown
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded
}

// Upstream maps an error from a Chorus service this server called (named by
// service, for example "text") to the error this server reports. Codes that
// describe the caller's own request or a transient condition keep their
// meaning; codes that describe a fault between the two servers become
// INTERNAL, since the caller cannot act on them.
func Upstream(service string, err error) *Error {
	if err == nil {
		return nil
	}
	var own *Error
	if errors.As(err, &own) {
		return own
	}
	switch {
	case errors.Is(err, context.Canceled):
		return New(codes.Canceled, ReasonCanceled, "the request was canceled").WithCause(err)
	case errors.Is(err, context.DeadlineExceeded):
		return New(codes.DeadlineExceeded, ReasonDeadlineExceeded, "the deadline expired while waiting for the "+service+" service").WithCause(err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return New(codes.Internal, ReasonUpstream, "the "+service+" service failed").WithCause(err).WithMetadata("service", service)
	}
	out := &Error{Code: st.Code(), Message: service + ": " + st.Message(), Cause: err}
	out.WithMetadata("service", service)
	chorus := FromChorus(st)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			out.Reason = d.GetReason()
			for k, v := range d.GetMetadata() {
				if k != "service" {
					out.WithMetadata(k, v)
				}
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				out.Violations = append(out.Violations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			out.RetryDelay = d.GetRetryDelay().AsDuration()
		}
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.OutOfRange, codes.FailedPrecondition,
		codes.ResourceExhausted, codes.Canceled, codes.DeadlineExceeded:
	case codes.Unavailable:
		// The transport's own message names addresses; a Chorus server's
		// says which of its dependencies is down, so it is kept.
		if !chorus {
			out.Reason = ReasonUpstreamDown
			out.Message = "the " + service + " service is unavailable"
		}
	default:
		out.Code, out.Reason, out.Message, out.Violations, out.RetryDelay = codes.Internal, ReasonUpstream, "the "+service+" service failed", nil, 0
	}
	if out.Reason == "" {
		out.Reason = ReasonUpstream
	}
	return out
}

// FromChorus reports whether st is a deliberate error of a Chorus server
// (it carries Chorus's ErrorInfo), rather than one the transport made.
func FromChorus(st *status.Status) bool {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return true
		}
	}
	return false
}

// RetryDelay is the wait a status's google.rpc.RetryInfo asks for; 0
// when it has none.
func RetryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// Details extracts the ErrorInfo reason and field violations from a status,
// for tests and clients.
func Details(st *status.Status) (reason string, violations []FieldViolation) {
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				violations = append(violations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	sort.SliceStable(violations, func(i, j int) bool { return violations[i].Field < violations[j].Field })
	return reason, violations
}

// Clip shortens s, a client-supplied value about to be echoed in a message,
// to at most max bytes (cut at a character boundary, then "..."), and makes
// it valid UTF-8, which proto3 JSON requires of every string.
func Clip(s string, max int) string {
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
