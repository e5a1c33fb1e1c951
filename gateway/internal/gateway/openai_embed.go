package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// embeddingsRequest is a POST /v1/embeddings body.
type embeddingsRequest struct {
	Model          string         `json:"model"`
	Input          embeddingInput `json:"input"`
	Dimensions     *int64         `json:"dimensions"`
	EncodingFormat string         `json:"encoding_format"`
	User           string         `json:"user"` // accepted and unused
}

var embeddingsParams = []string{"model", "input", "dimensions", "encoding_format", "user"}

var embeddingsNames = paramNames{"model": "model", "inputs": "input", "dimensions": "dimensions"}

// embeddingInput is OpenAI's input: one string or an array of strings. Arrays of token ids,
// which OpenAI also accepts, mean another tokenizer's ids and are refused.
type embeddingInput []string

func (in *embeddingInput) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*in = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err == nil {
		*in = many
		return nil
	}
	return &paramError{param: "input", msg: "must be a string or an array of strings (token arrays are not supported)"}
}

func (o *openAI) embeddings(w http.ResponseWriter, r *http.Request) {
	var req embeddingsRequest
	if err := decodeOpenAI(r, &req, embeddingsParams); err != nil {
		o.fail(w, r, err, embeddingsNames)
		return
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		o.fail(w, r, invalidParam("encoding_format", "must be float or base64, got %q", req.EncodingFormat), embeddingsNames)
		return
	}
	ereq := &genaiv1.EmbedRequest{Model: req.Model, Inputs: req.Input}
	if req.Dimensions != nil {
		if *req.Dimensions < 1 {
			o.fail(w, r, invalidParam("dimensions", "must be at least 1, got %d", *req.Dimensions), embeddingsNames)
			return
		}
		ereq.Dimensions = clampInt32(*req.Dimensions)
	}
	resp, err := o.embed.Embed(r.Context(), ereq)
	if err != nil {
		o.fail(w, r, err, embeddingsNames)
		return
	}
	data := make([]map[string]any, 0, len(resp.GetEmbeddings()))
	for _, e := range resp.GetEmbeddings() {
		var v any = e.GetValues()
		if req.EncodingFormat == "base64" {
			// OpenAI's base64: the little-endian float32s.
			var b bytes.Buffer
			_ = binary.Write(&b, binary.LittleEndian, e.GetValues())
			v = base64.StdEncoding.EncodeToString(b.Bytes())
		}
		data = append(data, map[string]any{"object": "embedding", "index": e.GetIndex(), "embedding": v})
	}
	tokens := resp.GetUsage().GetInputTokens()
	writeJSON(w, map[string]any{
		"object": "list",
		"data":   data,
		"model":  resp.GetModel(),
		"usage":  map[string]any{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}
