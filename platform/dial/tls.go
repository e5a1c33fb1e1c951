package dial

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLS configures a client's transport security towards Chorus servers started with
// -tls-cert (platform/serve). With CAFile the connection is TLS and the server must present a
// certificate signed by that authority for the name dialled (or ServerName); with CertFile
// and KeyFile as well the client presents its own certificate (mutual TLS). With none of them
// the connection is plaintext, as before.
type TLS struct {
	CAFile, CertFile, KeyFile, ServerName string
}

// RegisterFlags registers -upstream-tls-ca, -upstream-tls-cert, -upstream-tls-key and
// -upstream-tls-server-name.
func (t *TLS) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.CAFile, "upstream-tls-ca", t.CAFile, "PEM `file` of the authority the upstream servers' TLS certificates are signed by; set: connect with TLS")
	fs.StringVar(&t.CertFile, "upstream-tls-cert", t.CertFile, "PEM `file` of the client certificate presented to the upstreams (mutual TLS)")
	fs.StringVar(&t.KeyFile, "upstream-tls-key", t.KeyFile, "PEM `file` of the client certificate's private key")
	fs.StringVar(&t.ServerName, "upstream-tls-server-name", t.ServerName, "`name` the upstreams' certificates must hold, when not the host dialled")
}

// Validate reports settings that do not go together.
func (t TLS) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("dial: -upstream-tls-cert and -upstream-tls-key go together")
	}
	if t.CAFile == "" && (t.CertFile != "" || t.ServerName != "") {
		return errors.New("dial: the upstream TLS settings need -upstream-tls-ca")
	}
	return nil
}

// DialOptions returns the options for Dial that t asks for: none for plaintext.
func (t TLS) DialOptions() ([]grpc.DialOption, error) {
	if t.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("dial: -upstream-tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("dial: -upstream-tls-ca %s: no PEM certificate", t.CAFile)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("dial: upstream TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, nil
}
