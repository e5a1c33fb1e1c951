package apikey_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/platform/apikey"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# comment\r\nkey-one-0123456789\r\n\n  key-two-0123456789  \n")
	tests := []struct {
		name    string
		cfg     apikey.Config
		valid   []string
		invalid []string
		open    bool
		wantErr string
	}{
		{name: "nothing configured", open: true},
		{name: "file", cfg: apikey.Config{KeysFile: good}, valid: []string{"key-one-0123456789", "key-two-0123456789"}, invalid: []string{"# comment", "", "key-one"}},
		{name: "variable", cfg: apikey.Config{Keys: "key-three-0123456789, key-four-0123456789,"}, valid: []string{"key-three-0123456789", "key-four-0123456789"}, invalid: []string{"key-three-0123456789,", "key-four"}},
		{name: "both", cfg: apikey.Config{KeysFile: good, Keys: "key-three-0123456789"}, valid: []string{"key-one-0123456789", "key-three-0123456789"}},
		{name: "missing file", cfg: apikey.Config{KeysFile: filepath.Join(dir, "nope")}, wantErr: "-api-keys-file"},
		{name: "empty file", cfg: apikey.Config{KeysFile: write("empty", "# none\n")}, wantErr: "holds no key"},
		{name: "short key", cfg: apikey.Config{Keys: "short"}, wantErr: "shorter than 16"},
		{name: "key with a control character", cfg: apikey.Config{Keys: "key-with-bell-\a-0123"}, wantErr: "printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := tt.cfg.Load()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (keys == nil) != tt.open {
				t.Fatalf("Load = %v, want open %v", keys, tt.open)
			}
			for _, k := range tt.valid {
				if keys.Check("Bearer "+k) != nil {
					t.Errorf("%q refused", k)
				}
			}
			for _, k := range tt.invalid {
				if keys.Check("Bearer "+k) == nil {
					t.Errorf("%q accepted", k)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	keys, err := apikey.New("key-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		auth string
		want error
	}{
		{"", apikey.ErrMissing},
		{"Bearer key-one-0123456789", nil},
		{"BEARER   key-one-0123456789 ", nil},
		{"Bearer", apikey.ErrInvalid},
		{"Bearer ", apikey.ErrInvalid},
		{"Token key-one-0123456789", apikey.ErrInvalid},
		{"key-one-0123456789", apikey.ErrInvalid},
		{"Bearer key-one-012345678", apikey.ErrInvalid},
	} {
		if got := keys.Check(tt.auth); got != tt.want { //nolint:errorlint // sentinels returned as is
			t.Errorf("Check(%q) = %v, want %v", tt.auth, got, tt.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "127.1.2.3:80": true, "[::1]:80": true, "localhost:80": true,
		"0.0.0.0:80": false, ":80": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false, "nonsense": false,
	} {
		if got := apikey.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestAdmitRate(t *testing.T) {
	keys, err := apikey.Config{Keys: "key-one-0123456789,key-two-0123456789", RateLimit: 2}.Load()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	keys.SetClock(func() time.Time { return now })
	admit := func(key string) (time.Duration, error) { return keys.Admit("Bearer " + key) }
	// A burst of a second's worth (2), then refused until a token returns.
	for i := range 2 {
		if _, err := admit("key-one-0123456789"); err != nil {
			t.Fatalf("request %d of the burst: %v", i+1, err)
		}
	}
	retry, err := admit("key-one-0123456789")
	if !errors.Is(err, apikey.ErrRateLimited) || retry != 500*time.Millisecond {
		t.Fatalf("third request: %v, retry %s, want ErrRateLimited and 500ms", err, retry)
	}
	if _, err := admit("key-two-0123456789"); err != nil {
		t.Fatalf("the other key shares no bucket: %v", err)
	}
	now = now.Add(500 * time.Millisecond)
	if _, err := admit("key-one-0123456789"); err != nil {
		t.Fatalf("after the retry delay: %v", err)
	}
	if _, err := admit("key-unknown-0123456789"); !errors.Is(err, apikey.ErrInvalid) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := (apikey.Config{Keys: "key-one-0123456789", RateLimit: -1}).Load(); err == nil {
		t.Fatal("a negative rate loads")
	}
}
