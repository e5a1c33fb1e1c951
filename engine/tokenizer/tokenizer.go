package tokenizer

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// Sentinel errors; match them with errors.Is.
var (
	ErrNoVocab         = errors.New("tokenizer: no vocabulary in the model file")
	ErrUnsupported     = errors.New("tokenizer: unsupported tokenizer")
	ErrInvalidMetadata = errors.New("tokenizer: invalid tokenizer metadata")
)

// TokenType is the per-token type stored in tokenizer.ggml.token_type.
type TokenType int32

// Token types, numbered as in llama.cpp's llama_token_type.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// NoToken marks an absent special token id.
const NoToken int32 = -1

type model int

const (
	modelSPM model = iota // tokenizer.ggml.model "llama": SentencePiece BPE by scores
	modelBPE              // tokenizer.ggml.model "gpt2": byte-level BPE by merge ranks
)

// Tokenizer encodes and decodes text for one model. It is immutable after construction and safe
// for concurrent use.
type Tokenizer struct {
	model  model
	pre    []splitter // BPE pre-tokenizer stages
	tokens []string
	scores []float32
	types  []TokenType
	ids    map[string]int32
	ranks  map[string]int32 // "left right" -> merge rank

	bos, eos, unk, pad, eot, eom int32
	addBOS, addEOS               bool
	addSpacePrefix               bool // SPM: prefix text with a space as SentencePiece does
	ignoreMerges                 bool // Llama 3: a word that is a whole token skips BPE

	eog      map[int32]bool
	rstrip   map[int32]bool // special tokens that swallow the whitespace after them
	special  []int32        // control, user-defined and unknown tokens, longest text first
	pieces   []string       // bytes each token decodes to (special tokens as their text)
	template string
}

// Metadata keys read from GGUF.
const (
	keyModel        = "tokenizer.ggml.model"
	keyPre          = "tokenizer.ggml.pre"
	keyTokens       = "tokenizer.ggml.tokens"
	keyScores       = "tokenizer.ggml.scores"
	keyTokenType    = "tokenizer.ggml.token_type"
	keyMerges       = "tokenizer.ggml.merges"
	keyBOS          = "tokenizer.ggml.bos_token_id"
	keyEOS          = "tokenizer.ggml.eos_token_id"
	keyEOT          = "tokenizer.ggml.eot_token_id"
	keyEOM          = "tokenizer.ggml.eom_token_id"
	keyUNK          = "tokenizer.ggml.unknown_token_id"
	keyPAD          = "tokenizer.ggml.padding_token_id"
	keyAddBOS       = "tokenizer.ggml.add_bos_token"
	keyAddEOS       = "tokenizer.ggml.add_eos_token"
	keyAddPrefix    = "tokenizer.ggml.add_space_prefix"
	keyChatTemplate = "tokenizer.chat_template"
)

// FromGGUF builds the tokenizer described by a model file's tokenizer.* metadata. Supported
// models are "llama" (SentencePiece) and "gpt2" (byte-level BPE) with the pre-tokenizers listed
// in pretokenize.go.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	name, ok := f.String(keyModel)
	if !ok {
		return nil, fmt.Errorf("%w: %s missing", ErrNoVocab, keyModel)
	}
	tokens, ok := f.Strings(keyTokens)
	if !ok || len(tokens) == 0 {
		return nil, fmt.Errorf("%w: %s missing", ErrNoVocab, keyTokens)
	}
	t := &Tokenizer{bos: NoToken, eos: NoToken, unk: NoToken, pad: NoToken, eot: NoToken, eom: NoToken}
	switch name {
	case "llama":
		t.model = modelSPM
		t.bos, t.eos, t.unk = 1, 2, 0
		t.addBOS, t.addSpacePrefix = true, true
		if v, ok := f.Bool(keyAddPrefix); ok {
			t.addSpacePrefix = v
		}
	case "gpt2":
		t.model = modelBPE
		t.bos, t.eos = 11, 11 // llama.cpp's defaults when the file names none
		pre, _ := f.String(keyPre)
		stages, llama3, err := preTokenizer(pre)
		if err != nil {
			return nil, err
		}
		t.pre = stages
		if llama3 {
			t.ignoreMerges, t.addBOS = true, true
		}
		merges, ok := f.Strings(keyMerges)
		if !ok {
			return nil, fmt.Errorf("%w: %s missing", ErrNoVocab, keyMerges)
		}
		t.ranks = make(map[string]int32, len(merges))
		for i, m := range merges {
			// llama.cpp splits at the first space after the first byte, so a merge of a
			// literal space token still parses.
			if p := strings.IndexByte(m[min(1, len(m)):], ' '); p >= 0 {
				if _, dup := t.ranks[m]; !dup {
					t.ranks[m] = int32(i)
				}
			}
		}
	default:
		return nil, fmt.Errorf("%w: model %q", ErrUnsupported, name)
	}

	n := len(tokens)
	t.tokens = make([]string, n)
	t.ids = make(map[string]int32, n)
	for i, s := range tokens {
		if s == "" {
			s = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		t.tokens[i] = s
		t.ids[s] = int32(i) // a repeated text maps to its last id, as in llama.cpp
	}
	t.scores = make([]float32, n)
	if s, ok := f.Float32s(keyScores); ok {
		if len(s) != n {
			return nil, fmt.Errorf("%w: %d scores for %d tokens", ErrInvalidMetadata, len(s), n)
		}
		copy(t.scores, s)
	}
	t.types = make([]TokenType, n)
	if tt, ok := f.Int32s(keyTokenType); ok {
		if len(tt) != n {
			return nil, fmt.Errorf("%w: %d token types for %d tokens", ErrInvalidMetadata, len(tt), n)
		}
		for i, v := range tt {
			t.types[i] = TokenType(v)
		}
	} else {
		for i := range t.types {
			t.types[i] = TypeNormal
		}
	}

	for _, s := range []struct {
		key string
		id  *int32
	}{
		{key: keyBOS, id: &t.bos}, {key: keyEOS, id: &t.eos}, {key: keyEOT, id: &t.eot},
		{key: keyEOM, id: &t.eom}, {key: keyUNK, id: &t.unk}, {key: keyPAD, id: &t.pad},
	} {
		if v, ok := f.Uint32(s.key); ok && int(v) < n {
			*s.id = int32(v)
		}
	}
	for _, id := range []*int32{&t.bos, &t.eos, &t.unk} {
		if int(*id) >= n {
			*id = NoToken
		}
	}
	if v, ok := f.Bool(keyAddBOS); ok {
		t.addBOS = v
	}
	if v, ok := f.Bool(keyAddEOS); ok {
		t.addEOS = v
	}
	t.findEOG()
	t.buildSpecial()
	modelName, _ := f.String("general.name")
	t.setStrip(modelName)
	t.buildPieces()
	t.template, _ = f.String(keyChatTemplate)
	return t, nil
}

// eogTexts are the end-of-turn markers llama.cpp recognises by their text, since converters do
// not record them all as metadata.
var eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|eom_id|>", "<EOT>"}

var eotTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<EOT>", "<｜end▁of▁sentence｜>"}

func (t *Tokenizer) findEOG() {
	t.eog = map[int32]bool{}
	if t.eot == NoToken {
		for _, s := range eotTexts {
			if id, ok := t.ids[s]; ok {
				t.eot = id
				t.types[id] = TypeControl
				break
			}
		}
	}
	if t.eom == NoToken {
		if id, ok := t.ids["<|eom_id|>"]; ok {
			t.eom = id
		}
	}
	for _, s := range eogTexts {
		if id, ok := t.ids[s]; ok {
			t.eog[id] = true
			// llama.cpp forces these to control so that they are parsed and hidden as such.
			t.types[id] = TypeControl
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != NoToken {
			t.eog[id] = true
		}
	}
}

func (t *Tokenizer) buildSpecial() {
	for i, ty := range t.types {
		if ty == TypeControl || ty == TypeUserDefined || ty == TypeUnknown {
			t.special = append(t.special, int32(i))
		}
	}
	sort.SliceStable(t.special, func(a, b int) bool {
		return len(t.tokens[t.special[a]]) > len(t.tokens[t.special[b]])
	})
}

// setStrip gives special tokens llama.cpp's strip attributes by model name:
// Phi-3's (a name containing "phi-3" or "phi3", as llama.cpp matches it)
// swallow the whitespace after them, except <unk>, <s> and <|endoftext|>,
// as Hugging Face's Phi-3 tokenizer declares (rstrip) and llama.cpp copies.
func (t *Tokenizer) setStrip(name string) {
	name = strings.ToLower(name)
	if !strings.Contains(name, "phi-3") && !strings.Contains(name, "phi3") {
		return
	}
	t.rstrip = map[int32]bool{}
	for _, id := range t.special {
		t.rstrip[id] = true
	}
	if id, ok := t.ids["</s>"]; ok {
		t.rstrip[id] = true
	}
	for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
		if id, ok := t.ids[s]; ok {
			delete(t.rstrip, id)
		}
	}
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS is the beginning-of-sequence token id, or NoToken.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS is the end-of-sequence token id, or NoToken.
func (t *Tokenizer) EOS() int32 { return t.eos }

// AddBOS reports whether Encode with addSpecial prepends BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS && t.bos != NoToken }

// IsEOG reports whether generation should stop at id (EOS, end-of-turn markers and the like).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// EOGTokens lists the end-of-generation ids in ascending order.
func (t *Tokenizer) EOGTokens() []int32 {
	out := make([]int32, 0, len(t.eog))
	for id := range t.eog {
		out = append(out, id)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

// Token returns the vocabulary text of id ("" when out of range).
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Type returns the token type of id (TypeUndefined when out of range).
func (t *Tokenizer) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// Lookup returns the id whose vocabulary text is exactly s.
func (t *Tokenizer) Lookup(s string) (int32, bool) {
	id, ok := t.ids[s]
	return id, ok
}

// ChatTemplate returns the Jinja chat template stored in the file, or "".
func (t *Tokenizer) ChatTemplate() string { return t.template }
