// Package bpe trains GPT-2 style byte-level BPE vocabularies and writes them as GGUF tokenizer
// metadata that engine/tokenizer and llama.cpp read.
package bpe

import (
	"errors"
	"fmt"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/tokenizer"
)

// EndOfText is the one control token: it separates documents in training and is the model's
// BOS and EOS.
const EndOfText = "<|endoftext|>"

// Pre is the tokenizer.ggml.pre value. "gpt-2" is GPT-2's own regex, which engine/tokenizer
// and llama.cpp's LLAMA_VOCAB_PRE_TYPE_GPT2 both implement; training splits text the same way.
const Pre = "gpt-2"

// ErrVocabSize reports a requested vocabulary too small to hold the byte tokens and specials.
var ErrVocabSize = errors.New("bpe: vocabulary size too small")

// Vocab is a trained vocabulary: Tokens[i] is token i in GPT-2's byte-to-character encoding;
// the first 256 are the single bytes, then one per merge, then the control tokens.
type Vocab struct {
	Tokens []string
	Types  []int32  // tokenizer.TokenType values
	Merges []string // "left right", in rank order
	EOT    int32
}

// byteToRune is GPT-2's map from bytes to printable characters (printable Latin-1 stands for
// itself, the rest count up from U+0100).
var byteToRune = func() (m [256]rune) {
	n := rune(0)
	for b := range 256 {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = 256 + n
			n++
		}
	}
	return m
}()

// SetGGUF writes the tokenizer.ggml.* keys for v.
func (v *Vocab) SetGGUF(w *gguf.Writer) error {
	kv := []struct {
		k string
		v any
	}{
		{k: "tokenizer.ggml.model", v: "gpt2"},
		{k: "tokenizer.ggml.pre", v: Pre},
		{k: "tokenizer.ggml.tokens", v: v.Tokens},
		{k: "tokenizer.ggml.token_type", v: v.Types},
		{k: "tokenizer.ggml.merges", v: v.Merges},
		{k: "tokenizer.ggml.bos_token_id", v: uint32(v.EOT)},
		{k: "tokenizer.ggml.eos_token_id", v: uint32(v.EOT)},
		{k: "tokenizer.ggml.padding_token_id", v: uint32(v.EOT)},
		// Every training document follows an end-of-text token, so prompts start with one.
		{k: "tokenizer.ggml.add_bos_token", v: true},
		{k: "tokenizer.ggml.add_eos_token", v: false},
	}
	for _, e := range kv {
		if err := w.Set(e.k, e.v); err != nil {
			return fmt.Errorf("bpe: %s: %w", e.k, err)
		}
	}
	return nil
}

// Tokenizer builds the engine's tokenizer for v, so that training data is encoded exactly as
// the engine will encode prompts.
func (v *Vocab) Tokenizer() (*tokenizer.Tokenizer, error) {
	w := gguf.NewWriter()
	if err := w.Set("general.architecture", "llama"); err != nil {
		return nil, err
	}
	if err := v.SetGGUF(w); err != nil {
		return nil, err
	}
	var buf bytesBuffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	f, err := gguf.Parse(buf)
	if err != nil {
		return nil, err
	}
	return tokenizer.FromGGUF(f)
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
