package command

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/wav"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// signalWriter closes seen once what was written contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func TestGenerateTextStreams(t *testing.T) {
	seen := make(chan struct{})
	srv := newFakeGateway(t, seen)
	out := &signalWriter{want: "Once upon", seen: seen}
	var errb bytes.Buffer
	// The fake holds the rest of its stream back until the first delta is
	// on stdout: the test passes only if text is written as it arrives.
	code := Main(context.Background(), Env{Stdout: out, Stderr: &errb},
		[]string{"generate", "text", "Once", "upon", "-max-tokens", "5", "-temperature", "0", "-seed", "7", "-gateway", srv.URL})
	if code != ExitOK || out.buf.String() != "Once upon a time\n" || !strings.Contains(errb.String(), "(m1, 2 tokens in, 3 out, LENGTH)") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out.buf.String(), errb.String())
	}

	code, stdout, stderr := run("generate", "text", "--json", "Once upon", "--max-tokens=5", "-temperature=0", "-seed", "7", "-gateway", srv.URL)
	var res struct {
		Model, Text, FinishReason string
		OutputTokens              int
	}
	if err := json.Unmarshal([]byte(stdout), &res); code != ExitOK || err != nil ||
		res.Model != "m1" || res.Text != "Once upon a time" || res.OutputTokens != 3 || res.FinishReason != "FINISH_REASON_LENGTH" {
		t.Errorf("--json: exit %d, %v, stdout %q (%+v), stderr:\n%s", code, err, stdout, res, stderr)
	}
}

func TestGenerateFiles(t *testing.T) {
	srv := newTestServer(t)
	dir := t.TempDir()

	t.Run("audio", func(t *testing.T) {
		path := filepath.Join(dir, "sub", "hello.wav")
		code, stdout, stderr := run("generate", "audio", "Hello there.", "-voice", "slt", "-o", path, "-gateway", srv.URL)
		got, err := os.ReadFile(path)
		if code != ExitOK || err != nil || !bytes.Equal(got, fakeWAV) || !strings.Contains(stdout, path+"  (0.2 s, 16000 Hz, ") {
			t.Fatalf("exit %d, %v, %d bytes, stdout %q, stderr:\n%s", code, err, len(got), stdout, stderr)
		}
		if a, err := wav.Decode(got); err != nil || a.Rate != 16000 || len(a.Samples) != 4000 {
			t.Errorf("the WAV written decodes to %d Hz, %d samples, %v", a.Rate, len(a.Samples), err)
		}
	})
	t.Run("audio default name", func(t *testing.T) {
		t.Chdir(t.TempDir())
		code, stdout, stderr := run("generate", "audio", "Hello", "there.", "-voice=slt", "--json", "-gateway", srv.URL)
		var res fileResult
		if err := json.Unmarshal([]byte(stdout), &res); code != ExitOK || err != nil || len(res.Files) != 1 ||
			res.Files[0].Path != "speech.wav" || res.Files[0].SizeBytes != len(fakeWAV) || res.Model != "flite" {
			t.Fatalf("exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
		}
		if got, err := os.ReadFile("speech.wav"); err != nil || !bytes.Equal(got, fakeWAV) {
			t.Errorf("speech.wav: %d bytes, %v", len(got), err)
		}
	})
	t.Run("images", func(t *testing.T) {
		path := filepath.Join(dir, "pic.png")
		code, stdout, stderr := run("generate", "image", "a lighthouse", "-size", "64x48", "-n", "2", "-seed", "0", "-o", path, "-json", "-gateway", srv.URL)
		var res fileResult
		if err := json.Unmarshal([]byte(stdout), &res); code != ExitOK || err != nil || len(res.Files) != 2 {
			t.Fatalf("exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
		}
		for i, want := range []string{"pic-1.png", "pic-2.png"} {
			f := res.Files[i]
			got, err := os.ReadFile(filepath.Join(dir, want))
			if f.Path != filepath.Join(dir, want) || f.Width != 64 || f.Height != 48 || f.Seed != int64(i+1) || err != nil || string(got) != "\x89PNG-"+string(rune('0'+i)) {
				t.Errorf("file %d: %+v, content %q, %v", i, f, got, err)
			}
		}
	})
}

func TestOutputPath(t *testing.T) {
	for _, tc := range []struct {
		out, mime string
		i, n      int
		want      string
	}{
		{out: "", mime: "audio/wav", i: 0, n: 1, want: "speech.wav"},
		{out: "", mime: "image/png", i: 1, n: 2, want: "speech-2.png"},
		{out: "x/a.wav", mime: "audio/wav", i: 0, n: 1, want: "x/a.wav"},
		{out: "a.png", mime: "image/png", i: 2, n: 3, want: "a-3.png"},
		{out: "noext", mime: "image/png", i: 0, n: 2, want: "noext-1"},
	} {
		if got := outputPath(tc.out, "speech", tc.mime, tc.i, tc.n); got != tc.want {
			t.Errorf("outputPath(%q, %q, %d, %d) = %q, want %q", tc.out, tc.mime, tc.i, tc.n, got, tc.want)
		}
	}
}

func TestJobs(t *testing.T) {
	srv := newTestServer(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		// json, when set, decodes stdout (every line) into a new message.
		json func() proto.Message
	}{
		{name: "create", args: []string{"jobs", "create", "script-then-voiceover", "-input", "topic=owls"}, wantStdout: []string{"j1\n"}},
		{name: "run -async", args: []string{"run", "script-then-voiceover", "-async", "-input", "topic=owls", "--json"}, wantStdout: []string{`"id":"j1"`, `"state":"JOB_STATE_QUEUED"`},
			json: func() proto.Message { return &orchestratorv1.Job{} }},
		{name: "list", args: []string{"jobs", "list", "-state", "running"}, wantStdout: []string{"ID  PIPELINE               STATE    CREATED", "j2  script-then-voiceover  running  "}},
		{name: "list json", args: []string{"jobs", "list", "-state", "JOB_STATE_RUNNING", "--json"}, wantStdout: []string{`"nextPageToken":"p2"`},
			json: func() proto.Message { return &orchestratorv1.ListJobsResponse{} }},
		{name: "get", args: []string{"jobs", "get", "j1", "-out", dir}, wantStdout: []string{"job       j1\n", "state     succeeded\n", "input     topic=\"owls\"\n", "output    script (text/plain, inline)", filepath.Join(dir, "script.txt")}},
		{name: "get json", args: []string{"jobs", "get", "j1", "--json"}, wantStdout: []string{`"outputs":[{"name":"script"`},
			json: func() proto.Message { return &orchestratorv1.Job{} }},
		{name: "watch", args: []string{"jobs", "watch", "j1"}, wantStdout: []string{"script       started (text, default model)", "script       completed in 1.00s (2 tokens)", "job j1 completed in 1.50s"}},
		{name: "watch json", args: []string{"jobs", "watch", "--json", "j1"}, wantStdout: []string{`{"sequence":"1","event":{"runId":"j1","stepStarted"`, `"sequence":"3"`},
			json: func() proto.Message { return &orchestratorv1.WatchJobResponse{} }},
		{name: "watch failed", args: []string{"jobs", "watch", "j2"}, wantCode: ExitError, wantStdout: []string{"script       completed"}},
		{name: "cancel", args: []string{"jobs", "cancel", "j1"}, wantStdout: []string{"job j1: cancelled\n"}},
		{name: "cancel json", args: []string{"jobs", "cancel", "j1", "-json"}, wantStdout: []string{`"state":"JOB_STATE_CANCELLED"`},
			json: func() proto.Message { return &orchestratorv1.Job{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(append(tc.args, "-gateway", srv.URL)...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			for _, want := range tc.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if tc.json != nil {
				for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
					if err := protojson.Unmarshal([]byte(line), tc.json()); err != nil {
						t.Errorf("stdout line %q is not the message: %v", line, err)
					}
				}
			}
		})
	}
	if got, err := os.ReadFile(filepath.Join(dir, "script.txt")); err != nil || string(got) != "Hello." {
		t.Errorf("jobs get -out wrote %q, %v", got, err)
	}
}

func TestExitCodes(t *testing.T) {
	srv := newTestServer(t)
	// A port nothing listens on.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + lis.Addr().String()
	lis.Close()
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "unknown model", args: []string{"generate", "text", "hi", "-model", "nope", "-gateway", srv.URL}, wantCode: ExitNotFound, wantStderr: "(`chorus models text` lists the models)"},
		{name: "invalid option", args: []string{"generate", "audio", "hi", "-speed", "9", "-gateway", srv.URL, "-o", filepath.Join(t.TempDir(), "a.wav")}, wantCode: ExitUsage, wantStderr: "HTTP 400: audio.speed: must be 0.25..4"},
		{name: "service unavailable", args: []string{"generate", "image", "busy", "-gateway", srv.URL}, wantCode: ExitUnavailable, wantStderr: "HTTP 503: the image service is unavailable [UPSTREAM_UNAVAILABLE]"},
		{name: "gateway unreachable", args: []string{"jobs", "list", "-gateway", dead}, wantCode: ExitUnavailable, wantStderr: "cannot reach the gateway at " + dead},
		{name: "unreachable run", args: []string{"run", "x", "-gateway", dead}, wantCode: ExitUnavailable, wantStderr: "is `chorus up` running?"},
		{name: "unknown job", args: []string{"jobs", "get", "nope", "-gateway", srv.URL}, wantCode: ExitNotFound, wantStderr: "HTTP 404: no job \"nope\" [JOB_NOT_FOUND]"},
		{name: "unknown job watched", args: []string{"jobs", "watch", "nope", "-gateway", srv.URL}, wantCode: ExitNotFound, wantStderr: "JOB_NOT_FOUND"},
		{name: "job failed", args: []string{"jobs", "watch", "j2", "-gateway", srv.URL}, wantCode: ExitError, wantStderr: "run failed in step voiceover (UNAVAILABLE): the audio service is unavailable"},
		{name: "no verb", args: []string{"generate"}, wantCode: ExitUsage, wantStderr: "want one of text, image, audio"},
		{name: "unknown verb", args: []string{"jobs", "delete"}, wantCode: ExitUsage, wantStderr: `unknown verb "delete"`},
		{name: "verb help", args: []string{"jobs", "-h"}, wantCode: ExitOK, wantStderr: "watch    follow a job's events"},
		{name: "flag help", args: []string{"generate", "image", "-h"}, wantCode: ExitOK, wantStderr: "3 not found"},
		{name: "no prompt", args: []string{"generate", "text", "-gateway", srv.URL}, wantCode: ExitUsage, wantStderr: "want a prompt"},
		{name: "bad size", args: []string{"generate", "image", "x", "-size", "big"}, wantCode: ExitUsage, wantStderr: `-size "big": want WxH`},
		{name: "bad state", args: []string{"jobs", "list", "-state", "sleeping"}, wantCode: ExitUsage, wantStderr: `-state "sleeping"`},
		{name: "no job id", args: []string{"jobs", "cancel"}, wantCode: ExitUsage, wantStderr: "want exactly one job id"},
		{name: "bad gateway URL", args: []string{"jobs", "get", "j1", "-gateway", "nowhere"}, wantCode: ExitUsage, wantStderr: "want http://host:port"},
		{name: "unknown shell", args: []string{"completion", "tcsh"}, wantCode: ExitUsage, wantStderr: `unknown shell "tcsh"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}

func TestListJSON(t *testing.T) {
	srv := newTestServer(t)
	code, stdout, stderr := run("pipelines", "--json", "-gateway", srv.URL)
	var ps orchestratorv1.ListPipelinesResponse
	if err := protojson.Unmarshal([]byte(stdout), &ps); code != ExitOK || err != nil || ps.GetPipelines()[0].GetName() != "script-then-voiceover" {
		t.Errorf("pipelines --json: exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
	}
	code, stdout, stderr = run("models", "audio", "text", "--json", "-gateway", srv.URL)
	var ms map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &ms); code != ExitOK || err != nil || len(ms) != 2 {
		t.Fatalf("models --json: exit %d, %v, stdout %q, stderr:\n%s", code, err, stdout, stderr)
	}
	var audio genaiv1.ListModelsResponse
	if err := protojson.Unmarshal(ms["audio"], &audio); err != nil || audio.GetModels()[0].GetVoices()[0] != "slt" || !audio.GetModels()[0].GetDefault() {
		t.Errorf("models --json audio = %s, %v", ms["audio"], err)
	}
}

func TestRunJSON(t *testing.T) {
	srv := newTestServer(t)
	dir := t.TempDir()
	code, stdout, stderr := run("run", "script-then-voiceover", "--json", "-input", "topic=owls", "-out", dir, "-gateway", srv.URL)
	var res runSummary
	if err := json.Unmarshal([]byte(stdout), &res); code != ExitOK || err != nil || res.RunID != "r1" || len(res.Outputs) != 3 ||
		res.Outputs[1].Path != filepath.Join(dir, "voiceover.wav") || res.Outputs[1].DurationSeconds != 0.5 || res.TimeToFirstAudioSeconds != 0.1 {
		t.Errorf("exit %d, %v, stdout %q (%+v), stderr:\n%s", code, err, stdout, res, stderr)
	}
}

func TestRunLiveStatus(t *testing.T) {
	srv := newTestServer(t)
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, terminal: true}
	code := Main(context.Background(), env, []string{"run", "script-then-voiceover", "-input", "topic=owls", "-out", t.TempDir(), "-gateway", srv.URL})
	stdout := out.String()
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	// The last drawing of the two step lines, after the cursor moved up
	// over them, shows both completed.
	last := stdout[strings.LastIndex(stdout, "\x1b[2A"):]
	for _, want := range []string{"\r\x1b[2K  ✓ script       completed", "(2 tokens)", "\r\x1b[2K  ✓ voiceover    completed", "(0.5 s of audio)"} {
		if !strings.Contains(last, want) {
			t.Errorf("the final status lines lack %q:\n%q", want, last)
		}
	}
	if !strings.Contains(stdout, "script-then-voiceover completed (run r1)") {
		t.Errorf("no summary after the status lines:\n%s", stdout)
	}
	// Not a terminal: plain lines, no escape codes (TestRunWritesOutputs
	// checks their text).
	_, plain, _ := run("run", "script-then-voiceover", "-input", "topic=owls", "-out", t.TempDir(), "-gateway", srv.URL)
	if strings.Contains(plain, "\x1b[") {
		t.Errorf("escape codes without a terminal:\n%q", plain)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range shells {
		code, script, stderr := run("completion", shell)
		if code != ExitOK {
			t.Fatalf("%s: exit %d, stderr:\n%s", shell, code, stderr)
		}
		// Every command, verb and flag appears, from the flag sets
		// themselves.
		for _, want := range []string{"generate", "completion", "watch", "max-tokens", "request-id", "bin-dir", "ready-timeout", "voice", "json"} {
			if !strings.Contains(script, want) {
				t.Errorf("%s script lacks %q", shell, want)
			}
		}
		if path, err := exec.LookPath(shell); err == nil {
			f := filepath.Join(t.TempDir(), "chorus."+shell)
			if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		}
	}
	// Each shell completes these lines, the last word being completed.
	// The zsh run stands in for the completion system's _describe and
	// compadd with functions that print the candidates.
	cases := []struct {
		line string
		want string
	}{
		{line: "chorus ge", want: "generate"},
		{line: "chorus generate ", want: "text image audio"},
		{line: "chorus jobs list -st", want: "-state"},
		{line: "chorus generate text -max", want: "-max-tokens"},
		{line: "chorus run -gateway http://x -a", want: "-async"},
		{line: "chorus models au", want: "audio"},
		{line: "chorus models a", want: "add audio"},
		{line: "chorus models add -sh", want: "-sha256"},
		{line: "chorus models text -gat", want: "-gateway"},
		{line: "chorus models image ", want: "text image audio"},
		{line: "chorus completion f", want: "fish"},
		{line: "chorus up -gr", want: "-grace -grpc-port"},
	}
	shellRun := map[string]func(script, line string) string{
		"bash": func(script, line string) string {
			words := strings.Split(line, " ")
			return script + "\nCOMP_WORDS=(" + strings.Join(quoteAll(words), " ") + ")\nCOMP_CWORD=" +
				strconv.Itoa(len(words)-1) + "\n_chorus\necho \"${COMPREPLY[*]}\"\n"
		},
		"zsh": func(script, line string) string {
			words := strings.Split(line, " ")
			return "compdef() { :; }\n" + script + "\n" +
				"_describe() { local -a arr; arr=(\"${(@P)2}\"); arr=(\"${arr[@]%%:*}\"); print -r -- \"${(M)arr[@]:#${PREFIX}*}\"; }\n" +
				"compadd() { print -r -- \"${(M)@:#${PREFIX}*}\"; }\n" +
				"words=(" + strings.Join(quoteAll(words), " ") + ")\nCURRENT=" + strconv.Itoa(len(words)) +
				"\nPREFIX=" + shellQuote(words[len(words)-1]) + "\n_chorus\n"
		},
		"fish": func(script, line string) string {
			return script + "\necho (complete -C " + shellQuote(line) + " | string split -f1 \\t)\n"
		},
	}
	ran := 0
	for _, shell := range shells {
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("no %s: its completion is not run", shell)
			continue
		}
		ran++
		_, script, _ := run("completion", shell)
		for _, tc := range cases {
			args := []string{"-c", shellRun[shell](script, tc.line)}
			switch shell {
			case "bash":
				args = append([]string{"--norc"}, args...)
			case "zsh":
				args = append([]string{"-f"}, args...)
			}
			out, err := exec.Command(path, args...).CombinedOutput()
			// fish sorts the candidates.
			got, want := strings.Fields(string(out)), strings.Fields(tc.want)
			slices.Sort(got)
			slices.Sort(want)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s completing %q: %q, %v; want %q", shell, tc.line, out, err, tc.want)
			}
		}
	}
	if ran == 0 {
		t.Skip("no bash, zsh or fish to run the completion in")
	}
}

func quoteAll(words []string) []string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return q
}
