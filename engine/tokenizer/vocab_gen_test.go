package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// The test vocabularies are trained here, deterministically, on a small corpus and written with
// engine/gguf, so that llama.cpp's llama-tokenize can be run on the very same files.
//
// Regenerate testdata (the GGUFs, then llama.cpp's expected ids) with:
//
//	CHORUS_UPDATE_TESTDATA=1 CHORUS_LLAMA_TOKENIZE=/path/to/llama-tokenize go test -run TestGenerateTestdata ./tokenizer/

const corpus = `The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox
was very pleased with itself. Hello world! Hello, World. It's a small world, isn't it? We're
going to tokenize this text; they'll see that it works, and you've seen it too. I'd say
that's fine. Numbers: 0 1 2 3 4 5 6 7 8 9 10 12 123 1234 2024 3.14159 1,000,000 42.
In the beginning the Word existed, and the world was without form. Then there was light.
func main() { fmt.Println("hello, world") } // a comment
for i := 0; i < 10; i++ { total += values[i] * 2 }
	indented with a tab
    indented with spaces
Café, naïve, résumé, Ωμέγα, Привет мир, 日本語のテキスト, 中文文本, 한국어.
Emoji: 🦙 🔥 👍 😀 and the llama 🦙 again.
the the the and and and of of to to in in is is it it that that with with for for on on
Streaming generation emits pieces of text as tokens arrive, holding back partial characters.
`

// trainMerges learns up to n byte-pair merges over words (each already split into symbols),
// most frequent pair first, ties broken by the pair's text so the result is deterministic.
func trainMerges(words map[string]int, split func(string) []string, n int) [][2]string {
	type entry struct {
		syms  []string
		count int
	}
	keys := make([]string, 0, len(words))
	for w := range words {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	entries := make([]entry, len(keys))
	for i, w := range keys {
		entries[i] = entry{syms: split(w), count: words[w]}
	}
	var merges [][2]string
	for len(merges) < n {
		counts := map[[2]string]int{}
		for _, e := range entries {
			for i := 1; i < len(e.syms); i++ {
				counts[[2]string{e.syms[i-1], e.syms[i]}] += e.count
			}
		}
		best, bestN := [2]string{}, 0
		for p, c := range counts {
			if c > bestN || (c == bestN && p[0]+" "+p[1] < best[0]+" "+best[1]) {
				best, bestN = p, c
			}
		}
		if bestN == 0 {
			break
		}
		merges = append(merges, best)
		for i := range entries {
			s := entries[i].syms
			out := s[:0:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best[0] && s[j+1] == best[1] {
					out = append(out, s[j]+s[j+1])
					j++
				} else {
					out = append(out, s[j])
				}
			}
			entries[i].syms = out
		}
	}
	return merges
}

func chars(s string) []string {
	var out []string
	for _, r := range s {
		out = append(out, string(r))
	}
	return out
}

// llamaHParams makes the file loadable by llama.cpp as a vocabulary-only llama model.
func llamaHParams(w *gguf.Writer, tb testing.TB, name string) {
	for _, kv := range []struct {
		key string
		val any
	}{
		{key: "general.architecture", val: "llama"},
		{key: "general.name", val: name},
		{key: "llama.context_length", val: uint32(2048)},
		{key: "llama.embedding_length", val: uint32(64)},
		{key: "llama.block_count", val: uint32(1)},
		{key: "llama.feed_forward_length", val: uint32(128)},
		{key: "llama.attention.head_count", val: uint32(4)},
		{key: "llama.attention.head_count_kv", val: uint32(4)},
		{key: "llama.attention.layer_norm_rms_epsilon", val: float32(1e-5)},
		{key: "llama.rope.dimension_count", val: uint32(16)},
	} {
		must(tb, w.Set(kv.key, kv.val))
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// bpeSpecials are appended after the trained vocabulary of every byte-level test vocab.
var bpeSpecials = []struct {
	text string
	typ  TokenType
}{
	{text: "<|endoftext|>", typ: TypeControl},
	{text: "<|im_start|>", typ: TypeControl},
	{text: "<|im_end|>", typ: TypeControl},
	{text: "<|begin_of_text|>", typ: TypeControl},
	{text: "<|start_header_id|>", typ: TypeControl},
	{text: "<|end_header_id|>", typ: TypeControl},
	{text: "<|eot_id|>", typ: TypeControl},
	{text: "<tool_call>", typ: TypeUserDefined},
}

// buildBPE trains a byte-level BPE vocabulary and returns it as a GGUF writer with the given
// pre-tokenizer name.
func buildBPE(tb testing.TB, pre string) *gguf.Writer {
	words := map[string]int{}
	for _, w := range splitGPT2(corpus, nil) {
		words[string(byteEncode(w, nil))]++
	}
	merges := trainMerges(words, chars, 400)
	var tokens []string
	var types []int32
	seen := map[string]bool{}
	add := func(s string, ty TokenType) {
		if !seen[s] {
			seen[s] = true
			tokens = append(tokens, s)
			types = append(types, int32(ty))
		}
	}
	for b := 0; b < 256; b++ {
		add(string(byteToRune[b]), TypeNormal)
	}
	mergeStrs := make([]string, len(merges))
	for i, m := range merges {
		add(m[0]+m[1], TypeNormal)
		mergeStrs[i] = m[0] + " " + m[1]
	}
	ids := map[string]uint32{}
	for _, s := range bpeSpecials {
		ids[s.text] = uint32(len(tokens))
		add(s.text, s.typ)
	}
	w := gguf.NewWriter()
	llamaHParams(w, tb, "chorus-test-bpe-"+pre)
	must(tb, w.Set(keyModel, "gpt2"))
	must(tb, w.Set(keyPre, pre))
	must(tb, w.Set(keyTokens, tokens))
	must(tb, w.Set(keyTokenType, types))
	must(tb, w.Set(keyMerges, mergeStrs))
	switch pre {
	case "llama-bpe":
		must(tb, w.Set(keyBOS, ids["<|begin_of_text|>"]))
		must(tb, w.Set(keyEOS, ids["<|eot_id|>"]))
		must(tb, w.Set(keyAddBOS, true))
	case "smollm":
		must(tb, w.Set(keyBOS, ids["<|im_start|>"]))
		must(tb, w.Set(keyEOS, ids["<|im_end|>"]))
	default:
		must(tb, w.Set(keyBOS, ids["<|endoftext|>"]))
		must(tb, w.Set(keyEOS, ids["<|endoftext|>"]))
		must(tb, w.Set(keyAddBOS, false))
	}
	must(tb, w.Set(keyChatTemplate, "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"))
	return w
}

// buildSPM trains a SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then
// characters and merged pieces scored by merge order.
func buildSPM(tb testing.TB) *gguf.Writer { return buildSPMFamily(tb, "") }

// buildSPMFamily is buildSPM's vocabulary as a family's files declare it:
// "gemma" adds Gemma's turn markers (control tokens) and sets
// add_space_prefix false, as llama.cpp's converter does for Gemma 2 and 3;
// "phi3" adds Phi-3's turn markers under a name llama.cpp recognises as
// Phi-3 (its special tokens swallow the whitespace after them).
func buildSPMFamily(tb testing.TB, family string) *gguf.Writer {
	words := map[string]int{}
	for _, f := range strings.Fields(corpus) {
		words["▁"+f]++
	}
	merges := trainMerges(words, chars, 400)
	var tokens []string
	var scores []float32
	var types []int32
	seen := map[string]bool{}
	add := func(s string, score float32, ty TokenType) {
		if !seen[s] {
			seen[s] = true
			tokens = append(tokens, s)
			scores = append(scores, score)
			types = append(types, int32(ty))
		}
	}
	add("<unk>", 0, TypeUnknown)
	add("<s>", 0, TypeControl)
	add("</s>", 0, TypeControl)
	for b := 0; b < 256; b++ {
		add("<0x"+string(hexDigits[b>>4])+string(hexDigits[b&15])+">", 0, TypeByte)
	}
	for i, m := range merges {
		add(m[0]+m[1], -float32(i), TypeNormal)
	}
	// Single characters of the corpus (except the rarest, left to byte fallback) score lowest.
	charCount := map[string]int{}
	for _, r := range strings.ReplaceAll(corpus, " ", "▁") {
		if r != '\n' && r != '\t' {
			charCount[string(r)]++
		}
	}
	var cs []string
	for c, n := range charCount {
		if n > 1 {
			cs = append(cs, c)
		}
	}
	sort.Strings(cs)
	for _, c := range cs {
		add(c, -1000-float32(charCount[c]), TypeNormal)
	}
	add("<|user|>", 0, TypeUserDefined)
	name := "chorus-test-spm"
	switch family {
	case "gemma":
		name = "chorus-test-gemma"
		add("<start_of_turn>", 0, TypeControl)
		add("<end_of_turn>", 0, TypeControl)
	case "phi3":
		name = "chorus-test-phi3"
		for _, s := range []string{"<|assistant|>", "<|end|>", "<|system|>", "<|endoftext|>"} {
			add(s, 0, TypeControl)
		}
	}
	w := gguf.NewWriter()
	llamaHParams(w, tb, name)
	must(tb, w.Set(keyModel, "llama"))
	must(tb, w.Set(keyTokens, tokens))
	must(tb, w.Set(keyScores, scores))
	must(tb, w.Set(keyTokenType, types))
	must(tb, w.Set(keyBOS, uint32(1)))
	must(tb, w.Set(keyEOS, uint32(2)))
	must(tb, w.Set(keyUNK, uint32(0)))
	must(tb, w.Set(keyAddBOS, true))
	must(tb, w.Set(keyAddEOS, false))
	if family == "gemma" {
		must(tb, w.Set(keyAddPrefix, false))
	}
	return w
}

// testVocabs are the committed vocabularies, by file name.
var testVocabs = []struct {
	file  string
	build func(testing.TB) *gguf.Writer
}{
	{file: "bpe-gpt2.gguf", build: func(tb testing.TB) *gguf.Writer { return buildBPE(tb, "gpt-2") }},
	{file: "bpe-llama3.gguf", build: func(tb testing.TB) *gguf.Writer { return buildBPE(tb, "llama-bpe") }},
	{file: "bpe-qwen2.gguf", build: func(tb testing.TB) *gguf.Writer { return buildBPE(tb, "qwen2") }},
	{file: "bpe-smollm.gguf", build: func(tb testing.TB) *gguf.Writer { return buildBPE(tb, "smollm") }},
	{file: "bpe-default.gguf", build: func(tb testing.TB) *gguf.Writer { return buildBPE(tb, "default") }},
	{file: "spm.gguf", build: buildSPM},
	{file: "spm-gemma.gguf", build: func(tb testing.TB) *gguf.Writer { return buildSPMFamily(tb, "gemma") }},
	{file: "spm-phi3.gguf", build: func(tb testing.TB) *gguf.Writer { return buildSPMFamily(tb, "phi3") }},
}

// trickyStrings are compared against llama-tokenize, with and without special tokens.
var trickyStrings = []string{
	"",
	" ",
	"  ",
	"   ",
	"\t",
	"\n",
	"\n\n\n",
	"\t\n",
	" \n \n",
	"Hello world",
	" Hello world",
	"Hello World!",
	"Hello, world! How are you?",
	"  leading and trailing  ",
	"line1\nline2\r\nline3\n",
	"digits 1234567890 and 3.14159 and 1,000,000",
	"I'm you're we've they'll he'd SHE'S DON'T",
	"unicode: café naïve résumé Ωμέγα Привет мир",
	"CJK: 日本語のテキスト 中文 한국어",
	"emoji: 🦙🔥👍🏽 family 👨‍👩‍👧 flags 🇫🇷",
	"func main() { fmt.Println(\"hi\") }",
	"    indented code\n\tif x {\n\t\treturn\n\t}",
	"<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
	"text<|endoftext|>more text",
	"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
	"call <tool_call>{\"name\":\"x\"}",
	"<|user|>\nHi<s>x</s>",
	"mixed\t tabs \t\t and   spaces   ",
	"a\u00a0non-breaking\u2009thin\u3000ideographic",
	"$100 €50 ¥30 ½ ² ③",
	"x = y + z ** 2 // comment",
	"Ġ Ċ literal byte-level characters",
	"<0x41> is not a byte token here",
	"...!!!???",
	"e\u0301 combining accent",
	"The quick brown fox jumps over the lazy dog.",
	"'s 'S 'll 'LL' word' 'x",
	"don't!!!\n\n\n  end",
	" \t\n  x",
	"3333333 a1b2c3 12,345.6789",
	"\r\n\r\n",
	"    \n    ",
	"Straße 🎉 ǅ ﬁ Ⅻ",
	"<|im_start|><|im_end|><|im_start|>",
	"<|im_start|>  spaced  <|im_end|>",
	"tab\tafter\t",
	"<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
	"<|system|>\n  Be brief.<|end|>\n<|user|>\n Hi \t\n<|end|>\n<|assistant|>\n",
	"x<|endoftext|>  y</s> \n z<s> w<unk>  v",
}

type expectation struct {
	Text       string  `json:"text"`
	AddSpecial bool    `json:"add_special"`
	IDs        []int32 `json:"ids"`
}

// TestGenerateTestdata rewrites testdata when CHORUS_UPDATE_TESTDATA=1, and the expected ids
// from llama.cpp when CHORUS_LLAMA_TOKENIZE names a llama-tokenize binary.
func TestGenerateTestdata(t *testing.T) {
	if os.Getenv("CHORUS_UPDATE_TESTDATA") != "1" {
		t.Skip("CHORUS_UPDATE_TESTDATA not set")
	}
	for _, v := range testVocabs {
		var buf bytes.Buffer
		if _, err := v.build(t).WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		must(t, os.WriteFile(filepath.Join("testdata", v.file), buf.Bytes(), 0o644))
	}
	bin := os.Getenv("CHORUS_LLAMA_TOKENIZE")
	if bin == "" {
		return
	}
	want := map[string][]expectation{}
	for _, v := range testVocabs {
		path := filepath.Join("testdata", v.file)
		for _, text := range trickyStrings {
			for _, addSpecial := range []bool{false, true} {
				args := []string{"-m", path, "--stdin", "--ids", "--log-disable", "--no-escape"}
				if !addSpecial {
					args = append(args, "--no-bos")
				}
				cmd := exec.Command(bin, args...)
				cmd.Stdin = strings.NewReader(text)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s %q: %v", v.file, text, err)
				}
				var ids []int32
				line := strings.TrimSpace(string(out))
				if i := strings.LastIndexByte(line, '\n'); i >= 0 {
					line = line[i+1:]
				}
				if err := json.Unmarshal([]byte(line), &ids); err != nil {
					t.Fatalf("%s %q: parsing %q: %v", v.file, text, out, err)
				}
				if ids == nil {
					ids = []int32{}
				}
				want[v.file] = append(want[v.file], expectation{Text: text, AddSpecial: addSpecial, IDs: ids})
			}
		}
	}
	// One expectation per line keeps the file short and its diffs readable.
	var data bytes.Buffer
	data.WriteString("{\n")
	for i, v := range testVocabs {
		fmt.Fprintf(&data, " %q: [\n", v.file)
		for j, e := range want[v.file] {
			line, err := json.Marshal(e)
			must(t, err)
			data.WriteString("  " + string(line))
			if j < len(want[v.file])-1 {
				data.WriteString(",")
			}
			data.WriteString("\n")
		}
		data.WriteString(" ]")
		if i < len(testVocabs)-1 {
			data.WriteString(",")
		}
		data.WriteString("\n")
	}
	data.WriteString("}\n")
	must(t, os.WriteFile(filepath.Join("testdata", "llama_tokenize.json"), data.Bytes(), 0o644))
}
