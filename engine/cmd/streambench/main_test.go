package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/engine"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1}, 10},
	} {
		in := slices.Clone(tc.in)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("median reordered its argument: %v", tc.in)
		}
	}
}

func TestRatiosAndTable(t *testing.T) {
	if got := ratios([]float64{2, 6, 9}, []float64{1, 3}); !slices.Equal(got, []float64{2, 2}) {
		t.Errorf("ratios = %v", got)
	}
	r := newResults([]int{1, 4})
	r.engine[1], r.server[1] = []float64{10, 12, 11}, []float64{20, 20, 22}
	r.engine[4], r.server[4] = []float64{30, 36, 33}, []float64{40, 60, 44}
	tab := r.table("m.gguf")
	for _, want := range []string{
		"m.gguf: aggregate tokens/s, median of 3 rounds",
		// engine/server per round 0.5, 0.6, 0.5.
		"| 1 | 11.0 | 20.0 | 0.50 | 1.00 | 1.00 |",
		// engine/server per round 0.75, 0.6, 0.75; engine 4/1 3, 3, 3; server 4/1 2, 3, 2.
		"| 4 | 33.0 | 44.0 | 0.75 | 3.00 | 2.00 |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if strings.Contains(tab, "CPU-second") {
		t.Errorf("a CPU table without CPU times:\n%s", tab)
	}
	// Without llama-server the columns say so.
	r = newResults([]int{1})
	r.engine[1] = []float64{10}
	if tab := r.table("m"); !strings.Contains(tab, "| 1 | 10.0 | - | - | 1.00 | - |") {
		t.Errorf("engine-only table:\n%s", tab)
	}
	// CPU times make a second table, built the same way.
	r = newResults([]int{1, 8})
	r.engine[1], r.engine[8] = []float64{10, 10}, []float64{30, 40}
	r.engineCPU[1], r.engineCPU[8] = []float64{5, 6}, []float64{20, 18}
	r.serverCPU[1], r.serverCPU[8] = []float64{4, 4}, []float64{8, 12}
	tab = r.table("m")
	for _, want := range []string{
		"m: tokens per CPU-second",
		"| streams | engine t/CPU-s | llama-server t/CPU-s |",
		"| 1 | 5.5 | 4.0 | 1.38 | 1.00 | 1.00 |",
		// engine 8/1 per round 4, 3; server 2, 3; engine/server 2.5, 1.5.
		"| 8 | 19.0 | 10.0 | 2.00 | 3.50 | 2.50 |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields 14 and 15 are utime and stime, in ticks of 1/100 s; the name may hold spaces
	// and parentheses.
	const stat = "4242 (llama (x) server) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0"
	d, err := parseStatCPU(stat)
	if err != nil || d != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", d, err)
	}
	for _, bad := range []string{"", "4242 (x", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 4194304 100 0 0 0 ab 50"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
}

func TestMakePrompts(t *testing.T) {
	ids := []int32{1, 10, 11, 12}
	ps, err := makePrompts(ids, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{{1, 10, 11, 12, 10, 11}, {1, 11, 12, 10, 11, 12}, {1, 12, 10, 11, 12, 10}}
	for i := range want {
		if !slices.Equal(ps[i], want[i]) {
			t.Errorf("prompt %d = %v, want %v", i, ps[i], want[i])
		}
	}
	if _, err := makePrompts(nil, 4, 1); err == nil {
		t.Error("no tokens made prompts")
	}
	if _, err := makePrompts([]int32{1, 2}, 1, 1); err == nil {
		t.Error("made prompts of the first token alone")
	}
	if ps, err := makePrompts([]int32{7}, 3, 1); err != nil || !slices.Equal(ps[0], []int32{7, 7, 7}) {
		t.Errorf("one-token text: %v, %v", ps, err)
	}
}

func TestParseInts(t *testing.T) {
	if got, err := parseInts("1, 4,8"); err != nil || !slices.Equal(got, []int{1, 4, 8}) {
		t.Errorf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-2"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) accepted", bad)
		}
	}
}

func TestServerArgs(t *testing.T) {
	got := strings.Join(serverArgs("/m.gguf", 8, 2, 256, []string{"--foo"}), " ")
	want := "-m /m.gguf -np 8 -c 2048 -t 2 -tb 2 -cb --no-webui --host 127.0.0.1 --foo"
	if got != want {
		t.Errorf("args %q, want %q", got, want)
	}
}

func TestCompletionRequestJSON(t *testing.T) {
	b, err := json.Marshal(newCompletionRequest([]int32{1, 5, 7}, 64))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"prompt": []any{1.0, 5.0, 7.0}, "n_predict": 64.0, "temperature": 0.0, "seed": 1.0,
		"ignore_eos": true, "cache_prompt": false, "stream": false}
	if len(got) != len(want) {
		t.Errorf("body %s has %d fields, want %d", b, len(got), len(want))
	}
	for k, v := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("body %s lacks %q", b, k)
			continue
		}
		if gs, ok := gv.([]any); ok {
			if !slices.Equal(gs, v.([]any)) {
				t.Errorf("%s = %v, want %v", k, gv, v)
			}
		} else if gv != v {
			t.Errorf("%s = %v, want %v", k, gv, v)
		}
	}
}

// answer is a /completion answer as llama-server writes it (fields abridged).
func answer(predicted, evaluated, promptN int, stop string) string {
	b, _ := json.Marshal(map[string]any{
		"index": 0, "content": " the the", "tokens": []int{}, "id_slot": 3, "stop": true, "model": "gpt-3.5-turbo",
		"tokens_predicted": predicted, "tokens_evaluated": evaluated, "stop_type": stop, "stopping_word": "",
		"tokens_cached": evaluated + predicted - 1, "truncated": false, "has_new_line": false,
		"generation_settings": map[string]any{"n_predict": predicted, "ignore_eos": true, "temperature": 0},
		"timings": map[string]any{"prompt_n": promptN, "prompt_ms": 12.5, "prompt_per_token_ms": 3.1, "prompt_per_second": 320.0,
			"predicted_n": predicted, "predicted_ms": 250.0, "predicted_per_token_ms": 3.9, "predicted_per_second": 256.0},
	})
	return string(b)
}

func TestParseCompletion(t *testing.T) {
	req := newCompletionRequest([]int32{1, 2, 3, 4}, 64)
	r, err := parseCompletion([]byte(answer(64, 4, 4, "limit")), req)
	if err != nil {
		t.Fatal(err)
	}
	if r.TokensPredicted != 64 || r.serverTime() != 262500*time.Microsecond {
		t.Errorf("parsed %+v, server time %v", r, r.serverTime())
	}
	for name, body := range map[string]string{
		"stopped at end of text": answer(10, 4, 4, "eos"),
		"too few tokens":         answer(63, 4, 4, "limit"),
		"prompt from the cache":  answer(64, 4, 1, "limit"),
		"not JSON":               "<html>busy</html>",
	} {
		if _, err := parseCompletion([]byte(body), req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestClientRound drives a stand-in for llama-server: every request of a round must be in
// flight at once, carry its own prompt, and the round counts the tokens the answers report.
func TestClientRound(t *testing.T) {
	const streams, gen = 4, 16
	var (
		mu       sync.Mutex
		inFlight int
		peak     int
		seen     [][]int32
		all      = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/completion" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req completionRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		seen = append(seen, req.Prompt)
		if inFlight == streams {
			close(all)
		}
		mu.Unlock()
		select { // answer once every stream has asked
		case <-all:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		io.WriteString(w, answer(req.NPredict, len(req.Prompt), len(req.Prompt), "limit"))
	}))
	defer srv.Close()
	prompts, err := makePrompts([]int32{1, 2, 3, 4, 5}, 5, streams)
	if err != nil {
		t.Fatal(err)
	}
	res, err := newClient(srv.URL).round(context.Background(), prompts, gen, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.tokens != streams*gen || res.wall <= 0 || res.serverTime != 262500*time.Microsecond {
		t.Errorf("round %+v", res)
	}
	if peak != streams {
		t.Errorf("at most %d requests in flight, want %d", peak, streams)
	}
	for _, p := range prompts {
		if !slices.ContainsFunc(seen, func(s []int32) bool { return slices.Equal(s, p) }) {
			t.Errorf("prompt %v not sent (sent %v)", p, seen)
		}
	}
	// A failed request fails the round.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "loading model", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	if _, err := newClient(bad.URL).round(context.Background(), prompts, gen, 0); err == nil {
		t.Error("a 503 answer passed")
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	io.WriteString(b, "abcdef")
	io.WriteString(b, "ghijkl")
	if got := b.String(); got != "efghijkl" {
		t.Errorf("tail %q", got)
	}
}

func chorusMini(t *testing.T) string {
	p := filepath.Join("..", "..", "..", "models", "chorus-mini.gguf")
	if _, err := os.Stat(p); err != nil {
		t.Skip("models/chorus-mini.gguf absent")
	}
	return p
}

// TestEngineRound: concurrent streams on the engine each generate exactly gen tokens.
func TestEngineRound(t *testing.T) {
	m, err := engine.Load(chorusMini(t), engine.WithSessions(3), engine.WithContextSize(64), engine.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompts, err := makePrompts(m.Encode(promptText), 12, 3)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&engineRunner{m: m}).round(context.Background(), prompts, 20)
	if err != nil {
		t.Fatal(err)
	}
	if res.tokens != 60 || res.rate() <= 0 || math.IsInf(res.rate(), 0) {
		t.Errorf("round %+v, rate %v", res, res.rate())
	}
	if runtime.GOOS == "linux" && (res.cpu <= 0 || res.cpuRate() <= 0) {
		t.Errorf("round %+v: no CPU time", res)
	}
}

// TestLlamaServer runs a short round on a real llama-server when LLAMA_SERVER names one.
func TestLlamaServer(t *testing.T) {
	bin := os.Getenv("LLAMA_SERVER")
	if bin == "" {
		t.Skip("LLAMA_SERVER (path of llama.cpp's llama-server) not set")
	}
	model := chorusMini(t)
	m, err := engine.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	prompts, err := makePrompts(m.Encode(promptText), 12, 2)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := startServer(ctx, bin, serverArgs(model, 2, 1, 64, nil), []string{"OMP_WAIT_POLICY=passive"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	res, err := newClient(s.base).round(ctx, prompts, 20, s.pid())
	if err != nil {
		t.Fatalf("%v%s", err, s.logTail())
	}
	if res.tokens != 40 || res.serverTime <= 0 {
		t.Errorf("round %+v", res)
	}
	// The round is too short for /proc's ticks of 10 ms, but loading the model was not.
	if runtime.GOOS == "linux" && pidCPU(s.pid()) <= 0 {
		t.Errorf("no CPU time for llama-server (pid %d)", s.pid())
	}
	if !strings.Contains(s.systemInfo(), "system_info") {
		t.Errorf("no system_info line in the log%s", s.logTail())
	}
}
