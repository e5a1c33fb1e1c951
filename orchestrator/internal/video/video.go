// Package video makes a slideshow MP4 with ffmpeg: a sequence of still
// images, each shown for as long as its narration lasts, over one audio
// track, with a subtitle track.
package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNoFFmpeg is returned when ffmpeg is not on PATH.
var ErrNoFFmpeg = errors.New("video: ffmpeg is not installed (Debian: apt-get install ffmpeg)")

// Size of the video frame; each image is scaled to fit and padded.
const (
	Width  = 854
	Height = 480
)

// Slide is one image and how long it is shown.
type Slide struct {
	Image    []byte // PNG or JPEG
	Duration time.Duration
}

// Slideshow returns an MP4 (H.264 video, AAC audio, mov_text subtitles
// from the WebVTT captions, which may be empty) of the slides, in order,
// over the WAV audio. The video lasts exactly as long as the slides
// together.
func Slideshow(ctx context.Context, slides []Slide, wav []byte, captions string) ([]byte, error) {
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, ErrNoFFmpeg
	}
	if len(slides) == 0 {
		return nil, errors.New("video: no slides")
	}
	dir, err := os.MkdirTemp("", "chorus-video-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	write := func(name string, b []byte) error { return os.WriteFile(filepath.Join(dir, name), b, 0o600) }

	// The concat demuxer shows each file for its duration; the last file
	// is listed twice, or its duration is ignored.
	var list strings.Builder
	list.WriteString("ffconcat version 1.0\n")
	var total time.Duration
	for i, s := range slides {
		name := fmt.Sprintf("slide%04d.img", i)
		if err := write(name, s.Image); err != nil {
			return nil, err
		}
		fmt.Fprintf(&list, "file %s\nduration %.6f\n", name, s.Duration.Seconds())
		total += s.Duration
	}
	fmt.Fprintf(&list, "file slide%04d.img\n", len(slides)-1)
	if err := write("slides.txt", []byte(list.String())); err != nil {
		return nil, err
	}
	if err := write("audio.wav", wav); err != nil {
		return nil, err
	}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "concat", "-safe", "0", "-i", "slides.txt",
		"-i", "audio.wav"}
	maps := []string{"-map", "0:v", "-map", "1:a"}
	if captions != "" {
		if err := write("captions.vtt", []byte(captions)); err != nil {
			return nil, err
		}
		args = append(args, "-i", "captions.vtt")
		maps = append(maps, "-map", "2:s", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng")
	}
	args = append(args, maps...)
	args = append(args,
		"-vf", fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,format=yuv420p,fps=25", Width, Height, Width, Height),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage",
		"-c:a", "aac", "-b:a", "128k",
		// -shortest overshoots; the exact length is the slides' total.
		"-t", strconv.FormatFloat(total.Seconds(), 'f', 3, 64),
		"-movflags", "+faststart", "out.mp4")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("video: ffmpeg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(filepath.Join(dir, "out.mp4"))
}
