package flite

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"

	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// Flite calls exit() on some internal errors (cst_errmsg then cst_error),
// which would take the whole audio service down with it. So Flite runs in
// a worker: the service's own binary started again as a child process with
// WorkerEnv set, which init below turns into the worker before main runs (no
// second binary, no new image). The two talk over the child's stdin and
// stdout, one sentence per round trip, in frames of a 4-byte little-endian
// length and a body:
//
//	request:  voice (1 byte), speed (float64 bits, 8 bytes LE), text
//	response: 0, rate (uint32 LE), samples (int16 LE each)  — speech
//	          1, message                                      — an error
//
// A worker that dies (or is killed) fails the sentence in flight with
// UNAVAILABLE; the next sentence starts a new one.

// WorkerEnv, set to "1" in a process's environment, makes any binary that
// links this package a Flite worker serving stdin and stdout.
const WorkerEnv = "CHORUS_FLITE_WORKER"

// maxFrame bounds a frame either way: a sentence is short, its speech a
// few seconds (16 kHz, 2 bytes a sample: 32 MiB is over eight minutes).
const maxFrame = 32 << 20

func init() {
	if os.Getenv(WorkerEnv) != "1" {
		return
	}
	err := serveWorker(os.Stdin, os.Stdout)
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, "flite worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveWorker answers requests from r on w until r ends.
func serveWorker(r io.Reader, w io.Writer) error {
	br, bw := bufio.NewReader(r), bufio.NewWriter(w)
	for {
		req, err := readFrame(br)
		if err != nil {
			return err
		}
		if len(req) < 9 {
			return fmt.Errorf("short request of %d bytes", len(req))
		}
		voice, speed, text := int(req[0]), math.Float64frombits(binary.LittleEndian.Uint64(req[1:9])), string(req[9:])
		var resp []byte
		if voice >= len(voices) || !(speed > 0) {
			resp = append([]byte{1}, fmt.Sprintf("bad request: voice %d, speed %g", voice, speed)...)
		} else if a, err := synth(voice, text, speed); err != nil {
			resp = append([]byte{1}, err.Error()...)
		} else {
			resp = make([]byte, 5, 5+2*len(a.Samples))
			binary.LittleEndian.PutUint32(resp[1:], uint32(a.Rate))
			for _, s := range a.Samples {
				resp = binary.LittleEndian.AppendUint16(resp, uint16(s))
			}
		}
		if err := writeFrame(bw, resp); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes, over %d", size, maxFrame)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("frame cut short: %w", err)
	}
	return b, nil
}

func writeFrame(w io.Writer, b []byte) error {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// worker is the parent's side: one child at a time, started on demand,
// serving one sentence at a time (Flite is process-wide state anyway).
type worker struct {
	mu    sync.Mutex // one round trip at a time; guards what follows
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	exe   string // the binary to start; os.Executable by default
	stops int    // workers lost so far, for the logs and tests
	// running is the running worker's process id, 0 if none: read without
	// mu, which a round trip holds.
	running atomic.Int64
}

// errWorkerDied is the cause of a sentence whose worker died under it.
var errWorkerDied = errors.New("flite: the speech worker died")

// synth voices one sentence in the worker, starting one if none runs. If
// ctx ends first, the worker is killed (Flite cannot be interrupted any
// other way) and the next sentence starts a new one.
func (wk *worker) synth(ctx context.Context, voice int, text string, speed float64) (wav.Audio, error) {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return wav.Audio{}, err
	}
	if wk.cmd == nil {
		if err := wk.start(); err != nil {
			return wav.Audio{}, rpcerr.New(codes.Unavailable, rpcerr.ReasonInternal, "the speech worker could not start").WithCause(err)
		}
	}
	req := make([]byte, 9, 9+len(text))
	req[0] = byte(voice)
	binary.LittleEndian.PutUint64(req[1:], math.Float64bits(speed))
	req = append(req, text...)
	type answer struct {
		b   []byte
		err error
	}
	done := make(chan answer, 1)
	in, out := wk.in, wk.out
	go func() {
		if err := writeFrame(in, req); err != nil {
			done <- answer{err: err}
			return
		}
		b, err := readFrame(out)
		done <- answer{b, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		wk.stop()
		<-done // the pipes are closed: the round trip ends at once
		return wav.Audio{}, ctx.Err()
	}
	if a.err != nil {
		wk.stop()
		return wav.Audio{}, rpcerr.New(codes.Unavailable, rpcerr.ReasonInternal, "the speech worker died; try again").
			WithCause(fmt.Errorf("%w: %w", errWorkerDied, a.err))
	}
	return decodeAnswer(a.b)
}

func decodeAnswer(b []byte) (wav.Audio, error) {
	switch {
	case len(b) >= 1 && b[0] == 1:
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "speech synthesis failed").
			WithCause(fmt.Errorf("flite worker: %s", b[1:]))
	case len(b) < 5 || b[0] != 0 || (len(b)-5)%2 != 0:
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "speech synthesis failed").
			WithCause(fmt.Errorf("flite worker: malformed answer of %d bytes", len(b)))
	}
	a := wav.Audio{Rate: int(binary.LittleEndian.Uint32(b[1:5])), Samples: make([]int16, (len(b)-5)/2)}
	for i := range a.Samples {
		a.Samples[i] = int16(binary.LittleEndian.Uint16(b[5+2*i:]))
	}
	return a, nil
}

// start starts a worker, under wk.mu. Its environment is the switch alone:
// nothing of the service's (API keys included) reaches it.
func (wk *worker) start() error {
	exe := wk.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{WorkerEnv + "=1"}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	wk.cmd, wk.in, wk.out = cmd, in, bufio.NewReader(out)
	wk.running.Store(int64(cmd.Process.Pid))
	return nil
}

// stop kills the worker and waits for it, under wk.mu.
func (wk *worker) stop() {
	if wk.cmd == nil {
		return
	}
	_ = wk.cmd.Process.Kill()
	_ = wk.in.Close()
	_ = wk.cmd.Wait() // closes stdout too
	wk.cmd, wk.in, wk.out = nil, nil, nil
	wk.running.Store(0)
	wk.stops++
}

// close ends the worker: its stdin closes, so it exits on its own.
func (wk *worker) close() error {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if wk.cmd == nil {
		return nil
	}
	_ = wk.in.Close()
	err := wk.cmd.Wait()
	wk.cmd, wk.in, wk.out = nil, nil, nil
	wk.running.Store(0)
	return err
}
