// Command train trains Chorus's small language model from the corpus command's output:
//
//	train tokenizer -corpus corpus -vocab 4096 -o run/tokenizer.json
//	train fit -corpus corpus -tokenizer run/tokenizer.json -dir run -preset mini -steps 4500
//	train fit -corpus corpus -dir run -steps 7000   # the shipped model's warm restart
//	train export -dir run -type Q8_0 -o models/chorus-mini.gguf
//	train eval -model models/chorus-mini.gguf -corpus corpus -dir run
//	train sample -model models/chorus-mini.gguf -prompt 'Title: The sea' -seed 1
//
// fit resumes from run/checkpoint.bin when it exists and saves it every -every steps and on
// SIGINT/SIGTERM, so a stopped run continues exactly where it left off.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/bpe"
	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/internal/subcmd"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/engine/train"
)

func main() {
	subcmd.Main("train",
		subcmd.Command{Name: "tokenizer", Run: cmdTokenizer},
		subcmd.Command{Name: "fit", Run: cmdFit},
		subcmd.Command{Name: "export", Run: cmdExport},
		subcmd.Command{Name: "eval", Run: cmdEval},
		subcmd.Command{Name: "sample", Run: cmdSample})
}

type doc struct {
	Source string `json:"source"`
	Text   string `json:"text"`
}

func readDocs(path string) ([]doc, error) {
	return train.ReadJSONL[doc](path, "build the corpus first: go run ./engine/cmd/corpus -o DIR")
}

func cmdTokenizer(args []string) error {
	fs := flag.NewFlagSet("tokenizer", flag.ExitOnError)
	corpus := fs.String("corpus", "corpus", "corpus directory (train.jsonl)")
	size := fs.Int("vocab", 4096, "vocabulary size, byte tokens and <|endoftext|> included")
	out := fs.String("o", "tokenizer.json", "output file")
	fs.Parse(args)
	start := time.Now()
	docs, err := readDocs(filepath.Join(*corpus, "train.jsonl"))
	if err != nil {
		return err
	}
	c := bpe.NewCounter()
	for _, d := range docs {
		c.Add(d.Text)
	}
	v, err := bpe.Train(c, *size)
	if err != nil {
		return err
	}
	if err := v.WriteFile(*out); err != nil {
		return err
	}
	fmt.Printf("tokenizer: %d tokens (%d merges) from %d documents in %v\n", len(v.Tokens), len(v.Merges), len(docs),
		time.Since(start).Round(time.Millisecond))
	return nil
}

// encode tokenizes documents as the engine will: each document follows an <|endoftext|>.
func encode(v *bpe.Vocab, docs []doc) ([]int32, error) {
	tok, err := v.Tokenizer()
	if err != nil {
		return nil, err
	}
	var out []int32
	for _, d := range docs {
		out = append(out, v.EOT)
		out = append(out, tok.EncodeLiteral(d.Text, false)...)
	}
	return append(out, v.EOT), nil
}

// cachedTokens encodes a split once and keeps the ids beside the checkpoint.
func cachedTokens(v *bpe.Vocab, corpusFile, cache string) ([]int32, error) {
	if data, err := os.ReadFile(cache); err == nil && len(data)%2 == 0 {
		out := make([]int32, len(data)/2)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return out, nil
	}
	docs, err := readDocs(corpusFile)
	if err != nil {
		return nil, err
	}
	ids, err := encode(v, docs)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 2*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(id))
	}
	return ids, os.WriteFile(cache, buf, 0o644)
}

func presetConfig(name string, vocab int) (train.Config, train.Hyper, error) {
	h := train.Hyper{Seed: 1, Warmup: 50, BatchSeqs: 8, Workers: 2, LR: 2e-3, MinLR: 2e-4, WeightDecay: 0.1,
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Clip: 1}
	switch name {
	case "mini":
		// Sized for about an hour on two shared cores: about 1.3M weights, half of them the
		// tied embedding.
		return train.Config{Vocab: vocab, Dim: 128, Layers: 4, Heads: 4, KVHeads: 2, FFN: 384, Context: 256,
			NormEps: 1e-5, RopeBase: 10000}, h, nil
	case "tiny":
		h.Warmup = 10
		return train.Config{Vocab: vocab, Dim: 64, Layers: 2, Heads: 2, KVHeads: 1, FFN: 128, Context: 64,
			NormEps: 1e-5, RopeBase: 10000}, h, nil
	}
	return train.Config{}, train.Hyper{}, fmt.Errorf("unknown preset %q (want mini or tiny)", name)
}

func cmdFit(args []string) error {
	fs := flag.NewFlagSet("fit", flag.ExitOnError)
	corpus := fs.String("corpus", "corpus", "corpus directory")
	tokPath := fs.String("tokenizer", "", "tokenizer.json (default DIR/tokenizer.json)")
	dir := fs.String("dir", "run", "run directory: checkpoint, token caches")
	preset := fs.String("preset", "mini", "model and recipe: mini or tiny")
	steps := fs.Int("steps", 4500, "total optimizer steps (sets the cosine schedule)")
	every := fs.Int("every", 100, "checkpoint and validate every this many steps")
	evalWindows := fs.Int("eval", 16, "held-out windows for the validation loss")
	fs.Parse(args)
	if *tokPath == "" {
		*tokPath = filepath.Join(*dir, "tokenizer.json")
	}
	v, err := bpe.ReadFile(*tokPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	ckpt := filepath.Join(*dir, "checkpoint.bin")
	// An explicit -steps lengthens (or shortens) the schedule of a resumed run.
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "steps" })
	s, err := train.Resume(ckpt, *steps, explicit, os.Stdout, func() (train.Config, train.Hyper, error) {
		return presetConfig(*preset, len(v.Tokens))
	})
	if err != nil {
		return err
	}
	c := s.Cfg
	start := time.Now()
	trainIDs, err := cachedTokens(v, filepath.Join(*corpus, "train.jsonl"), filepath.Join(*dir, "train.tokens"))
	if err != nil {
		return err
	}
	heldIDs, err := cachedTokens(v, filepath.Join(*corpus, "heldout.jsonl"), filepath.Join(*dir, "heldout.tokens"))
	if err != nil {
		return err
	}
	fmt.Printf("tokens: %d train, %d held out (%v)\n", len(trainIDs), len(heldIDs), time.Since(start).Round(time.Millisecond))
	d, err := train.NewDataset(trainIDs, c.Context)
	if err != nil {
		return err
	}
	var evalSeqs [][]int32
	for i := 0; i < *evalWindows && (i+1)*c.Context+1 <= len(heldIDs); i++ {
		evalSeqs = append(evalSeqs, heldIDs[i*c.Context:(i+1)*c.Context+1])
	}
	return train.FitUntilSignal(s, d, train.FitOptions{Checkpoint: ckpt, Every: *every, Log: os.Stdout,
		Eval: train.HeldOutLoss(s, evalSeqs, c.Context)})
}

func cmdExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ExitOnError)
	dir := fs.String("dir", "run", "run directory (checkpoint.bin, tokenizer.json)")
	tokPath := fs.String("tokenizer", "", "tokenizer.json (default DIR/tokenizer.json)")
	typ := fs.String("type", "Q8_0", "matrix type: F32, F16 or Q8_0")
	name := fs.String("name", "chorus-mini", "general.name")
	out := fs.String("o", "model.gguf", "output GGUF file")
	fs.Parse(args)
	if *tokPath == "" {
		*tokPath = filepath.Join(*dir, "tokenizer.json")
	}
	v, err := bpe.ReadFile(*tokPath)
	if err != nil {
		return err
	}
	s, err := train.LoadState(filepath.Join(*dir, "checkpoint.bin"))
	if err != nil {
		return err
	}
	types := map[string]quant.Type{"F32": quant.F32, "F16": quant.F16, "Q8_0": quant.Q8_0}
	t, ok := types[strings.ToUpper(*typ)]
	if !ok {
		return fmt.Errorf("unknown -type %q", *typ)
	}
	w, err := train.Export(s.Cfg, s.Params, v, train.ExportOptions{Name: *name, Type: t,
		Description: fmt.Sprintf("Chorus's small model, trained by engine/train for %d steps", s.Step),
		License:     "public domain text (KJV, Jargon File, Devil's Dictionary), WordNet 3.0 licence, fortune-mod data"})
	if err != nil {
		return err
	}
	if err := w.WriteFile(*out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (step %d, %s)\n", *out, s.Step, t)
	return nil
}

// cmdEval reports the held-out perplexity of an exported model beside the unigram baseline
// counted on the training split, and can write the baseline and a held-out sample for tests.
func cmdEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ExitOnError)
	modelPath := fs.String("model", "model.gguf", "GGUF model")
	corpus := fs.String("corpus", "corpus", "corpus directory")
	dir := fs.String("dir", "run", "run directory (token caches, tokenizer.json)")
	unigramOut := fs.String("unigram", "", "write the training split's unigram counts here (JSON)")
	sampleOut := fs.String("sample", "", "write the first -sample-docs held-out documents here (JSONL)")
	sampleDocs := fs.Int("sample-docs", 40, "documents in the held-out sample")
	fs.Parse(args)
	v, err := bpe.ReadFile(filepath.Join(*dir, "tokenizer.json"))
	if err != nil {
		return err
	}
	trainIDs, err := cachedTokens(v, filepath.Join(*corpus, "train.jsonl"), filepath.Join(*dir, "train.tokens"))
	if err != nil {
		return err
	}
	heldIDs, err := cachedTokens(v, filepath.Join(*corpus, "heldout.jsonl"), filepath.Join(*dir, "heldout.tokens"))
	if err != nil {
		return err
	}
	u := train.NewUnigram(trainIDs, len(v.Tokens))
	f, err := gguf.Open(*modelPath)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := llama.New(f, llama.Options{})
	if err != nil {
		return err
	}
	start := time.Now()
	ms, us, err := train.Evaluate(m, u, heldIDs, m.Config().ContextLength)
	if err != nil {
		return err
	}
	fmt.Printf("held-out: %d tokens predicted in %v\nmodel    nll %.4f nats/token, perplexity %.2f\nunigram  nll %.4f nats/token, perplexity %.2f\n",
		ms.Tokens, time.Since(start).Round(time.Millisecond), ms.NLL/float64(ms.Tokens), ms.Perplexity(),
		us.NLL/float64(us.Tokens), us.Perplexity())
	if *unigramOut != "" {
		data, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*unigramOut, data, 0o644); err != nil {
			return err
		}
	}
	if *sampleOut != "" {
		docs, err := readDocs(filepath.Join(*corpus, "heldout.jsonl"))
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, d := range docs[:min(*sampleDocs, len(docs))] {
			line, err := json.Marshal(d)
			if err != nil {
				return err
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		if err := os.WriteFile(*sampleOut, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cmdSample generates from a model through the engine, as the text service will.
func cmdSample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ExitOnError)
	modelPath := fs.String("model", "model.gguf", "GGUF model")
	prompt := fs.String("prompt", "Title: The sea\n\n", "prompt (\\n is a newline)")
	seed := fs.Uint64("seed", 1, "sampling seed")
	n := fs.Int("n", 120, "tokens to generate")
	temp := fs.Float64("temp", 0.8, "temperature (0: greedy)")
	topK := fs.Int("top-k", 40, "top-k")
	topP := fs.Float64("top-p", 0.95, "top-p")
	rep := fs.Float64("repeat", 1.1, "repetition penalty")
	fs.Parse(args)
	m, err := engine.Load(*modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	p := strings.ReplaceAll(*prompt, `\n`, "\n")
	res, err := m.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: *n, Temperature: float32(*temp),
		TopK: *topK, TopP: float32(*topP), RepeatPenalty: float32(*rep), Seed: *seed}, func(string) error { return nil })
	if err != nil {
		return err
	}
	fmt.Print(p + res.Text + "\n")
	return nil
}
