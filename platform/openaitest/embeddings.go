package openaitest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
)

// DefaultEmbeddingDimensions is the length of the fake's vectors when a request asks for no
// dimensions.
const DefaultEmbeddingDimensions = 16

// FakeEmbedding is the fake's vector for text: the sum of a pseudo-random vector per word,
// seeded by the word's hash (a bag of words, so texts sharing words are near), scaled to
// length 2 rather than 1, as servers that do not normalise send. It is no model.
func FakeEmbedding(text string, dims int) []float32 {
	v := make([]float32, dims)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		h := fnv.New64a()
		h.Write([]byte(strings.Trim(w, ".,;:!?\"'()")))
		x := h.Sum64()
		for i := range v {
			x = x*6364136223846793005 + 1442695040888963407
			v[i] += float32(int64(x>>11)%2001-1000) / 1000
		}
	}
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		v[0], ss = 1, 1
	}
	k := float32(2 / math.Sqrt(ss))
	for i := range v {
		v[i] *= k
	}
	return v
}

type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// embeddings serves POST /v1/embeddings as OpenAI does: input a string or an array of
// strings, optional dimensions and encoding_format (float, base64), one vector per input
// with its index, usage counting one token per word.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, rec Request) {
	var req embeddingsRequest
	if err := json.Unmarshal(rec.Body, &req); err != nil {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: "We could not parse the JSON body of your request."})
		return
	}
	if !s.knownModel(req.Model) {
		writeModelNotFound(w, req.Model)
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(req.Input, &inputs); err != nil || len(inputs) == 0 {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: "'input' must be a string or a non-empty array of strings"})
		return
	}
	dims := DefaultEmbeddingDimensions
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > DefaultEmbeddingDimensions {
			writeError(w, Failure{Status: http.StatusBadRequest, Message: fmt.Sprintf("%d is not between 1 and %d - 'dimensions'", *req.Dimensions, DefaultEmbeddingDimensions)})
			return
		}
		dims = *req.Dimensions
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: fmt.Sprintf("'%s' is not one of ['float', 'base64'] - 'encoding_format'", req.EncodingFormat)})
		return
	}
	if !s.hold(r, rec) {
		return
	}
	type datum struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	resp := struct {
		Object string  `json:"object"`
		Model  string  `json:"model"`
		Data   []datum `json:"data"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Model: req.Model}
	for i, in := range inputs {
		v := FakeEmbedding(in, dims)
		var e any = v
		if req.EncodingFormat == "base64" {
			var b bytes.Buffer
			_ = binary.Write(&b, binary.LittleEndian, v)
			e = base64.StdEncoding.EncodeToString(b.Bytes())
		}
		resp.Data = append(resp.Data, datum{Object: "embedding", Index: i, Embedding: e})
		resp.Usage.PromptTokens += len(strings.Fields(in))
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	s.noteCompleted()
	writeJSON(w, http.StatusOK, resp)
}
