package espeak

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/services/audio/internal/speech"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseVoices(t *testing.T) {
	out := []byte(`Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  af              --/M      Afrikaans          gmw/af
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 5  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  yue             --/M      Chinese_(Cantonese) sit/yue              (zh-yue 5)(zh 8)
 5  yue             --/M      Chinese_(Cantonese_jyutping) sit/yue-Latn-jyutping
 5  bad;voice       --/M      Nope               x/y
`)
	if got, want := parseVoices(out), []string{"af", "en-gb", "en-us", "yue"}; !slices.Equal(got, want) {
		t.Errorf("parseVoices = %q, want %q", got, want)
	}
}

func TestLanguageTag(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "en-us", want: "en-US"},
		{in: "en-gb-x-rp", want: "en-GB-x-rp"},
		{in: "cmn-latn-pinyin", want: "cmn-Latn-pinyin"},
		{in: "es-419", want: "es-419"},
		{in: "de", want: "de"},
	}
	for _, tt := range tests {
		if got := languageTag(tt.in); got != tt.want {
			t.Errorf("languageTag(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewWithoutBinary(t *testing.T) {
	if _, err := New(context.Background(), "/nonexistent/espeak-ng"); err == nil {
		t.Error("New with a missing binary succeeded")
	}
}

func TestSynthStopsOnCancel(t *testing.T) {
	if _, err := exec.LookPath(Binary); err != nil {
		t.Skip("espeak-ng is not installed")
	}
	b, err := New(context.Background(), Binary)
	if err != nil {
		t.Fatal(err)
	}
	a, err := b.synth(context.Background(), "Hello there.", speech.Options{Voice: DefaultVoice, Speed: 1})
	if err != nil || a.Rate != 22050 || len(a.Samples) < 22050/4 {
		t.Fatalf("synth: %d samples at %d Hz, %v", len(a.Samples), a.Rate, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.synth(ctx, "Hello there.", speech.Options{Voice: DefaultVoice, Speed: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("synth after cancel: %v, want context.Canceled", err)
	}
}

// A stand-in for espeak-ng that lists one voice and then hangs, to show
// that cancellation kills a running synthesis.
const hangingEspeak = `#!/bin/sh
if [ "$1" = "--voices" ]; then
  echo "Pty Language       Age/Gender VoiceName          File                 Other Languages"
  echo " 5  en-us           --/M      English_(America)  gmw/en-US"
  exit 0
fi
touch "$(dirname "$0")/started" # beside itself: the child's environment is not the test's
exec sleep 60
`

func TestCancelKillsRunningSynthesis(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "espeak-ng")
	if err := os.WriteFile(bin, []byte(hangingEspeak), 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "started")
	b, err := New(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Voices(); !slices.Equal(got, []string{"en-us"}) {
		t.Fatalf("voices %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.synth(ctx, "Hello.", speech.Options{Voice: "en-us", Speed: 1})
		done <- err
	}()
	for deadline := time.Now().Add(time.Minute); ; {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake espeak-ng never started")
		}
		time.Sleep(2 * time.Millisecond) // polling, not a timing assertion
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("synth returned %v, want context.Canceled", err)
	}
}

// fakeEspeak writes a stand-in espeak-ng: it lists one voice, and for
// synthesis runs body (a shell script reading the text on stdin).
func fakeEspeak(t *testing.T, body string) string {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	path := filepath.Join(t.TempDir(), "espeak-ng")
	script := "#!/bin/sh\nif [ \"$1\" = --voices ]; then\n" +
		"echo 'Pty Language Age/Gender VoiceName File Other Languages'\necho ' 5  en-us  --/M  English gmw/en-US'\nexit 0\nfi\n" + body
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The child sees none of the server's environment but what it needs: an
// API key in the server's environment never reaches it.
func TestChildEnvironment(t *testing.T) {
	t.Setenv("CHORUS_OPENAI_API_KEY", "sk-secret")
	t.Setenv("OPENAI_API_KEY", "sk-secret")
	b, err := New(context.Background(), fakeEspeak(t, "env >&2\nexit 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.synth(context.Background(), "Hello.", speech.Options{Voice: DefaultVoice, Speed: 1})
	if err == nil {
		t.Fatal("the fake failed, but synth did not")
	}
	// The cause carries the child's stderr: its whole environment.
	if msg := err.Error(); !strings.Contains(msg, "PATH=") || strings.Contains(msg, "sk-secret") {
		t.Errorf("the child's environment, as it printed it: %s\nwant PATH and no API key", msg)
	}
}

func TestSynthTimeout(t *testing.T) {
	defer func(d time.Duration) { SynthTimeout = d }(SynthTimeout)
	SynthTimeout = 200 * time.Millisecond
	b, err := New(context.Background(), fakeEspeak(t, "exec sleep 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.synth(context.Background(), "Hello.", speech.Options{Voice: DefaultVoice, Speed: 1})
	if !errors.Is(err, errSynthTimeout) || time.Since(start) > 10*time.Second {
		t.Errorf("synth of a wedged espeak-ng: %v after %s, want the timeout", err, time.Since(start))
	}
}
