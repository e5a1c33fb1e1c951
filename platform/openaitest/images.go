package openaitest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxImageSide bounds the sizes the fake draws, so a test cannot make it
// allocate without limit.
const MaxImageSide = 4096

type imageRequest struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt"`
	N              *int   `json:"n"`
	Size           string `json:"size"`
	ResponseFormat string `json:"response_format"`
}

func (s *Server) imageGenerations(w http.ResponseWriter, r *http.Request, rec Request) {
	var req imageRequest
	if err := json.Unmarshal(rec.Body, &req); err != nil {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: "We could not parse the JSON body of your request."})
		return
	}
	if !s.knownModel(req.Model) {
		writeModelNotFound(w, req.Model)
		return
	}
	if strings.TrimSpace(req.Prompt) == "" {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: "'prompt' is a required property"})
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n < 1 || n > 10 {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: fmt.Sprintf("%d is not between 1 and 10 - 'n'", n)})
		return
	}
	width, height, ok := parseSize(req.Size)
	if !ok {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: fmt.Sprintf("'%s' is not a valid size - 'size'", req.Size)})
		return
	}
	format := req.ResponseFormat
	switch format {
	case "":
		format = "url"
	case "url", "b64_json":
	default:
		writeError(w, Failure{Status: http.StatusBadRequest, Message: fmt.Sprintf("'%s' is not one of ['url', 'b64_json'] - 'response_format'", format)})
		return
	}
	if !s.hold(r, rec) || !s.wait(r, rec) {
		return
	}
	type datum struct {
		B64JSON       string `json:"b64_json,omitempty"`
		URL           string `json:"url,omitempty"`
		RevisedPrompt string `json:"revised_prompt,omitempty"`
	}
	resp := struct {
		Created int64   `json:"created"`
		Data    []datum `json:"data"`
	}{Created: time.Now().Unix()}
	for i := range n {
		img := Gradient(width, height, i)
		if format == "b64_json" {
			resp.Data = append(resp.Data, datum{B64JSON: base64.StdEncoding.EncodeToString(img)})
			continue
		}
		s.mu.Lock()
		s.imageSeq++
		name := fmt.Sprintf("img-%d.png", s.imageSeq)
		s.images[name] = img
		s.mu.Unlock()
		resp.Data = append(resp.Data, datum{URL: s.URL + "/files/" + name})
	}
	writeJSON(w, http.StatusOK, resp)
	s.noteCompleted()
}

// file serves images generated with response_format "url".
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	s.record(r, nil)
	s.mu.Lock()
	img, ok := s.images[r.PathValue("name")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	_, _ = w.Write(img)
}

// parseSize parses "WxH"; empty selects 1024x1024, OpenAI's default.
func parseSize(size string) (w, h int, ok bool) {
	if size == "" {
		return 1024, 1024, true
	}
	ws, hs, found := strings.Cut(size, "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w < 1 || h < 1 || w > MaxImageSide || h > MaxImageSide {
		return 0, 0, false
	}
	return w, h, true
}

// Gradient returns a PNG of the given size: a fake image, a colour gradient
// whose hue shifts with index so the images of one response differ.
func Gradient(width, height, index int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		for x := range width {
			img.SetNRGBA(x, y, color.NRGBA{
				R: uint8(255 * x / max(width, 1)),
				G: uint8(255 * y / max(height, 1)),
				B: uint8(64 * index),
				A: 255,
			})
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&b, img); err != nil {
		// Encoding to memory cannot fail for a valid NRGBA image.
		return nil
	}
	return b.Bytes()
}
