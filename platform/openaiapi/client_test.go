package openaiapi

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "ok", cfg: Config{BaseURL: "http://127.0.0.1:8000/v1", Models: []string{"m"}}, ok: true},
		{name: "no scheme", cfg: Config{BaseURL: "127.0.0.1:8000"}},
		{name: "ftp", cfg: Config{BaseURL: "ftp://x/v1"}},
		{name: "negative timeout", cfg: Config{BaseURL: "http://x/v1", Timeout: -time.Second}},
		{name: "empty model name", cfg: Config{BaseURL: "http://x/v1", Models: []string{""}}},
	} {
		err := tc.cfg.Validate("http://example/v1")
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
		if tc.name == "no scheme" && (err == nil || !strings.Contains(err.Error(), "such as http://example/v1")) {
			t.Errorf("%s: the error %v does not give the example", tc.name, err)
		}
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "openai", Config{BaseURL: "http://user:pw@x/v1", APIKey: "sk-secret"})
	if strings.Contains(logs.String(), "sk-secret") || strings.Contains(logs.String(), "pw@") || !strings.Contains(logs.String(), `"api_key_set":true`) {
		t.Errorf("config logs %s", logs.String())
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Setenv(APIKeyEnv, "sk-from-env")
	for _, tc := range []struct {
		name    string
		args    []string
		wantKey string
	}{
		{name: "env fallback", wantKey: "sk-from-env"},
		{name: "flag wins", args: []string{"-openai-api-key", "sk-flag"}, wantKey: "sk-flag"},
		{name: "empty flag falls back", args: []string{"-openai-api-key", ""}, wantKey: "sk-from-env"},
	} {
		var c Config
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		var help bytes.Buffer
		fs.SetOutput(&help)
		c.RegisterFlags(fs, FlagUsage{BaseURL: "base", Models: "models", Timeout: "timeout"})
		if err := fs.Parse(append(tc.args, "-openai-models", " a, ,b", "-openai-base-url", "http://h/v1")); err != nil {
			t.Fatal(err)
		}
		if c.APIKey != tc.wantKey || strings.Join(c.Models, "|") != "a|b" || c.BaseURL != "http://h/v1" || c.Timeout != DefaultTimeout {
			t.Errorf("%s: %+v", tc.name, c)
		}
		fs.PrintDefaults()
		if strings.Contains(help.String(), "sk-") {
			t.Errorf("%s: -help shows the key:\n%s", tc.name, help.String())
		}
	}
}

// The key goes with requests to the configured server, and to no other host.
func TestClientAuthorizesOnlyItsServer(t *testing.T) {
	got := make(chan string, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Authorization") })
	api, other := httptest.NewServer(h), httptest.NewServer(h)
	defer api.Close()
	defer other.Close()
	var logs bytes.Buffer
	c := NewClient(Config{BaseURL: api.URL + "/v1/", APIKey: "sk-k"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if logs.Len() != 0 {
		t.Errorf("warned about a base URL ending in /v1/: %s", logs.String())
	}
	req, err := c.Post(context.Background(), "/x", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.String() != api.URL+"/v1/x" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("POST %s, Content-Type %q", req.URL, req.Header.Get("Content-Type"))
	}
	foreign, err := http.NewRequest(http.MethodGet, other.URL+"/blob", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*http.Request{req, foreign} {
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if a, b := <-got, <-got; a != "Bearer sk-k" || b != "" {
		t.Errorf("Authorization %q to the server, %q to another host", a, b)
	}
	NewClient(Config{BaseURL: api.URL}, slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "usually ends in /v1") {
		t.Errorf("no warning for a base URL without /v1: %q", logs.String())
	}
}
