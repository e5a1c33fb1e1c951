// Package structured compiles a JSON Schema into an automaton that says, byte by byte and token
// by token, which text may come next so that a language model's output is always a JSON value
// the schema accepts. The engine masks every other token before sampling.
//
// The supported subset: "type" (one name or a list of names whose values start differently),
// objects with "properties" and "required" (properties are written in the schema's order, with
// no others), arrays with "items", "minItems" and "maxItems", strings with "enum", "const",
// "minLength", "maxLength" and "pattern" (Go regexp syntax; the whole string must match, and is written in ASCII without escapes),
// integers and numbers with "minimum", "maximum", "exclusiveMinimum" and "exclusiveMaximum",
// booleans, null, "enum" and "const" of any type, and "anyOf" over alternatives that start
// differently. Annotations ("title", "description", "default", "examples", "format", "$schema",
// "$id", "additionalProperties") are accepted and do not constrain. Anything else, "$ref"
// included, is refused with ErrUnsupported, so a schema is never silently weakened.
//
// The text produced is compact JSON (no white space outside strings). Strings without a
// maxLength are capped at DefaultMaxLength characters and arrays without maxItems at
// DefaultMaxItems items, so a weak model cannot ramble forever; integer and number literals
// are capped at 15 integer digits and 6 fraction digits, without exponents.
package structured

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// Caps applied where the schema sets no bound.
const (
	DefaultMaxLength = 128 // characters of a string without maxLength
	DefaultMaxItems  = 32  // items of an array without maxItems
	maxIntDigits     = 15
	maxFracDigits    = 6
	maxProperties    = 64  // properties of one object (the key matcher's bit set)
	maxLiterals      = 64  // values of one enum
	maxPatternInsts  = 128 // instructions of a compiled pattern (the NFA's bit set)
	maxDepth         = 32  // nesting of the schema
)

// Errors returned by Compile, wrapped with the schema path at fault.
var (
	// ErrInvalid reports text that is not a JSON Schema (not JSON, wrong keyword types,
	// contradictory bounds).
	ErrInvalid = errors.New("structured: invalid schema")
	// ErrUnsupported reports a valid schema that uses what this package cannot enforce.
	ErrUnsupported = errors.New("structured: unsupported schema")
)

type kind uint8

const (
	kObject kind = iota
	kArray
	kString
	kNumber
	kLiteral // enum, const, boolean, null: a choice among fixed texts
	kUnion   // anyOf or a list of types, dispatched on the first byte
)

// node is one compiled schema.
type node struct {
	kind kind
	// object
	props    []prop
	reqAfter []int // reqAfter[i]: bytes the required properties from i on need at least
	// array
	items              *node
	minItems, maxItems int
	// string
	minLen, maxLen int
	pattern        *syntax.Prog
	// number
	integer      bool
	lo, hi       float64 // inclusive bounds after folding exclusive integer bounds
	exLo, exHi   bool    // exclusive number bounds
	hasLo, hasHi bool
	intDigits    int // integer digits allowed
	// literal
	lits []string
	// union
	alts []*node
	// minLen of the shortest text this node accepts
	min int
}

type prop struct {
	key      string // the JSON-encoded name with its quotes
	node     *node
	required bool
}

// Schema is a compiled JSON Schema, safe for concurrent use.
type Schema struct {
	root *node
}

// Compile parses a JSON Schema document.
func Compile(doc []byte) (*Schema, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: text after the schema", ErrInvalid)
	}
	root, err := compile(v, "#", 0)
	if err != nil {
		return nil, err
	}
	return &Schema{root: root}, nil
}

var annotations = map[string]bool{"title": true, "description": true, "default": true, "examples": true,
	"format": true, "$schema": true, "$id": true, "$comment": true, "additionalProperties": true,
	"readOnly": true, "writeOnly": true, "deprecated": true}

// keywords lists what each type may use besides the annotations and type, enum, const, anyOf.
var keywords = map[string][]string{
	"object":  {"properties", "required"},
	"array":   {"items", "minItems", "maxItems"},
	"string":  {"minLength", "maxLength", "pattern"},
	"integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
	"number":  {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
	"boolean": nil,
	"null":    nil,
}

func compile(v any, path string, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: %s: nested more than %d deep", ErrUnsupported, path, maxDepth)
	}
	s, ok := v.(map[string]any)
	if !ok {
		if b, isBool := v.(bool); isBool && b {
			return nil, fmt.Errorf("%w: %s: the schema true allows any value; give a type", ErrUnsupported, path)
		}
		return nil, fmt.Errorf("%w: %s: a schema must be an object", ErrInvalid, path)
	}
	if c, ok := s["const"]; ok {
		return literals(path, []any{c})
	}
	if e, ok := s["enum"]; ok {
		list, ok := e.([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("%w: %s/enum: must be a non-empty array", ErrInvalid, path)
		}
		return literals(path+"/enum", list)
	}
	if a, ok := s["anyOf"]; ok {
		list, ok := a.([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("%w: %s/anyOf: must be a non-empty array", ErrInvalid, path)
		}
		var alts []*node
		for i, sub := range list {
			n, err := compile(sub, fmt.Sprintf("%s/anyOf/%d", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			alts = append(alts, n)
		}
		for k := range s {
			if k != "anyOf" && k != orderKey && !annotations[k] {
				return nil, fmt.Errorf("%w: %s: %q beside anyOf", ErrUnsupported, path, k)
			}
		}
		return union(path+"/anyOf", alts)
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			name, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s/type: names must be strings", ErrInvalid, path)
			}
			types = append(types, name)
		}
	case nil:
		switch {
		case s["properties"] != nil:
			types = []string{"object"}
		case s["items"] != nil:
			types = []string{"array"}
		default:
			return nil, fmt.Errorf("%w: %s: no type, enum, const or anyOf", ErrUnsupported, path)
		}
	default:
		return nil, fmt.Errorf("%w: %s/type: must be a string or an array of strings", ErrInvalid, path)
	}
	allowed := map[string]bool{"type": true}
	for _, t := range types {
		kw, ok := keywords[t]
		if !ok {
			return nil, fmt.Errorf("%w: %s/type: %q is not a JSON Schema type", ErrInvalid, path, t)
		}
		for _, k := range kw {
			allowed[k] = true
		}
	}
	for k := range s {
		if k != orderKey && !allowed[k] && !annotations[k] {
			return nil, fmt.Errorf("%w: %s: keyword %q", ErrUnsupported, path, k)
		}
	}
	var alts []*node
	for _, t := range types {
		n, err := compileType(t, s, path, depth)
		if err != nil {
			return nil, err
		}
		alts = append(alts, n)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return union(path+"/type", alts)
}

func compileType(t string, s map[string]any, path string, depth int) (*node, error) {
	switch t {
	case "boolean":
		return &node{kind: kLiteral, lits: []string{"true", "false"}, min: 4}, nil
	case "null":
		return &node{kind: kLiteral, lits: []string{"null"}, min: 4}, nil
	case "string":
		n := &node{kind: kString, maxLen: DefaultMaxLength}
		var err error
		if n.minLen, err = count(s, "minLength", path, 0); err != nil {
			return nil, err
		}
		if n.maxLen, err = count(s, "maxLength", path, max(DefaultMaxLength, n.minLen)); err != nil {
			return nil, err
		}
		if n.minLen > n.maxLen {
			return nil, fmt.Errorf("%w: %s: minLength %d > maxLength %d", ErrInvalid, path, n.minLen, n.maxLen)
		}
		if p, ok := s["pattern"]; ok {
			ps, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s/pattern: must be a string", ErrInvalid, path)
			}
			if n.pattern, err = compilePattern(ps, path+"/pattern"); err != nil {
				return nil, err
			}
		}
		n.min = 2 + n.minLen
		if n.pattern != nil {
			n.min = 2 + max(n.minLen, patternDistance(n.pattern, startThreads(n.pattern)))
		}
		return n, nil
	case "integer", "number":
		return compileNumber(t == "integer", s, path)
	case "array":
		n := &node{kind: kArray}
		items, ok := s["items"]
		if !ok {
			return nil, fmt.Errorf("%w: %s: an array needs items", ErrUnsupported, path)
		}
		var err error
		if n.items, err = compile(items, path+"/items", depth+1); err != nil {
			return nil, err
		}
		if n.minItems, err = count(s, "minItems", path, 0); err != nil {
			return nil, err
		}
		if n.maxItems, err = count(s, "maxItems", path, max(DefaultMaxItems, n.minItems)); err != nil {
			return nil, err
		}
		if n.minItems > n.maxItems {
			return nil, fmt.Errorf("%w: %s: minItems %d > maxItems %d", ErrInvalid, path, n.minItems, n.maxItems)
		}
		n.min = 2 + n.minItems*(n.items.min+1)
		if n.minItems > 0 {
			n.min--
		}
		return n, nil
	case "object":
		return compileObject(s, path, depth)
	}
	return nil, fmt.Errorf("%w: %s: type %q", ErrUnsupported, path, t)
}

func compileObject(s map[string]any, path string, depth int) (*node, error) {
	n := &node{kind: kObject}
	required := map[string]bool{}
	if r, ok := s["required"]; ok {
		list, ok := r.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s/required: must be an array of names", ErrInvalid, path)
		}
		for _, x := range list {
			name, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s/required: must be an array of names", ErrInvalid, path)
			}
			required[name] = true
		}
	}
	props, _ := s["properties"].(map[string]any)
	if p, ok := s["properties"]; ok && props == nil {
		return nil, fmt.Errorf("%w: %s/properties: must be an object, got %T", ErrInvalid, path, p)
	}
	// Properties come out in the order the schema text lists them, which is the order a
	// person wrote and expects; a Go map has none, so read the keys again in order.
	names, err := keyOrder(s, props)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/properties: %v", ErrInvalid, path, err)
	}
	if len(names) > maxProperties {
		return nil, fmt.Errorf("%w: %s: more than %d properties", ErrUnsupported, path, maxProperties)
	}
	for name := range required {
		if _, ok := props[name]; !ok {
			return nil, fmt.Errorf("%w: %s/required: %q has no schema in properties", ErrUnsupported, path, name)
		}
	}
	for _, name := range names {
		child, err := compile(props[name], path+"/properties/"+name, depth+1)
		if err != nil {
			return nil, err
		}
		key, _ := json.Marshal(name)
		n.props = append(n.props, prop{key: string(key), node: child, required: required[name]})
	}
	n.reqAfter = make([]int, len(n.props)+1)
	for i := len(n.props) - 1; i >= 0; i-- {
		n.reqAfter[i] = n.reqAfter[i+1]
		if p := n.props[i]; p.required {
			n.reqAfter[i] += len(p.key) + 2 + p.node.min // ,"key":value (the first has { not ,)
		}
	}
	n.min = 1 + n.reqAfter[0]
	if n.reqAfter[0] == 0 {
		n.min = 2
	}
	return n, nil
}

// keyOrder returns the names of props in the order the schema text lists them (decode keeps it).
func keyOrder(s map[string]any, props map[string]any) ([]string, error) {
	if p, ok := s["properties"].(map[string]any); ok {
		if o, ok := p[orderKey].([]string); ok {
			return o, nil
		}
	}
	names := make([]string, 0, len(props))
	for k := range props {
		if k != orderKey {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names, nil
}

func compileNumber(integer bool, s map[string]any, path string) (*node, error) {
	n := &node{kind: kNumber, integer: integer, lo: math.Inf(-1), hi: math.Inf(1)}
	get := func(k string) (float64, bool, error) {
		x, ok := s[k]
		if !ok {
			return 0, false, nil
		}
		num, ok := x.(json.Number)
		if !ok {
			return 0, false, fmt.Errorf("%w: %s/%s: must be a number", ErrInvalid, path, k)
		}
		f, err := num.Float64()
		if err != nil || math.IsInf(f, 0) {
			return 0, false, fmt.Errorf("%w: %s/%s: %v out of range", ErrInvalid, path, k, num)
		}
		return f, true, nil
	}
	for _, b := range []struct {
		key       string
		exclusive bool
		low       bool
	}{{"minimum", false, true}, {"exclusiveMinimum", true, true}, {"maximum", false, false}, {"exclusiveMaximum", true, false}} {
		f, ok, err := get(b.key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if integer {
			if b.low {
				f = math.Ceil(f)
				if b.exclusive && f == mustFloat(s[b.key]) {
					f++
				}
			} else {
				f = math.Floor(f)
				if b.exclusive && f == mustFloat(s[b.key]) {
					f--
				}
			}
		}
		if b.low && (!n.hasLo || f > n.lo || f == n.lo && b.exclusive) {
			n.lo, n.hasLo, n.exLo = f, true, b.exclusive && !integer
		}
		if !b.low && (!n.hasHi || f < n.hi || f == n.hi && b.exclusive) {
			n.hi, n.hasHi, n.exHi = f, true, b.exclusive && !integer
		}
	}
	if n.lo > n.hi || n.lo == n.hi && (n.exLo || n.exHi) {
		return nil, fmt.Errorf("%w: %s: no number lies between the minimum and the maximum", ErrInvalid, path)
	}
	lim := math.Pow(10, maxIntDigits) - 1
	if n.lo > lim || n.hi < -lim {
		return nil, fmt.Errorf("%w: %s: bounds beyond %d digits", ErrUnsupported, path, maxIntDigits)
	}
	n.intDigits = maxIntDigits
	if n.hasLo && n.hasHi {
		n.intDigits = max(len(strconv.FormatFloat(math.Floor(math.Abs(n.lo)), 'f', 0, 64)),
			len(strconv.FormatFloat(math.Floor(math.Abs(n.hi)), 'f', 0, 64)))
	}
	n.min = len(shortestNumber(n))
	return n, nil
}

func mustFloat(v any) float64 {
	f, _ := v.(json.Number).Float64()
	return f
}

// shortestNumber is a short text the number node accepts: the value nearest zero, as an
// integer where one fits.
func shortestNumber(n *node) string {
	v := 0.0
	switch {
	case n.lo > 0 || n.lo == 0 && n.exLo:
		v = math.Ceil(n.lo)
		if v == n.lo && n.exLo {
			v++
		}
	case n.hi < 0 || n.hi == 0 && n.exHi:
		v = math.Floor(n.hi)
		if v == n.hi && n.exHi {
			v--
		}
	}
	if v > n.hi || v < n.lo { // a range narrower than one (0.2 to 0.7): needs a fraction
		return strconv.FormatFloat((n.lo+n.hi)/2, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func literals(path string, vals []any) (*node, error) {
	if len(vals) > maxLiterals {
		return nil, fmt.Errorf("%w: %s: more than %d values", ErrUnsupported, path, maxLiterals)
	}
	n := &node{kind: kLiteral, min: math.MaxInt}
	for _, v := range vals {
		var buf strings.Builder
		encode(&buf, v)
		b := buf.String()
		if !slices.Contains(n.lits, string(b)) {
			n.lits = append(n.lits, string(b))
			n.min = min(n.min, len(b))
		}
	}
	return n, nil
}

// firstBytes is the set of bytes a node's text can start with.
func firstBytes(n *node) [256]bool {
	var set [256]bool
	switch n.kind {
	case kObject:
		set['{'] = true
	case kArray:
		set['['] = true
	case kString:
		set['"'] = true
	case kNumber:
		set['-'] = true
		for c := '0'; c <= '9'; c++ {
			set[c] = true
		}
	case kLiteral:
		for _, l := range n.lits {
			set[l[0]] = true
		}
	case kUnion:
		for _, a := range n.alts {
			for i, ok := range firstBytes(a) {
				set[i] = set[i] || ok
			}
		}
	}
	return set
}

// union joins alternatives that start with different bytes (literal alternatives merge).
func union(path string, alts []*node) (*node, error) {
	var lits []any
	var rest []*node
	for _, a := range alts {
		if a.kind == kLiteral {
			for _, l := range a.lits {
				lits = append(lits, json.RawMessage(l))
			}
			continue
		}
		rest = append(rest, a)
	}
	if len(lits) > 0 {
		l, err := literals(path, lits)
		if err != nil {
			return nil, err
		}
		rest = append(rest, l)
	}
	if len(rest) == 1 {
		return rest[0], nil
	}
	var seen [256]bool
	u := &node{kind: kUnion, alts: rest, min: math.MaxInt}
	for _, a := range rest {
		for i, ok := range firstBytes(a) {
			if ok && seen[i] {
				return nil, fmt.Errorf("%w: %s: two alternatives can both start with %q", ErrUnsupported, path, rune(i))
			}
			seen[i] = seen[i] || ok
		}
		u.min = min(u.min, a.min)
	}
	return u, nil
}

func count(s map[string]any, k, path string, def int) (int, error) {
	x, ok := s[k]
	if !ok {
		return def, nil
	}
	num, ok := x.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%w: %s/%s: must be a non-negative integer", ErrInvalid, path, k)
	}
	i, err := num.Int64()
	if err != nil || i < 0 {
		return 0, fmt.Errorf("%w: %s/%s: must be a non-negative integer", ErrInvalid, path, k)
	}
	if i > 1<<20 {
		i = 1 << 20
	}
	return int(i), nil
}

func compilePattern(p, path string) (*syntax.Prog, error) {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	if len(prog.Inst) > maxPatternInsts {
		return nil, fmt.Errorf("%w: %s: the pattern is too large (%d instructions, at most %d)", ErrUnsupported, path, len(prog.Inst), maxPatternInsts)
	}
	for _, in := range prog.Inst {
		if in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText|syntax.EmptyBeginLine|syntax.EmptyEndLine) != 0 {
			return nil, fmt.Errorf("%w: %s: word boundaries", ErrUnsupported, path)
		}
	}
	return prog, nil
}

// orderKey holds, in every decoded object, its keys in the order of the text (JSON Schema
// properties are written in that order). No JSON key can be a NUL byte written raw.
const orderKey = "\x00order"

// decodeOrdered reads one JSON value as encoding/json would into any (numbers as json.Number),
// recording each object's key order under orderKey.
func decodeOrdered(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch d := t.(type) {
	case json.Delim:
		switch d {
		case '{':
			m := map[string]any{}
			var order []string
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := m[k]; !dup {
					order = append(order, k)
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			m[orderKey] = order
			return m, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		}
	}
	return t, nil
}

// encode writes v compactly, objects in their decoded key order.
func encode(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		order, _ := x[orderKey].([]string)
		for i, k := range order {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			encode(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			encode(b, e)
		}
		b.WriteByte(']')
	default:
		vb, _ := json.Marshal(x)
		b.Write(vb)
	}
}
