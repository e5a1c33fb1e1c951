package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serverArgs is llama-server's command line for a model: slots sequences at once, each with
// ctx tokens of context (-c is their sum), threads for generation and prompts alike,
// continuous batching on, listening on 127.0.0.1 (the port is added when it starts).
func serverArgs(model string, slots, threads, ctx int, extra []string) []string {
	args := []string{"-m", model, "-np", strconv.Itoa(slots), "-c", strconv.Itoa(slots * ctx),
		"-t", strconv.Itoa(threads), "-tb", strconv.Itoa(threads), "-cb", "--no-webui", "--host", "127.0.0.1"}
	return append(args, extra...)
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// server is a running llama-server.
type server struct {
	cmd  *exec.Cmd
	args []string
	base string // http://127.0.0.1:PORT
	log  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

// startServer starts llama-server on a free loopback port and waits until /health says it
// has loaded the model.
func startServer(ctx context.Context, path string, args, env []string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args = append(append([]string(nil), args...), "--port", strconv.Itoa(port))
	s := &server{args: args, base: "http://127.0.0.1:" + strconv.Itoa(port), log: &tailBuffer{max: 64 << 10},
		done: make(chan struct{})}
	s.cmd = exec.Command(path, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	setParentDeath(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx, 5*time.Minute); err != nil {
		s.stop()
		return nil, fmt.Errorf("llama-server did not start: %w%s", err, s.logTail())
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls GET /health until it answers 200 (503 while the model loads).
func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/health", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("it exited: %v", s.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop ends the server: an interrupt, then a kill if it has not exited within 10 s.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) logTail() string {
	t := strings.TrimSpace(s.log.String())
	if t == "" {
		return ""
	}
	lines := strings.Split(t, "\n")
	return "\nllama-server log:\n" + strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// systemInfo picks llama-server's "system_info: n_threads = ... | CPU : ..." line.
func (s *server) systemInfo() string {
	for _, l := range strings.Split(s.log.String(), "\n") {
		if i := strings.Index(l, "system_info:"); i >= 0 {
			return strings.TrimSpace(l[i:])
		}
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it (the server's log).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// completionRequest is the body of llama-server's POST /completion: the prompt as token ids
// (no BOS is added to ids), greedy, exactly NPredict tokens (IgnoreEOS), the prompt read
// afresh every time (CachePrompt false), one answer at the end (no streaming).
type completionRequest struct {
	Prompt      []int32 `json:"prompt"`
	NPredict    int     `json:"n_predict"`
	Temperature float64 `json:"temperature"`
	Seed        int     `json:"seed"`
	IgnoreEOS   bool    `json:"ignore_eos"`
	CachePrompt bool    `json:"cache_prompt"`
	Stream      bool    `json:"stream"`
}

func newCompletionRequest(prompt []int32, gen int) completionRequest {
	return completionRequest{Prompt: prompt, NPredict: gen, Temperature: 0, Seed: 1, IgnoreEOS: true}
}

// completionResponse holds the fields of llama-server's /completion answer that are checked.
type completionResponse struct {
	TokensPredicted int    `json:"tokens_predicted"`
	TokensEvaluated int    `json:"tokens_evaluated"`
	StopType        string `json:"stop_type"`
	Timings         struct {
		PromptN     int     `json:"prompt_n"`
		PromptMS    float64 `json:"prompt_ms"`
		PredictedN  int     `json:"predicted_n"`
		PredictedMS float64 `json:"predicted_ms"`
	} `json:"timings"`
}

// parseCompletion decodes an answer to req and checks that the server read the whole prompt
// (no cached prefix) and generated exactly the tokens asked for.
func parseCompletion(body []byte, req completionRequest) (completionResponse, error) {
	var r completionResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("answer %.200q: %w", body, err)
	}
	switch {
	case r.TokensPredicted != req.NPredict || r.Timings.PredictedN != req.NPredict:
		return r, fmt.Errorf("generated %d tokens (timings: %d), asked for %d (stop type %q)",
			r.TokensPredicted, r.Timings.PredictedN, req.NPredict, r.StopType)
	case r.StopType != "limit":
		return r, fmt.Errorf("stop type %q, want limit", r.StopType)
	case r.TokensEvaluated != len(req.Prompt) || r.Timings.PromptN != len(req.Prompt):
		return r, fmt.Errorf("read %d prompt tokens (evaluated %d), sent %d", r.Timings.PromptN, r.TokensEvaluated, len(req.Prompt))
	}
	return r, nil
}

// serverTime is how long the server spent on the request: reading the prompt and generating.
func (r completionResponse) serverTime() time.Duration {
	return time.Duration((r.Timings.PromptMS + r.Timings.PredictedMS) * float64(time.Millisecond))
}

// client drives llama-server's /completion.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

func (c *client) complete(ctx context.Context, req completionRequest) (completionResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return completionResponse{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/completion", bytes.NewReader(body))
	if err != nil {
		return completionResponse{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(hreq)
	if err != nil {
		return completionResponse{}, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return completionResponse{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return completionResponse{}, fmt.Errorf("%s: %.300s", resp.Status, out)
	}
	return parseCompletion(out, req)
}

// round sends one request per prompt, all at once, and counts the tokens generated over the
// wall time from the first request to the last answer; with pid > 0 it also takes that
// process's CPU time over the round.
func (c *client) round(ctx context.Context, prompts [][]int32, gen, pid int) (roundResult, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		res  roundResult
		errs []error
	)
	var cpu0 time.Duration
	if pid > 0 {
		cpu0 = pidCPU(pid)
	}
	start := time.Now()
	for _, p := range prompts {
		wg.Go(func() {
			r, err := c.complete(ctx, newCompletionRequest(p, gen))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			res.tokens += r.TokensPredicted
			res.serverTime = max(res.serverTime, r.serverTime())
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	if pid > 0 && cpu0 > 0 {
		res.cpu = pidCPU(pid) - cpu0
	}
	return res, errors.Join(errs...)
}
