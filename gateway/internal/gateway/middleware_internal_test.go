package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPanicBecomes500(t *testing.T) {
	g := &Gateway{cfg: Config{}.withDefaults(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), codec: newCodec()}
	h := g.observe(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/text/models", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if body.Code != 13 || body.Message != "internal error" || len(body.Details) != 1 || body.Details[0].Reason != "INTERNAL" {
		t.Errorf("body %s", rec.Body)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{a: "maxtoken", b: "maxtokens", want: 1},
		{a: "", b: "abc", want: 3},
		{a: "prompt", b: "prompt", want: 0},
		{a: "kitten", b: "sitting", want: 3},
	} {
		if got := editDistance(tc.a, tc.b, 10); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
