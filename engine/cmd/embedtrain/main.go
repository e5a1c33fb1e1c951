// Command embedtrain trains Chorus's small embedding model (models/chorus-embed.gguf) from the
// WordNet headwords the corpus command writes (DIR/wordnet.jsonl), by contrastive training
// (engine/train's ObjectiveContrastive): an example sentence is the query, "headword: gloss"
// of its sense the document, the other documents of the batch the negatives.
//
//	embedtrain fit -corpus out/corpus -dir out/embedtrain -steps 1000
//	embedtrain export -dir out/embedtrain -context 128 -o models/chorus-embed.gguf
//	embedtrain evalset -corpus out/corpus -o out/embedtrain/retrieval.json -subset models/chorus-embed-eval.json
//
// Headwords the corpus holds out (one in ten, by a hash of the headword) are never trained
// on; evalset builds the retrieval set from them (example sentence -> its sense's document),
// leaving out any example or gloss that a training headword shares (WordNet's synonyms share
// senses). fit resumes from DIR/checkpoint.bin as the train command does.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chorus-ai/chorus/engine/bpe"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/engine/tokenizer"
	"github.com/chorus-ai/chorus/engine/train"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: embedtrain fit|export|evalset [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "fit":
		err = cmdFit(os.Args[2:])
	case "export":
		err = cmdExport(os.Args[2:])
	case "evalset":
		err = cmdEvalSet(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want fit, export or evalset)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedtrain:", err)
		os.Exit(1)
	}
}

// sense and headword are the corpus command's wordnet.jsonl records.
type sense struct {
	Gloss    string   `json:"gloss"`
	Examples []string `json:"examples"`
}

type headword struct {
	Headword string  `json:"headword"`
	Split    string  `json:"split"`
	Senses   []sense `json:"senses"`
}

// Document is how a sense is written as a retrievable document.
func document(h, gloss string) string { return h + ": " + gloss }

// pair is one training or evaluation example: a query and its document.
type pair struct{ Query, Doc string }

// pairs reads wordnet.jsonl and returns the training pairs and the held-out ones, the latter
// without any example or document that also occurs in training.
func pairs(corpus string) (trainPairs, heldPairs []pair, err error) {
	seenQ, seenGloss := map[string]bool{}, map[string]bool{}
	var held []pair
	err = eachHeadword(corpus, func(h headword) {
		for _, s := range h.Senses {
			if s.Gloss == "" {
				continue
			}
			for _, ex := range s.Examples {
				p := pair{Query: ex, Doc: document(h.Headword, s.Gloss)}
				if h.Split == "train" {
					trainPairs = append(trainPairs, p)
					seenQ[ex] = true
					seenGloss[s.Gloss] = true
				} else {
					held = append(held, p)
				}
			}
			if h.Split == "train" {
				seenGloss[s.Gloss] = true
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range held {
		_, gloss, _ := cutDoc(p.Doc)
		if !seenQ[p.Query] && !seenGloss[gloss] {
			heldPairs = append(heldPairs, p)
		}
	}
	return trainPairs, heldPairs, nil
}

// eachHeadword calls f with every record of corpus/wordnet.jsonl, in file order.
func eachHeadword(corpus string, f func(headword)) error {
	path := filepath.Join(corpus, "wordnet.jsonl")
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w (build the corpus first: make corpus)", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var h headword
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		f(h)
	}
	return sc.Err()
}

func cutDoc(d string) (string, string, bool) {
	for i := 0; i+1 < len(d); i++ {
		if d[i] == ':' && d[i+1] == ' ' {
			return d[:i], d[i+2:], true
		}
	}
	return d, "", false
}

// Context is the tokens of a query or document the model reads in training (the first ones,
// the leading <|endoftext|> included); longer texts are cut.
const Context = 32

func recipe(vocab int) (train.Config, train.Hyper) {
	// About 0.7M weights: a third of the text model's width and depth budget, quick to run on
	// a CPU for every document of a collection.
	c := train.Config{Vocab: vocab, Dim: 128, Layers: 2, Heads: 4, KVHeads: 2, FFN: 384, Context: Context,
		NormEps: 1e-5, RopeBase: 10000}
	h := train.Hyper{Seed: 1, Warmup: 50, BatchSeqs: 2 * 64, Workers: 2, LR: 1e-3, MinLR: 5e-5, WeightDecay: 0.1,
		Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Clip: 1, Objective: train.ObjectiveContrastive, Temperature: 0.05}
	return c, h
}

// VocabSize is the tokenizer's vocabulary: small, since every token costs a row of the
// embedding.
const VocabSize = 2048

func loadOrTrainVocab(path string, texts []pair) (*bpe.Vocab, error) {
	if data, err := os.ReadFile(path); err == nil {
		v := &bpe.Vocab{}
		if err := json.Unmarshal(data, v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return v, nil
	}
	c := bpe.NewCounter()
	for _, p := range texts {
		c.Add(p.Query)
		c.Add(p.Doc)
	}
	v, err := bpe.Train(c, VocabSize)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return v, os.WriteFile(path, data, 0o644)
}

// encodeSeq tokenizes text as the engine does (a leading <|endoftext|>), cut to Context
// tokens and padded with masked entries to Context+1.
func encodeSeq(tok *tokenizer.Tokenizer, text string) []int32 {
	ids := tok.EncodeLiteral(text, true)
	if len(ids) > Context {
		ids = ids[:Context]
	}
	seq := make([]int32, Context+1)
	copy(seq, ids)
	for i := len(ids); i < len(seq); i++ {
		seq[i] = train.Masked(0)
	}
	return seq
}

// pairBatcher draws pairs in a seeded per-epoch shuffle: queries fill the first half of a
// batch, their documents the second.
type pairBatcher struct {
	q, d  [][]int32
	perm  []int
	epoch int
}

func (b *pairBatcher) Next(c *train.Cursor, batch [][]int32) error {
	B := len(batch) / 2
	for i := range B {
		if c.Pos >= len(b.q) || b.perm == nil || b.epoch != c.Epoch {
			if c.Pos >= len(b.q) {
				c.Epoch++
				c.Pos = 0
			}
			b.shuffle(c.Seed, c.Epoch)
		}
		k := b.perm[c.Pos]
		c.Pos++
		copy(batch[i], b.q[k])
		copy(batch[B+i], b.d[k])
	}
	return nil
}

func (b *pairBatcher) shuffle(seed uint64, epoch int) {
	b.perm = make([]int, len(b.q))
	for i := range b.perm {
		b.perm[i] = i
	}
	r := train.NewRNG(seed ^ (uint64(epoch)+1)*0xd1b54a32d192ed03)
	for i := len(b.perm) - 1; i > 0; i-- {
		j := int(r.Uint64() % uint64(i+1))
		b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
	}
	b.epoch = epoch
}

func cmdFit(args []string) error {
	fs := flag.NewFlagSet("fit", flag.ExitOnError)
	corpus := fs.String("corpus", "out/corpus", "corpus directory (wordnet.jsonl)")
	dir := fs.String("dir", "out/embedtrain", "run directory: tokenizer, checkpoint")
	steps := fs.Int("steps", 1000, "total optimizer steps (sets the cosine schedule)")
	every := fs.Int("every", 100, "checkpoint and validate every this many steps")
	temp := fs.Float64("temperature", 0.05, "InfoNCE temperature (a new run's)")
	lr := fs.Float64("lr", 1e-3, "peak learning rate (a new run's)")
	batch := fs.Int("batch", 64, "pairs per step (a new run's)")
	fs.Parse(args)
	trainPairs, heldPairs, err := pairs(*corpus)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	v, err := loadOrTrainVocab(filepath.Join(*dir, "tokenizer.json"), trainPairs)
	if err != nil {
		return err
	}
	tok, err := v.Tokenizer()
	if err != nil {
		return err
	}
	b := &pairBatcher{epoch: -1}
	for _, p := range trainPairs {
		b.q = append(b.q, encodeSeq(tok, p.Query))
		b.d = append(b.d, encodeSeq(tok, p.Doc))
	}
	fmt.Printf("pairs: %d train, %d held out; tokenizer %d tokens (%v)\n", len(trainPairs), len(heldPairs), len(v.Tokens),
		time.Since(start).Round(time.Millisecond))
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "steps" })
	ckpt := filepath.Join(*dir, "checkpoint.bin")
	s, err := train.Resume(ckpt, *steps, explicit, os.Stdout, func() (train.Config, train.Hyper, error) {
		c, h := recipe(len(v.Tokens))
		h.Temperature, h.LR, h.BatchSeqs = *temp, *lr, 2**batch
		h.MinLR = h.LR / 20
		return c, h, nil
	})
	if err != nil {
		return err
	}
	// The validation loss: the first 64 held-out pairs as one batch.
	const valPairs = 64
	var val [][]int32
	for _, p := range heldPairs[:min(valPairs, len(heldPairs))] {
		val = append(val, encodeSeq(tok, p.Query))
	}
	for _, p := range heldPairs[:min(valPairs, len(heldPairs))] {
		val = append(val, encodeSeq(tok, p.Doc))
	}
	tr, err := train.NewTrainer(s)
	if err != nil {
		return err
	}
	fmt.Printf("model: %+v, %d parameters\nrecipe: %+v\n", s.Cfg, s.Cfg.NumParams(), s.Hyper)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return tr.Fit(ctx, b, train.FitOptions{Checkpoint: ckpt, Every: *every, Log: os.Stdout,
		EvalUnit: " (InfoNCE over 64 held-out pairs; ppl is exp of it)",
		Eval:     func() float64 { return train.ContrastiveLoss(s.Cfg, s.Params, val, s.Hyper.Temperature) }})
}

func cmdExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ExitOnError)
	dir := fs.String("dir", "out/embedtrain", "run directory (checkpoint.bin, tokenizer.json)")
	out := fs.String("o", "models/chorus-embed.gguf", "output GGUF file")
	ctxLen := fs.Int("context", 0, "the context length the file declares (0: the training context); longer inputs than training saw rely on RoPE extrapolating")
	fs.Parse(args)
	v, err := loadOrTrainVocab(filepath.Join(*dir, "tokenizer.json"), nil)
	if err != nil {
		return err
	}
	s, err := train.LoadState(filepath.Join(*dir, "checkpoint.bin"))
	if err != nil {
		return err
	}
	c := s.Cfg
	if *ctxLen > 0 {
		c.Context = *ctxLen
	}
	w, err := train.Export(c, s.Params, v, train.ExportOptions{Name: "chorus-embed", Type: quant.Q8_0,
		Pooling:     train.PoolingMean,
		Description: fmt.Sprintf("Chorus's small embedding model, trained contrastively on WordNet by engine/train for %d steps on texts of up to %d tokens", s.Step, s.Cfg.Context),
		License:     "WordNet 3.0 licence (Princeton University)"})
	if err != nil {
		return err
	}
	if err := w.WriteFile(*out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (step %d, Q8_0, mean pooling, context %d)\n", *out, s.Step, c.Context)
	return nil
}

// RetrievalSet is a retrieval evaluation: queries, each with the ids of the documents that
// answer it, over a pool of documents. evals/retrieval reads it.
type RetrievalSet struct {
	Description string      `json:"description"`
	Docs        []EvalDoc   `json:"docs"`
	Queries     []EvalQuery `json:"queries"`
}

// EvalDoc is one document of the pool.
type EvalDoc struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// EvalQuery is one query and the documents that answer it.
type EvalQuery struct {
	Text     string `json:"text"`
	Relevant []int  `json:"relevant"`
}

// cmdEvalSet writes the held-out retrieval set: every held-out example sentence (a query)
// against every held-out sense ("headword: gloss", the documents); a document answers a
// query when its gloss is the query's sense's (synonyms held out together share glosses).
// -subset writes a fixed, smaller set for make test: -subset-queries test queries (those at
// odd positions) drawn with a seeded shuffle, their relevant documents, every other sense of their headwords (the hard
// negatives), and randomly drawn documents up to -subset-docs.
func cmdEvalSet(args []string) error {
	fs := flag.NewFlagSet("evalset", flag.ExitOnError)
	corpus := fs.String("corpus", "out/corpus", "corpus directory (wordnet.jsonl)")
	out := fs.String("o", "out/embedtrain/retrieval.json", "the full retrieval set")
	subset := fs.String("subset", "", "also write the fixed subset here")
	nq := fs.Int("subset-queries", 300, "queries in the subset")
	nd := fs.Int("subset-docs", 2000, "documents in the subset")
	fs.Parse(args)
	_, held, err := pairs(*corpus)
	if err != nil {
		return err
	}
	// The pool: every held-out sense whose gloss no training headword has.
	trainGloss := map[string]bool{}
	var heldSenses [][2]string // headword, gloss
	if err := eachHeadword(*corpus, func(h headword) {
		for _, s := range h.Senses {
			if s.Gloss == "" {
				continue
			}
			if h.Split == "train" {
				trainGloss[s.Gloss] = true
			} else {
				heldSenses = append(heldSenses, [2]string{h.Headword, s.Gloss})
			}
		}
	}); err != nil {
		return err
	}
	full := RetrievalSet{Description: "WordNet held-out retrieval: example sentence -> \"headword: gloss\" of its sense; no headword, example or gloss seen in training"}
	byGloss := map[string][]int{}
	byHead := map[string][]int{}
	seenDoc := map[string]bool{}
	for _, hs := range heldSenses {
		if trainGloss[hs[1]] {
			continue
		}
		d := document(hs[0], hs[1])
		if seenDoc[d] {
			continue
		}
		seenDoc[d] = true
		id := len(full.Docs)
		full.Docs = append(full.Docs, EvalDoc{ID: id, Text: d})
		byGloss[hs[1]] = append(byGloss[hs[1]], id)
		byHead[hs[0]] = append(byHead[hs[0]], id)
	}
	seenQ := map[string]bool{}
	var qHead []string
	for _, p := range held {
		h, gloss, _ := cutDoc(p.Doc)
		if seenQ[p.Query] || len(byGloss[gloss]) == 0 {
			continue
		}
		seenQ[p.Query] = true
		full.Queries = append(full.Queries, EvalQuery{Text: p.Query, Relevant: byGloss[gloss]})
		qHead = append(qHead, h)
	}
	if err := writeJSON(*out, full); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d queries over %d documents\n", *out, len(full.Queries), len(full.Docs))
	if *subset == "" {
		return nil
	}
	// Only test queries (odd positions; evals/retrieval's Split keeps the even ones to tune
	// the hybrid's weight on).
	r := train.NewRNG(7)
	var order []int
	for i := 1; i < len(full.Queries); i += 2 {
		order = append(order, i)
	}
	for i := len(order) - 1; i > 0; i-- {
		j := int(r.Uint64() % uint64(i+1))
		order[i], order[j] = order[j], order[i]
	}
	keep := map[int]bool{}
	var picked []int
	for _, qi := range order[:min(*nq, len(order))] {
		picked = append(picked, qi)
		for _, d := range full.Queries[qi].Relevant {
			keep[d] = true
		}
		for _, d := range byHead[qHead[qi]] {
			keep[d] = true
		}
	}
	for len(keep) < *nd && len(keep) < len(full.Docs) {
		keep[int(r.Uint64()%uint64(len(full.Docs)))] = true
	}
	sub := RetrievalSet{Description: fmt.Sprintf("the fixed subset of %s's test queries that make test checks (embedtrain evalset -subset, seed 7)", filepath.Base(*out))}
	remap := map[int]int{}
	for _, d := range full.Docs { // in the full set's order
		if keep[d.ID] {
			remap[d.ID] = len(sub.Docs)
			sub.Docs = append(sub.Docs, EvalDoc{ID: len(sub.Docs), Text: d.Text})
		}
	}
	for _, qi := range picked {
		q := EvalQuery{Text: full.Queries[qi].Text}
		for _, d := range full.Queries[qi].Relevant {
			q.Relevant = append(q.Relevant, remap[d])
		}
		sub.Queries = append(sub.Queries, q)
	}
	if err := writeJSON(*subset, sub); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d queries over %d documents\n", *subset, len(sub.Queries), len(sub.Docs))
	return nil
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
