package engine

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chorus-ai/chorus/engine/structured"
)

// record is a five-field schema of the kind the synthetic-data pipeline asks for.
const record = `{"type":"object","properties":{
  "name":{"type":"string","minLength":1,"maxLength":24},
  "age":{"type":"integer","minimum":0,"maximum":120},
  "city":{"type":"string","maxLength":20},
  "plan":{"enum":["free","pro","team"]},
  "active":{"type":"boolean"}},
  "required":["name","age","city","plan","active"]}`

// loadShipped loads chorus-mini, the small completion model the repository ships.
func loadShipped(tb testing.TB, opts ...Option) *Model {
	tb.Helper()
	m, err := Load(filepath.Join("..", "models", "chorus-mini.gguf"), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func schemaValidator(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil || c.AddResource("schema.json", doc) != nil {
		t.Fatalf("schema %s: %v", schema, err)
	}
	return c.MustCompile("schema.json")
}

// TestGenerateSchema: the shipped completion model, which knows nothing of JSON, writes
// records an independent validator accepts, with sampling hot enough to wander, and within a
// token budget far too small for it to ramble.
func TestGenerateSchema(t *testing.T) {
	m := loadShipped(t)
	s, err := structured.Compile([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	v := schemaValidator(t, record)
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"greedy", Request{Prompt: "A customer record:\n", Schema: s}},
		{"hot", Request{Prompt: "Title: People\n\n", Temperature: 1.3, Seed: 5, MaxTokens: 200, Schema: s}},
		{"tight budget", Request{Prompt: "Name: ", Temperature: 1, Seed: 9, MaxTokens: 64, Schema: s}},
		{"stop strings ignored", Request{Prompt: "x", Temperature: 1, Seed: 2, Stop: []string{`"`}, Schema: s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, text := collect(t, m, tc.req)
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
			if err != nil {
				t.Fatalf("not JSON (%s): %q", err, text)
			}
			if err := v.Validate(inst); err != nil {
				t.Fatalf("%s\n%v", text, err)
			}
			t.Logf("%d tokens: %s", res.OutputTokens, text)
			if tc.req.MaxTokens > 0 && res.OutputTokens > tc.req.MaxTokens {
				t.Errorf("%d tokens, max %d", res.OutputTokens, tc.req.MaxTokens)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(text), &rec); err != nil || len(rec) != 5 {
				t.Errorf("record %s: %v", text, err)
			}
		})
	}
}

// TestGenerateSchemaTooSmall: a budget below the shortest valid value cannot be met.
func TestGenerateSchemaTooSmall(t *testing.T) {
	m := loadShipped(t)
	s, err := structured.Compile([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Generate(context.Background(), Request{Prompt: "x", MaxTokens: 5, Schema: s}, func(string) error { return nil })
	if !errors.Is(err, ErrNoContinuation) {
		t.Fatalf("err = %v, want ErrNoContinuation", err)
	}
}

// BenchmarkSchemaMask is the cost the constraint adds per token (the trie walk and masking),
// to compare with BenchmarkDecodeStep, the model's own cost per token.
func BenchmarkSchemaMask(b *testing.B) {
	m := loadShipped(b)
	s, err := structured.Compile([]byte(record))
	if err != nil {
		b.Fatal(err)
	}
	for _, at := range []struct{ name, prefix string }{
		{"start", ``},
		{"in-string", `{"name":"Ab`},
		{"after-value", `{"name":"Ab","age":12`},
	} {
		b.Run(at.name, func(b *testing.B) {
			c := m.newConstraint(s, m.Info().Vocab)
			if !c.match.Feed(at.prefix) {
				b.Fatal("prefix refused")
			}
			logits := make([]float32, m.Info().Vocab)
			for b.Loop() {
				if _, _, err := c.mask(logits, 200); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeStep is one token of the shipped model: the baseline for BenchmarkSchemaMask.
func BenchmarkDecodeStep(b *testing.B) {
	m := loadShipped(b)
	sess, err := m.acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer m.release(sess, 1, &err)
	ids := m.Encode("The beginning")
	if _, err := m.prefill(context.Background(), sess, ids); err != nil {
		b.Fatal(err)
	}
	tok := []int32{ids[len(ids)-1]}
	for b.Loop() {
		if sess.s.Len() >= sess.s.Cap() {
			sess.s.Truncate(len(ids))
		}
		if _, err := sess.s.Decode(tok); err != nil {
			b.Fatal(err)
		}
	}
	sess.s.Truncate(0)
	sess.tokens = sess.tokens[:0]
}
