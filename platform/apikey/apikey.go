// Package apikey is Chorus's shared-secret authentication: the API keys a
// server accepts (from a file and CHORUS_API_KEYS), checked in constant time
// on gRPC metadata and HTTP Authorization headers, the key a client sends to
// its upstreams, and the rule that refuses an open server on a non-loopback
// address.
package apikey

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// ReasonUnauthenticated is the ErrorInfo reason of a missing or wrong key.
const ReasonUnauthenticated = "UNAUTHENTICATED"

// Config is a server's authentication settings.
type Config struct {
	// KeysFile names a file of accepted keys, one per line; blank lines
	// and lines starting with # are skipped.
	KeysFile string
	// Keys are more accepted keys, comma-separated (CHORUS_API_KEYS).
	Keys string
	// AllowInsecureBind lets a server without keys listen on an address
	// other than loopback (inside a container, behind a network policy).
	AllowInsecureBind bool
	// RateLimit is how many requests per second each key may make (a token
	// bucket holding a second's worth, at least one); 0 is no limit.
	RateLimit float64
}

// RegisterFlags registers -api-keys-file, -api-keys and
// -allow-insecure-bind.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.KeysFile, "api-keys-file", c.KeysFile, "file of accepted API keys, one per line; with keys, every call needs \"Authorization: Bearer <key>\"")
	fs.StringVar(&c.Keys, "api-keys", c.Keys, "comma-separated accepted API keys (prefer CHORUS_API_KEYS or -api-keys-file: flags show in ps)")
	fs.Float64Var(&c.RateLimit, "rate-limit", c.RateLimit, "requests per second each API key may make (bursts of a second's worth); 0: no limit")
	fs.BoolVar(&c.AllowInsecureBind, "allow-insecure-bind", c.AllowInsecureBind, "allow listening on a non-loopback address without API keys")
}

// Load reads the keys c names. No keys at all is a nil *Keys: the server
// is open.
func (c Config) Load() (*Keys, error) {
	var keys []string
	if c.KeysFile != "" {
		data, err := os.ReadFile(c.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("-api-keys-file: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			keys = append(keys, line)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("-api-keys-file: %w", err)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("-api-keys-file %s holds no key", c.KeysFile)
		}
	}
	for _, k := range strings.Split(c.Keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	if c.RateLimit < 0 {
		return nil, fmt.Errorf("-rate-limit %v is negative", c.RateLimit)
	}
	k, err := New(keys...)
	if err != nil {
		return nil, err
	}
	if c.RateLimit > 0 {
		k.buckets = make([]bucket, len(k.sums))
		k.rate = c.RateLimit
	}
	return k, nil
}

// CheckBind refuses a listen address other than loopback for a server
// without keys, unless allowed: an open server must not be reachable from
// the network by accident.
func (c Config) CheckBind(addr string, keys *Keys) error {
	if keys != nil || c.AllowInsecureBind || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without API keys: set -api-keys-file or CHORUS_API_KEYS, listen on 127.0.0.1, or set -allow-insecure-bind (CHORUS_ALLOW_INSECURE_BIND=true) where a network policy guards the port", addr)
}

// IsLoopback reports whether the listen address addr binds loopback only:
// a loopback IP or "localhost". An empty host binds every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Keys is a set of accepted API keys, each with its own rate limit when
// one is configured.
type Keys struct {
	sums [][sha256.Size]byte
	// rate is the requests per second each key may make; buckets[i] is
	// key i's token bucket. No buckets: no limit.
	rate    float64
	mu      sync.Mutex
	buckets []bucket
	now     func() time.Time // time.Now; tests replace it
}

// bucket is a token bucket: tokens at the time last.
type bucket struct {
	tokens float64
	last   time.Time
}

// ErrRateLimited is Admit's refusal of a key over its rate.
var ErrRateLimited = errors.New("rate limit exceeded")

// ReasonRateLimited is the ErrorInfo reason of a refusal for rate.
const ReasonRateLimited = "RATE_LIMITED"

// Admit checks an Authorization header value, then spends one request of
// its key's rate. Over the rate it returns ErrRateLimited and how long until
// the next request would be admitted.
func (k *Keys) Admit(authorization string) (retryAfter time.Duration, err error) {
	if authorization == "" {
		return 0, ErrMissing
	}
	token, ok := Bearer(authorization)
	if !ok {
		return 0, ErrInvalid
	}
	i := k.index(token)
	if i < 0 {
		return 0, ErrInvalid
	}
	if k.buckets == nil {
		return 0, nil
	}
	burst := math.Max(1, k.rate)
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if k.now != nil {
		now = k.now()
	}
	b := &k.buckets[i]
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*k.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / k.rate * float64(time.Second)), ErrRateLimited
	}
	b.tokens--
	return 0, nil
}

// SetClock replaces time.Now for the rate limit, for tests.
func (k *Keys) SetClock(now func() time.Time) { k.now = now }

// New returns the set of keys. A key must be printable ASCII without
// spaces, so that it survives a header.
func New(keys ...string) (*Keys, error) {
	k := &Keys{}
	for i, key := range keys {
		if len(key) < 16 {
			return nil, fmt.Errorf("API key %d is shorter than 16 characters", i+1)
		}
		for _, r := range key {
			if r <= ' ' || r > '~' {
				return nil, fmt.Errorf("API key %d holds a character other than printable ASCII", i+1)
			}
		}
		k.sums = append(k.sums, sha256.Sum256([]byte(key)))
	}
	return k, nil
}

// Valid reports whether key is one of the set. It compares digests of
// equal length, in time independent of the key and of which key matched.
func (k *Keys) Valid(key string) bool { return k.index(key) >= 0 }

// index returns which key of the set key is, or -1, comparing with every
// key in constant time.
func (k *Keys) index(key string) int {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.sums {
		eq := subtle.ConstantTimeCompare(sum[:], k.sums[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	return found
}

// Bearer returns the token of an "Authorization: Bearer <token>" value.
func Bearer(authorization string) (string, bool) {
	const prefix = "bearer "
	if len(authorization) < len(prefix) || !strings.EqualFold(authorization[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(authorization[len(prefix):]), true
}

// ErrMissing and ErrInvalid are the two ways a call fails authentication.
var (
	ErrMissing = errors.New("missing API key")
	ErrInvalid = errors.New("invalid API key")
)

// Check checks an Authorization header value.
func (k *Keys) Check(authorization string) error {
	if authorization == "" {
		return ErrMissing
	}
	token, ok := Bearer(authorization)
	if !ok || !k.Valid(token) {
		return ErrInvalid
	}
	return nil
}

// Message is the client-facing text of an authentication failure; it never
// echoes the key.
func Message(err error) string {
	if errors.Is(err, ErrMissing) {
		return "an API key is required: send \"Authorization: Bearer <key>\""
	}
	return "the API key is not valid"
}

// open reports a gRPC method that needs no key: health checks, which
// orchestrators and load balancers make without credentials.
func open(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+healthpb.Health_ServiceDesc.ServiceName+"/")
}

func (k *Keys) checkContext(ctx context.Context, fullMethod string) error {
	if open(fullMethod) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var auth string
	if v := md.Get("authorization"); len(v) > 0 {
		auth = v[0]
	}
	retry, err := k.Admit(auth)
	switch {
	case errors.Is(err, ErrRateLimited):
		return RateLimitError(retry)
	case err != nil:
		return rpcerr.New(codes.Unauthenticated, ReasonUnauthenticated, Message(err))
	}
	return nil
}

// RateLimitError is the RESOURCE_EXHAUSTED of a key over its rate, saying
// when to retry.
func RateLimitError(retryAfter time.Duration) *rpcerr.Error {
	ms := max(retryAfter.Milliseconds(), 1)
	return rpcerr.New(codes.ResourceExhausted, ReasonRateLimited,
		fmt.Sprintf("this API key is over its rate limit; retry in %d ms", ms)).
		WithMetadata("retry_after_ms", strconv.FormatInt(ms, 10))
}

// UnaryInterceptor rejects unary calls without a valid key with
// UNAUTHENTICATED; the grpc.health.v1 service stays open.
func (k *Keys) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := k.checkContext(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamInterceptor is UnaryInterceptor for streams.
func (k *Keys) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := k.checkContext(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// ClientKey is the key a server sends to its upstreams.
type ClientKey string

// RegisterFlag registers -upstream-api-key.
func (c *ClientKey) RegisterFlag(fs *flag.FlagSet) {
	fs.Func("upstream-api-key", "API key sent to the upstream gRPC services (prefer CHORUS_UPSTREAM_API_KEY: flags show in ps)", func(s string) error {
		*c = ClientKey(strings.TrimSpace(s))
		return nil
	})
}

// DialOptions returns the options that send the key on every call; none
// without a key.
func (c ClientKey) DialOptions() []grpc.DialOption {
	if c == "" {
		return nil
	}
	return []grpc.DialOption{grpc.WithPerRPCCredentials(bearer(c))}
}

// String hides the key, so that it never reaches a log by accident.
func (c ClientKey) String() string {
	if c == "" {
		return ""
	}
	return "[redacted]"
}

// bearer is per-RPC credentials carrying a key. The services talk plain
// HTTP/2 inside a trusted network, so it does not require TLS.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
