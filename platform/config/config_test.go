package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantAddr string
		wantWait time.Duration
		wantErr  string
	}{
		{name: "defaults", wantAddr: "127.0.0.1:1", wantWait: time.Second},
		{name: "env", env: map[string]string{"CHORUS_GRPC_ADDR": ":2", "CHORUS_SHUTDOWN_TIMEOUT": "3s"}, wantAddr: ":2", wantWait: 3 * time.Second},
		{name: "flag wins over env", args: []string{"-grpc-addr", ":3"}, env: map[string]string{"CHORUS_GRPC_ADDR": ":2"}, wantAddr: ":3", wantWait: time.Second},
		{name: "bad env names the variable", env: map[string]string{"CHORUS_SHUTDOWN_TIMEOUT": "soon"}, wantErr: "CHORUS_SHUTDOWN_TIMEOUT"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			addr := fs.String("grpc-addr", "127.0.0.1:1", "")
			wait := fs.Duration("shutdown-timeout", time.Second, "")
			err := Parse(fs, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *addr != tt.wantAddr || *wait != tt.wantWait {
				t.Errorf("got %q %s, want %q %s", *addr, *wait, tt.wantAddr, tt.wantWait)
			}
		})
	}
}
