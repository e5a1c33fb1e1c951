package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Reasons (google.rpc.ErrorInfo) of the errors the gateway reports itself.
const (
	ReasonMalformedBody    = "MALFORMED_BODY"
	ReasonBodyTooLarge     = "BODY_TOO_LARGE"
	ReasonRouteNotFound    = "ROUTE_NOT_FOUND"
	ReasonMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// ContentTypeNDJSON is the content type of streaming responses: one JSON
// object per line.
const ContentTypeNDJSON = "application/x-ndjson"

// codec is proto3 JSON with the lowerCamelCase names of the OpenAPI document
// (maxTokens, mimeType, sizeBytes), leaving unset fields out. On input it is
// strict: an unknown field is almost always a typo (max_token), and silently
// dropping it would run the request with a default the client did not want.
type codec struct {
	runtime.JSONPb
}

func newCodec() *codec {
	return &codec{runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}
}

// Marshal is runtime.JSONPb's, with a short way for the wrapper
// runtime.ForwardResponseStream puts around each streamed message,
// {"result": message}: JSONPb marshals the message with protojson, puts it
// in a map of json.RawMessage and encodes that with encoding/json (by
// reflection, compacting and HTML-escaping the message); this writes the
// same bytes directly. pprof of the gateway streaming 200 chunks put a
// third of its CPU in JSONPb.Marshal, half of it outside protojson
// (bench/README.md).
func (c *codec) Marshal(v any) ([]byte, error) {
	if m, ok := v.(map[string]any); ok && len(m) == 1 && c.Indent == "" {
		if msg, ok := m["result"].(proto.Message); ok {
			inner, err := c.MarshalOptions.Marshal(msg)
			if err != nil {
				return nil, err
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, inner); err != nil {
				return nil, err
			}
			out := bytes.NewBuffer(make([]byte, 0, compact.Len()+len(`{"result":}`)+16))
			out.WriteString(`{"result":`)
			json.HTMLEscape(out, compact.Bytes())
			out.WriteByte('}')
			return out.Bytes(), nil
		}
	}
	return c.JSONPb.Marshal(v)
}

// StreamContentType makes streaming routes NDJSON (runtime.StreamContentType).
func (*codec) StreamContentType(any) string { return ContentTypeNDJSON }

// NewDecoder decodes a request body. The generated handlers flatten a decode
// error into a message-only INVALID_ARGUMENT status, so the structured error
// (field violations, the 413 for an oversized body) is also left on the
// request's body, where the error handler picks it up.
func (c *codec) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		err := c.decode(r, v)
		if b, ok := r.(*body); ok && err != nil && !errors.Is(err, io.EOF) {
			b.decodeErr = err
		}
		return err
	})
}

func (c *codec) decode(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errBodyTooLarge(tooLarge.Limit)
	case err != nil:
		return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody, "the request body could not be read").WithCause(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		// An empty body is an empty request, as the generated handlers expect.
		return io.EOF
	}
	m, ok := v.(proto.Message)
	if !ok {
		return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").
			WithCause(fmt.Errorf("gateway: decoding into %T, not a proto message", v))
	}
	if err := c.UnmarshalOptions.Unmarshal(data, m); err != nil {
		return explain(m.ProtoReflect().Descriptor(), data, err)
	}
	return nil
}

func errBodyTooLarge(limit int64) *runtime.HTTPStatusError {
	return &runtime.HTTPStatusError{
		HTTPStatus: http.StatusRequestEntityTooLarge,
		Err: rpcerr.New(codes.InvalidArgument, ReasonBodyTooLarge,
			fmt.Sprintf("the request body is larger than %d bytes", limit)).
			WithMetadata("limit_bytes", strconv.FormatInt(limit, 10)),
	}
}

// explain turns a protojson failure into an error a person can act on: field
// violations naming each unknown or mistyped field by its path in the body,
// or else what the JSON parser said.
func explain(md protoreflect.MessageDescriptor, data []byte, cause error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		msg := "the request body is not valid JSON"
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			msg += fmt.Sprintf(": %s at byte %d", syn.Error(), syn.Offset)
		}
		return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody, msg).WithCause(cause)
	}
	if dec.More() {
		return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody, "the request body holds more than one JSON value").WithCause(cause)
	}
	var w walker
	w.message(md, v, "")
	if len(w.violations) > 0 {
		return rpcerr.Invalid(w.violations...).WithCause(cause)
	}
	return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody,
		"the request body does not match the API: "+strings.TrimPrefix(cause.Error(), "proto: ")).WithCause(cause)
}

// walker checks a decoded JSON value against a message's fields the way
// protojson reads them, collecting what it would reject.
type walker struct {
	violations []rpcerr.FieldViolation
}

const maxViolations = 16

func (w *walker) add(field, format string, args ...any) {
	if len(w.violations) < maxViolations {
		w.violations = append(w.violations, rpcerr.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
}

func (w *walker) message(md protoreflect.MessageDescriptor, v any, path string) {
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		// Well-known types have their own JSON forms; protojson's message
		// about them is specific enough.
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		w.add(orBody(path), "must be a JSON object")
		return
	}
	fields := md.Fields()
	oneofs := map[protoreflect.FullName]string{}
	for _, key := range sortedKeys(obj) {
		p := join(path, key)
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		if fd == nil {
			w.add(p, "unknown field%s", suggest(fields, key))
			continue
		}
		val := obj[key]
		if val == nil {
			continue // null leaves a field unset
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if other, dup := oneofs[od.FullName()]; dup {
				w.add(p, "cannot be set together with %q (only one of them may be given)", other)
				continue
			}
			oneofs[od.FullName()] = key
		}
		w.field(fd, val, p)
	}
}

func (w *walker) field(fd protoreflect.FieldDescriptor, v any, path string) {
	switch {
	case fd.IsMap():
		obj, ok := v.(map[string]any)
		if !ok {
			w.add(path, "must be a JSON object")
			return
		}
		for _, k := range sortedKeys(obj) {
			if obj[k] != nil {
				w.value(fd.MapValue(), obj[k], join(path, k))
			}
		}
	case fd.IsList():
		arr, ok := v.([]any)
		if !ok {
			w.add(path, "must be a JSON array")
			return
		}
		for i, e := range arr {
			w.value(fd, e, fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		w.value(fd, v, path)
	}
}

func (w *walker) value(fd protoreflect.FieldDescriptor, v any, path string) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.message(fd.Message(), v, path)
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			w.add(path, "must be a string")
		}
	case protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			w.add(path, "must be a base64 string")
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			w.add(path, "must be true or false")
		}
	case protoreflect.EnumKind:
		w.enum(fd.Enum(), v, path)
	default: // numbers; proto3 JSON also accepts them quoted
		switch v.(type) {
		case json.Number, string:
		default:
			w.add(path, "must be a number")
		}
	}
}

func (w *walker) enum(ed protoreflect.EnumDescriptor, v any, path string) {
	switch v := v.(type) {
	case json.Number:
	case string:
		if ed.Values().ByName(protoreflect.Name(v)) != nil {
			return
		}
		var names []string
		for i := range ed.Values().Len() {
			names = append(names, string(ed.Values().Get(i).Name()))
		}
		w.add(path, "must be one of %s", strings.Join(names, ", "))
	default:
		w.add(path, "must be an enum name (a string)")
	}
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// suggest returns ` (did you mean "maxTokens"?)` when key is a near miss of
// one of the fields' JSON names, or "".
func suggest(fields protoreflect.FieldDescriptors, key string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	k := norm(key)
	best, bestDist := "", 3
	for i := range fields.Len() {
		name := fields.Get(i).JSONName()
		if d := editDistance(k, norm(name), bestDist); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best == "" || bestDist >= len(k) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, or limit when it
// is at least limit.
func editDistance(a, b string, limit int) int {
	if len(a) > 64 || len(b) > 64 {
		return limit // no typo is that long; keep the work bounded
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
