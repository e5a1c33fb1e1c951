package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chorus-ai/chorus/cli/internal/command"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/processtest"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// TestChorusVerbs runs the built chorus binary, as a user types it, against
// the real suite (text from the fake OpenAI server, speech from the audio
// service's own backend): generate, jobs, --json, exit codes and
// completion. The gateway is found through CHORUS_GATEWAY.
func TestChorusVerbs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the servers and chorus and runs them as processes; run without -short")
	}
	bin := processtest.Build(t, append(commands, "./cli/cmd/chorus")...)
	fake := openaitest.New(openaitest.Options{
		Models:     []string{"fake-llm", "fake-painter"},
		Deltas:     scriptDeltas(),
		DeltaDelay: 30 * time.Millisecond,
		APIKey:     "test-key",
	})
	t.Cleanup(fake.Close)
	env := processtest.HermeticEnv(t,
		"CHORUS_OPENAI_BASE_URL="+fake.BaseURL,
		"CHORUS_OPENAI_API_KEY=test-key",
		"CHORUS_TEXT_OPENAI_MODELS=fake-llm",
		"CHORUS_IMAGE_OPENAI_MODELS=fake-painter",
	)
	s := startSuite(t, bin, env)
	userEnv := processtest.HermeticEnv(t, "CHORUS_GATEWAY="+s.gateway)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	chorus := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "chorus"), args...)
		cmd.Env = userEnv
		cmd.Dir = t.TempDir()
		return cmd
	}
	runChorus := func(args ...string) (code int, stdout, stderr string) {
		var out, errb bytes.Buffer
		cmd := chorus(args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("chorus %q: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}

	t.Run("generate text streams", func(t *testing.T) {
		cmd := chorus("generate", "text", "Tell me about the sea.", "-max-tokens", "200")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The fake writes the script over about a second and a half: the
		// first read must return a piece of it, not all of it at the end.
		first := make([]byte, 4096)
		n, err := stdout.Read(first)
		if err != nil {
			t.Fatalf("reading stdout: %v; stderr:\n%s", err, stderr.String())
		}
		rest, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("chorus generate text: %v; stderr:\n%s", err, stderr.String())
		}
		all := string(first[:n]) + string(rest)
		if strings.TrimSpace(all) != script {
			t.Errorf("stdout = %q, want the fake's script %q", all, script)
		}
		if n >= len(script) {
			t.Errorf("the first read held the whole text (%d bytes): not streamed", n)
		}
		if !strings.Contains(stderr.String(), "(fake-llm, ") {
			t.Errorf("stderr lacks the model:\n%s", stderr.String())
		}
	})

	t.Run("generate text --json", func(t *testing.T) {
		code, stdout, stderr := runChorus("generate", "text", "--json", "Tell me about the sea.")
		var res struct{ Model, Text string }
		if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || res.Model != "fake-llm" || strings.TrimSpace(res.Text) != script {
			t.Errorf("exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
		}
	})

	t.Run("generate audio", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hello.wav")
		code, stdout, stderr := runChorus("generate", "audio", "Hello there, this is Chorus speaking.", "-o", path, "--json")
		var res struct {
			Files []struct {
				Path      string
				SizeBytes int
			}
		}
		if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || len(res.Files) != 1 || res.Files[0].Path != path {
			t.Fatalf("exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
		}
		b, err := os.ReadFile(path)
		if err != nil || len(b) != res.Files[0].SizeBytes {
			t.Fatalf("%s: %d bytes, %v; --json said %d", path, len(b), err, res.Files[0].SizeBytes)
		}
		w, err := parseWAV(b)
		if err != nil {
			t.Fatal(err)
		}
		checkSpeech(t, w, 6)
	})

	t.Run("jobs", func(t *testing.T) {
		code, stdout, stderr := runChorus("jobs", "create", "script-then-voiceover", "-input", "topic=the sea", "--json")
		job := &orchestratorv1.Job{}
		if err := protojson.Unmarshal([]byte(stdout), job); code != 0 || err != nil || job.GetId() == "" {
			t.Fatalf("jobs create: exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
		}
		out := t.TempDir()
		code, stdout, stderr = runChorus("jobs", "watch", job.GetId(), "-out", out)
		if code != 0 || !strings.Contains(stdout, "voiceover    completed in") || !strings.Contains(stdout, "job "+job.GetId()+" completed") {
			t.Fatalf("jobs watch: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if b, err := os.ReadFile(filepath.Join(out, "script.txt")); err != nil || strings.TrimSpace(string(b)) != script {
			t.Errorf("script.txt = %q, %v", b, err)
		}
		if b, err := os.ReadFile(filepath.Join(out, "voiceover.wav")); err != nil {
			t.Error(err)
		} else if w, err := parseWAV(b); err != nil {
			t.Error(err)
		} else {
			checkSpeech(t, w, len(strings.Fields(script)))
		}
		code, stdout, stderr = runChorus("jobs", "get", job.GetId(), "--json")
		got := &orchestratorv1.Job{}
		if err := protojson.Unmarshal([]byte(stdout), got); code != 0 || err != nil || got.GetState() != orchestratorv1.JobState_JOB_STATE_SUCCEEDED || len(got.GetOutputs()) != 3 {
			t.Errorf("jobs get: exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
		}
		code, stdout, stderr = runChorus("jobs", "list", "-state", "succeeded", "--json")
		list := &orchestratorv1.ListJobsResponse{}
		if err := protojson.Unmarshal([]byte(stdout), list); code != 0 || err != nil || len(list.GetJobs()) == 0 || list.GetJobs()[0].GetId() != job.GetId() {
			t.Errorf("jobs list: exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
		}
		code, stdout, stderr = runChorus("jobs", "list")
		if code != 0 || !strings.Contains(stdout, job.GetId()+"  script-then-voiceover  succeeded") {
			t.Errorf("jobs list: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + lis.Addr().String()
		lis.Close()
		for _, tc := range []struct {
			name string
			args []string
			want int
		}{
			{name: "bad flag", args: []string{"generate", "text", "-nope", "x"}, want: command.ExitUsage},
			{name: "invalid request", args: []string{"generate", "audio", "hi", "-speed", "9"}, want: command.ExitUsage},
			{name: "unknown model", args: []string{"generate", "text", "hi", "-model", "no-such-model"}, want: command.ExitNotFound},
			{name: "unknown job", args: []string{"jobs", "get", "00000000000000000000000000000000"}, want: command.ExitNotFound},
			{name: "unknown pipeline", args: []string{"run", "no-such-pipeline", "-out", t.TempDir()}, want: command.ExitNotFound},
			{name: "gateway down", args: []string{"jobs", "list", "-gateway", dead}, want: command.ExitUnavailable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if code, stdout, stderr := runChorus(tc.args...); code != tc.want {
					t.Errorf("chorus %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.want, stdout, stderr)
				}
			})
		}
	})

	t.Run("completion", func(t *testing.T) {
		code, stdout, stderr := runChorus("completion", "bash")
		if code != 0 || !strings.Contains(stdout, "complete -o default -F _chorus chorus") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
}
