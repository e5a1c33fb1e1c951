package structured

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// person is the 5-field record, with every kind of bound the package enforces.
const person = `{
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 2, "maxLength": 20},
    "age": {"type": "integer", "minimum": 18, "maximum": 99},
    "email": {"type": "string", "pattern": "^[a-z]{2,8}@example\\.(com|org)$"},
    "plan": {"enum": ["free", "pro", "team"]},
    "score": {"type": "number", "minimum": -1.5, "exclusiveMaximum": 10},
    "active": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "minItems": 1, "maxItems": 3},
    "note": {"type": ["string", "null"], "maxLength": 10}
  },
  "required": ["name", "age", "email", "plan", "tags"]
}`

func validator(t testing.TB, schema string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil || c.AddResource("schema.json", doc) != nil {
		t.Fatalf("schema %s: %v", schema, err)
	}
	return c.MustCompile("schema.json")
}

func mustCompile(t testing.TB, schema string) *Schema {
	t.Helper()
	s, err := Compile([]byte(schema))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

// TestMatcherAcceptsAndRejects feeds whole texts byte by byte.
func TestMatcherAcceptsAndRejects(t *testing.T) {
	s := mustCompile(t, person)
	for _, tc := range []struct {
		text     string
		fed      bool // every byte accepted
		complete bool
	}{
		{text: `{"name":"Al","age":18,"email":"ab@example.com","plan":"pro","tags":["x"]}`, fed: true, complete: true},
		{text: `{"name":"Al","age":99,"email":"ab@example.org","plan":"team","score":9.99,"active":false,"tags":["x","yz"],"note":null}`, fed: true, complete: true},
		{text: `{"name":"Al","age":18,"email":"ab@example.com","plan":"pro","tags":["x"],"note":"héllo"}`, fed: true, complete: true},
		{text: `{"name":"Al","age":18`, fed: true},
		{text: `{"name":"A"}`},                      // minLength 2
		{text: `{"name":"Al","age":17,`},            // minimum
		{text: `{"name":"Al","age":100`},            // maximum: three digits cannot reach 99
		{text: `{"name":"Al","age":018`},            // leading zero
		{text: `{"age":18`},                         // name is required and comes first
		{text: `{"name":"Al","email"`},              // age is required before email
		{text: `{"name":"Al","age":20,"email":"A@`}, // pattern: lower case only
		{text: `{"name":"Al","age":20,"email":"ab@example.com","plan":"gold"`},
		{text: `{"name":"Al","age":20,"email":"ab@example.com","plan":"pro","score":10,`}, // exclusive maximum
		{text: `{"name":"Al","age":20,"email":"ab@example.com","plan":"pro","tags":[]`},   // minItems
		{text: `{"name":"Al","age":20,"email":"ab@example.com","plan":"pro","tags":["a","b","c",`},
		{text: `{ "name"`},                                                                   // compact: no white space
		{text: `{"name":"Al","age":18,"email":"ab@example.com","plan":"pro","tags":["x"]}x`}, // text after the value
	} {
		m := s.NewMatcher()
		fed := m.Feed(tc.text)
		if fed != tc.fed {
			t.Errorf("Feed(%s) = %v, want %v", tc.text, fed, tc.fed)
			continue
		}
		if fed && m.Complete() != tc.complete {
			t.Errorf("Complete after %s = %v, want %v", tc.text, m.Complete(), tc.complete)
		}
	}
}

// walk writes a value by picking allowed bytes at random, steering towards completion once the
// byte budget runs low, as the engine does with tokens.
func walk(t *testing.T, s *Schema, rng *rand.Rand, budget int) string {
	t.Helper()
	m := s.NewMatcher()
	var out []byte
	for {
		var ok []byte
		for b := range 256 {
			c := m.Clone()
			if c.step(byte(b)) && c.Remaining() <= budget-len(out)-1 {
				ok = append(ok, byte(b))
			}
		}
		if m.Complete() && (len(ok) == 0 || rng.IntN(8) == 0) {
			return string(out)
		}
		if len(ok) == 0 {
			t.Fatalf("stuck after %q (remaining %d, budget %d)", out, m.Remaining(), budget-len(out))
		}
		b := ok[rng.IntN(len(ok))]
		out = append(out, b)
		if !m.step(b) {
			t.Fatalf("byte %q allowed but refused after %q", b, out[:len(out)-1])
		}
	}
}

// TestRandomWalksValidate checks that any path the matcher allows, within a tight budget,
// ends in a value an independent validator accepts.
func TestRandomWalksValidate(t *testing.T) {
	schemas := []string{person,
		`{"type":"array","items":{"type":"integer","minimum":-20,"maximum":-3},"maxItems":4}`,
		`{"type":"number","minimum":0.2,"maximum":0.7}`,
		`{"anyOf":[{"type":"string","pattern":"[0-9]{3}-[A-Z]"},{"type":"integer","exclusiveMinimum":5},{"const":{"a":[1,true]}}]}`,
		`{"type":"object","properties":{"inner":{"type":"object","properties":{"x":{"type":"null"}},"required":["x"]}}}`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, schema := range schemas {
		s := mustCompile(t, schema)
		v := validator(t, schema)
		for i := range 40 {
			budget := 400
			if i%2 == 1 {
				budget = s.root.min + rng.IntN(40) // tight: forces the shortest completion
			}
			text := walk(t, s, rng, budget)
			if len(text) > budget {
				t.Fatalf("%s: %d bytes over a budget of %d", text, len(text), budget)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(text)))
			if err != nil {
				t.Fatalf("not JSON: %s: %v", text, err)
			}
			if err := v.Validate(inst); err != nil {
				t.Fatalf("invalid for %s:\n%s\n%v", schema, text, err)
			}
			if !json.Valid([]byte(text)) {
				t.Fatalf("encoding/json refuses %s", text)
			}
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		schema string
		want   error
	}{
		{`{"type":"object"`, ErrInvalid},
		{`[]`, ErrInvalid},
		{`{"type":"strin"}`, ErrInvalid},
		{`{"type":"string","minLength":5,"maxLength":2}`, ErrInvalid},
		{`{"type":"integer","minimum":5,"maximum":4}`, ErrInvalid},
		{`{"type":"string","pattern":"("}`, ErrInvalid},
		{`{"type":"object","required":"a"}`, ErrInvalid},
		{`{"$ref":"#/$defs/a"}`, ErrUnsupported},
		{`{"type":"string","format":"email","contentEncoding":"base64"}`, ErrUnsupported},
		{`{"type":"object","properties":{"a":{"type":"string"}},"required":["b"]}`, ErrUnsupported},
		{`{"anyOf":[{"type":"string"},{"type":"string","maxLength":3}]}`, ErrUnsupported},
		{`{}`, ErrUnsupported},
		{`{"type":"array"}`, ErrUnsupported},
		{`{"type":"string","pattern":"\\bx"}`, ErrUnsupported},
	} {
		if _, err := Compile([]byte(tc.schema)); !errors.Is(err, tc.want) {
			t.Errorf("Compile(%s) = %v, want %v", tc.schema, err, tc.want)
		}
	}
}

func TestPropertyOrderFollowsTheSchemaText(t *testing.T) {
	s := mustCompile(t, `{"type":"object","properties":{"zeta":{"type":"null"},"alpha":{"type":"null"}},"required":["zeta","alpha"]}`)
	if m := s.NewMatcher(); !m.Feed(`{"zeta":null,"alpha":null}`) || !m.Complete() {
		t.Error("the schema's order zeta, alpha was refused")
	}
	if m := s.NewMatcher(); m.Feed(`{"alpha"`) {
		t.Error("alpha first was accepted")
	}
}

func TestMaskTokens(t *testing.T) {
	s := mustCompile(t, `{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`)
	pieces := []string{`{"`, `ok`, `":`, `true`, `tr`, `ue}`, `}`, ` `, `{"ok":false}`, `x`, ``}
	eog := int32(len(pieces) - 1)
	v := NewVocab(pieces, []int32{eog})
	allowed := make([]bool, v.Size())
	names := func(m *Matcher, budget int) []string {
		v.Mask(m, budget, allowed)
		var out []string
		for id, ok := range allowed {
			if ok {
				if int32(id) == eog {
					out = append(out, "EOG")
				} else {
					out = append(out, pieces[id])
				}
			}
		}
		return out
	}
	m := s.NewMatcher()
	if got := strings.Join(names(m, 100), " "); got != `{" {"ok":false}` {
		t.Errorf("at the start: %s", got)
	}
	m.Feed(`{"ok":`)
	if got := strings.Join(names(m, 100), " "); got != `true tr` {
		t.Errorf("after the key: %s", got)
	}
	// Two tokens left: "tr" needs "ue}" or more afterwards, which no longer fits.
	if got := strings.Join(names(m, 2), " "); got != `true` {
		t.Errorf("with a budget of 2: %s", got)
	}
	m.Feed(`true}`)
	if got := strings.Join(names(m, 100), " "); got != `EOG` {
		t.Errorf("when complete: %s", got)
	}
}

// TestMaskMatchesBruteForce: the trie walk and the plain-string shortcut allow exactly the
// tokens whose bytes, fed one by one, keep the value completable within the budget.
func TestMaskMatchesBruteForce(t *testing.T) {
	s := mustCompile(t, person)
	var pieces []string
	for b := range 256 {
		pieces = append(pieces, string([]byte{byte(b)}))
	}
	pieces = append(pieces, `{"`, `":"`, `","`, `name`, `Al`, `ice`, `"}`, `é`, "\xc3", "\xa9x", `ab\n`, `\`, `12`, `.5`,
		`-1`, `true`, `"]`, `["`, `null`, `pro"`, `@example.com"`, `hello world`, `日本`, ``)
	eog := int32(len(pieces) - 1)
	v := NewVocab(pieces, []int32{eog})
	allowed := make([]bool, v.Size())
	rng := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		text := walk(t, s, rng, 300)
		for cut := 0; cut <= len(text); cut++ {
			m := s.NewMatcher()
			m.Feed(text[:cut])
			budget := 1 + rng.IntN(120)
			v.Mask(m, budget, allowed)
			for id, p := range pieces {
				want := false
				if int32(id) == eog {
					want = m.Complete()
				} else if p != "" {
					c := m.Clone()
					want = c.Feed(p) && c.Remaining() <= budget-1
				}
				if allowed[id] != want {
					t.Fatalf("after %q, budget %d: token %q allowed %v, want %v", text[:cut], budget, p, allowed[id], want)
				}
			}
		}
	}
}

func TestNoNegativeZero(t *testing.T) {
	for _, schema := range []string{`{"type":"number","minimum":0}`, `{"type":"integer","minimum":-5}`} {
		s := mustCompile(t, schema)
		for _, text := range []string{"-0", "-0.0"} {
			if m := s.NewMatcher(); m.Feed(text) {
				t.Errorf("%s accepted %s", schema, text)
			}
		}
	}
	if m := mustCompile(t, `{"type":"number","minimum":-1}`).NewMatcher(); !m.Feed("-0.5") || !m.Complete() {
		t.Error("-0.5 refused for minimum -1")
	}
}

// BenchmarkMaskLargeVocab is the mask's cost on a vocabulary the size of Qwen2's or Llama 3's
// (150k pieces: every byte, then random pieces of 2 to 10 letters, spaces and punctuation),
// where chorus-mini's has 4096.
func BenchmarkMaskLargeVocab(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	const letters = `abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ  ,.:"{}[]0123456789-`
	var pieces []string
	for c := range 256 {
		pieces = append(pieces, string([]byte{byte(c)}))
	}
	for len(pieces) < 150000 {
		p := make([]byte, 2+rng.IntN(9))
		for i := range p {
			p[i] = letters[rng.IntN(len(letters))]
		}
		pieces = append(pieces, string(p))
	}
	v := NewVocab(pieces, []int32{0})
	s := mustCompile(b, person)
	allowed := make([]bool, v.Size())
	for _, at := range []struct{ name, prefix string }{
		{"start", ``},
		{"in-string", `{"name":"Ab`},
		{"in-number", `{"name":"Al","age":4`},
		{"in-pattern", `{"name":"Al","age":18,"email":"ab`},
	} {
		b.Run(at.name, func(b *testing.B) {
			m := s.NewMatcher()
			if !m.Feed(at.prefix) {
				b.Fatal("prefix refused")
			}
			for b.Loop() {
				v.Mask(m, 200, allowed)
			}
		})
	}
}
