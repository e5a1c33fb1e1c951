package serve

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

// TLS configures a server's transport security. With CertFile and KeyFile the server speaks
// only TLS (1.2 or later); with ClientCAFile as well it requires every client to present a
// certificate signed by that authority (mutual TLS), and refuses the handshake otherwise.
// `make certs` writes a development authority and certificates (platform/devcert).
type TLS struct {
	CertFile, KeyFile, ClientCAFile string
}

// RegisterFlags registers -tls-cert, -tls-key and -tls-client-ca.
func (t *TLS) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.CertFile, "tls-cert", t.CertFile, "PEM `file` of the server's TLS certificate; with -tls-key the server speaks only TLS")
	fs.StringVar(&t.KeyFile, "tls-key", t.KeyFile, "PEM `file` of the TLS certificate's private key")
	fs.StringVar(&t.ClientCAFile, "tls-client-ca", t.ClientCAFile, "PEM `file` of the authority whose certificates clients must present (mutual TLS); empty: none asked")
}

// Validate reports settings that do not go together.
func (t TLS) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("serve: -tls-cert and -tls-key go together")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		return errors.New("serve: -tls-client-ca needs -tls-cert and -tls-key")
	}
	return nil
}

// credentials returns the server option t asks for, or nil for plaintext.
func (t TLS) credentials() (grpc.ServerOption, error) {
	if t.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("serve: TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		if cfg.ClientCAs, err = certPool(t.ClientCAFile); err != nil {
			return nil, fmt.Errorf("serve: -tls-client-ca: %w", err)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return grpc.Creds(credentials.NewTLS(cfg)), nil
}

// certPool reads the PEM certificates of file into a pool.
func certPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}
