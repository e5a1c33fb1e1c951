package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// imageRequest is a POST /v1/images/generations body.
type imageRequest struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt"`
	N              *int64 `json:"n"`
	Size           string `json:"size"`
	ResponseFormat string `json:"response_format"`
	User           string `json:"user"` // accepted and unused
}

var imageParams = []string{"model", "prompt", "n", "size", "response_format", "user"}

var imageNames = paramNames{
	"model": "model", "prompt": "prompt", "image.count": "n",
	"image.width": "size", "image.height": "size",
}

// parseSize reads OpenAI's "WIDTHxHEIGHT"; "" and "auto" leave the choice
// to the model.
func parseSize(s string) (w, h int32, err error) {
	if s == "" || s == "auto" {
		return 0, 0, nil
	}
	ws, hs, ok := strings.Cut(s, "x")
	wi, werr := strconv.ParseInt(ws, 10, 32)
	hi, herr := strconv.ParseInt(hs, 10, 32)
	if !ok || werr != nil || herr != nil || wi <= 0 || hi <= 0 {
		return 0, 0, invalidParam("size", "must be WIDTHxHEIGHT in pixels, such as 512x512, got %q", rpcerr.Clip(s, 32))
	}
	return int32(wi), int32(hi), nil
}

func (o *openAI) images(w http.ResponseWriter, r *http.Request) {
	var req imageRequest
	if err := decodeOpenAI(r, &req, imageParams); err != nil {
		o.fail(w, r, err, nil)
		return
	}
	switch req.ResponseFormat {
	case "", "b64_json":
	case "url":
		o.fail(w, r, unsupported("response_format",
			"url is not supported: this server returns images inline; use b64_json"), imageNames)
		return
	default:
		o.fail(w, r, invalidParam("response_format", "must be b64_json, got %q", rpcerr.Clip(req.ResponseFormat, 32)), imageNames)
		return
	}
	width, height, err := parseSize(req.Size)
	if err != nil {
		o.fail(w, r, err, imageNames)
		return
	}
	opts := &genaiv1.ImageOptions{Width: width, Height: height}
	if req.N != nil {
		if *req.N < 1 {
			o.fail(w, r, invalidParam("n", "must be at least 1, got %d", *req.N), imageNames)
			return
		}
		opts.Count = clampInt32(*req.N)
	}
	// Streamed and collected rather than unary, so that an image over one
	// gRPC message arrives (in parts); with the unary call's deadline.
	images := o.clients[genai.Image]
	ctx, cancel := withDefaultDeadline(r.Context(), images.timeout)
	defer cancel()
	resp, err := genai.Collect(ctx, images, &genaiv1.GenerateRequest{
		Model: req.Model, Prompt: req.Prompt, Options: &genaiv1.GenerateRequest_Image{Image: opts},
	}, 0)
	if err != nil {
		o.fail(w, r, err, imageNames)
		return
	}
	data := make([]map[string]any, 0, len(resp.GetArtifacts()))
	for _, a := range resp.GetArtifacts() {
		switch c := a.GetContent().(type) {
		case *genaiv1.Artifact_Data:
			data = append(data, map[string]any{"b64_json": base64.StdEncoding.EncodeToString(c.Data)})
		case *genaiv1.Artifact_Uri:
			// The backend gave a link rather than the bytes.
			data = append(data, map[string]any{"url": c.Uri})
		default:
			o.fail(w, r, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the image service returned no image data"), nil)
			return
		}
	}
	writeJSON(w, map[string]any{
		"created": time.Now().Unix(),
		"data":    data,
		"usage":   map[string]any{"images": resp.GetUsage().GetImages()},
	})
}

// speechRequest is a POST /v1/audio/speech body.
type speechRequest struct {
	Model          string   `json:"model"`
	Input          string   `json:"input"`
	Voice          string   `json:"voice"`
	ResponseFormat string   `json:"response_format"`
	Speed          *float32 `json:"speed"`
}

var speechParams = []string{"model", "input", "voice", "response_format", "speed"}

var speechNames = paramNames{
	"model": "model", "prompt": "input", "audio.voice": "voice", "audio.speed": "speed",
	"audio.format": "response_format", "audio.sample_rate": "response_format",
}

// pcmRate is the sample rate of OpenAI's pcm format: raw 16-bit
// little-endian mono samples at 24 kHz.
const pcmRate = 24000

func (o *openAI) speech(w http.ResponseWriter, r *http.Request) {
	var req speechRequest
	if err := decodeOpenAI(r, &req, speechParams); err != nil {
		o.fail(w, r, err, nil)
		return
	}
	opts := &genaiv1.AudioOptions{Voice: req.Voice}
	if req.Speed != nil {
		if *req.Speed == 0 {
			// Our 0 means "normal"; OpenAI's is out of range.
			o.fail(w, r, invalidParam("speed", "must be between 0.25 and 4, got 0"), speechNames)
			return
		}
		opts.Speed = *req.Speed
	}
	format := req.ResponseFormat
	switch format {
	case "":
		// OpenAI's default is mp3, which this server cannot encode; WAV is
		// the lossless choice every player reads.
		format = "wav"
	case "wav":
	case "pcm":
		opts.SampleRate = pcmRate
	case "mp3", "opus", "aac", "flac":
		o.fail(w, r, unsupported("response_format", "%s is not supported; use wav or pcm", format), speechNames)
		return
	default:
		o.fail(w, r, invalidParam("response_format", "must be wav or pcm, got %q", rpcerr.Clip(format, 32)), speechNames)
		return
	}
	ctx := r.Context()
	stream, err := o.clients[genai.Audio].StreamGenerate(ctx, &genaiv1.GenerateRequest{
		Model: req.Model, Prompt: req.Input, Options: &genaiv1.GenerateRequest_Audio{Audio: opts},
	})
	if err != nil {
		o.fail(w, r, err, speechNames)
		return
	}
	// The service streams one WAV per sentence. pcm is written as each
	// arrives (a player can start at once); a WAV needs its length up front,
	// so it is joined first.
	var segments [][]byte
	started := false
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if started {
				// Too late for an error status: cut the body short.
				o.g.log.WarnContext(ctx, "speech stream failed", "error", err.Error())
				return
			}
			o.fail(w, r, err, speechNames)
			return
		}
		var arts []*genaiv1.Artifact
		switch c := msg.GetChunk().(type) {
		case *genaiv1.GenerateChunk_Artifact:
			arts = []*genaiv1.Artifact{c.Artifact}
		case *genaiv1.GenerateChunk_Done:
			if len(segments) == 0 && !started {
				arts = c.Done.GetArtifacts()
			}
		}
		for _, a := range arts {
			if format == "wav" {
				segments = append(segments, a.GetData())
				continue
			}
			audio, err := wav.Decode(a.GetData())
			if err != nil {
				if !started {
					o.fail(w, r, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the audio service returned audio that is not WAV").WithCause(err), nil)
				}
				return
			}
			if !started {
				w.Header().Set("Content-Type", "audio/pcm")
				w.WriteHeader(http.StatusOK)
				started = true
			}
			if _, err := w.Write(pcm(wav.Resample(audio, pcmRate))); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
		}
	}
	if started {
		return // pcm, all written
	}
	if len(segments) == 0 {
		o.fail(w, r, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the audio service returned no audio"), nil)
		return
	}
	audio, err := wav.Join(segments)
	if err != nil {
		o.fail(w, r, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the audio service returned audio that cannot be joined").WithCause(err), nil)
		return
	}
	body := wav.Encode(audio)
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// pcm is a's samples as raw 16-bit little-endian bytes, a WAV's data.
func pcm(a wav.Audio) []byte {
	b := make([]byte, 2*len(a.Samples))
	for i, s := range a.Samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}
