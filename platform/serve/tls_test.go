package serve_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/devcert"
	"github.com/chorus-ai/chorus/platform/dial"
	"github.com/chorus-ai/chorus/platform/serve"
)

// TLS and mutual TLS with certificates from files (devcert, as `make certs` writes them):
// a real handshake over loopback. A server with -tls-client-ca refuses a client that
// presents no certificate, and a TLS server refuses a plaintext client.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	if err := devcert.Write(dir); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir() // another authority, whose client certificate the server must refuse
	if err := devcert.Write(other); err != nil {
		t.Fatal(err)
	}
	file := func(d, name string) string { return filepath.Join(d, name) }
	server := serve.TLS{CertFile: file(dir, devcert.ServerCertFile), KeyFile: file(dir, devcert.ServerKeyFile)}
	mutual := server
	mutual.ClientCAFile = file(dir, devcert.CAFile)
	trusting := dial.TLS{CAFile: file(dir, devcert.CAFile)}
	withCert := dial.TLS{CAFile: file(dir, devcert.CAFile), CertFile: file(dir, devcert.ClientCertFile), KeyFile: file(dir, devcert.ClientKeyFile)}
	strangerCert := dial.TLS{CAFile: file(dir, devcert.CAFile), CertFile: file(other, devcert.ClientCertFile), KeyFile: file(other, devcert.ClientKeyFile)}
	for _, tc := range []struct {
		name   string
		server serve.TLS
		client *dial.TLS // nil: plaintext
		ok     bool
	}{
		{name: "TLS", server: server, client: &trusting, ok: true},
		{name: "TLS, client certificate not asked", server: server, client: &withCert, ok: true},
		{name: "mutual TLS", server: mutual, client: &withCert, ok: true},
		{name: "mutual TLS, no client certificate", server: mutual, client: &trusting},
		{name: "mutual TLS, certificate of another authority", server: mutual, client: &strangerCert},
		{name: "plaintext client, TLS server", server: server},
		{name: "client trusting another authority", server: server, client: &dial.TLS{CAFile: file(other, devcert.CAFile)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []grpc.DialOption
			if tc.client != nil {
				var err error
				if opts, err = tc.client.DialOptions(); err != nil {
					t.Fatal(err)
				}
			}
			ts := newTestServerWith(t, serve.Config{TLS: tc.server}, func(context.Context) error { return nil }, opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := ts.call(ctx)
			if tc.ok && err != nil {
				t.Fatalf("call: %v", err)
			}
			if !tc.ok && (status.Code(err) != codes.Unavailable) {
				t.Fatalf("call: %v, want UNAVAILABLE (handshake refused)", err)
			}
		})
	}
}

func TestTLSValidate(t *testing.T) {
	for _, tc := range []struct {
		tls  serve.TLS
		want string
	}{
		{tls: serve.TLS{CertFile: "c.pem"}, want: "go together"},
		{tls: serve.TLS{ClientCAFile: "ca.pem"}, want: "needs -tls-cert"},
	} {
		err := serve.Config{Addr: "127.0.0.1:0", TLS: tc.tls}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.tls, err, tc.want)
		}
	}
	for _, tc := range []struct {
		tls  dial.TLS
		want string
	}{
		{tls: dial.TLS{CAFile: "ca.pem", KeyFile: "k.pem"}, want: "go together"},
		{tls: dial.TLS{CertFile: "c.pem", KeyFile: "k.pem"}, want: "need -upstream-tls-ca"},
	} {
		if err := tc.tls.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.tls, err, tc.want)
		}
	}
}
