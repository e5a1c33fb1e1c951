package structured

import (
	"math"
	"regexp/syntax"
)

// Phases of a frame; which apply depends on the node's kind.
const (
	phStart  uint8 = iota // before the first byte
	phKey                 // object: inside a key, matching candidates
	phColon               // object: after a key, before ':'
	phValue               // object, array: a child frame is on the stack
	phAfter               // object, array: after a value, before ',' or the closing bracket
	phOpen                // object, array: after the opening bracket
	phClosed              // object, array, string: the closing byte was read
	phString              // string: inside the quotes
	phEscape              // string: after a backslash
	phInt                 // number: in the integer digits
	phFrac                // number: in the fraction digits (after '.')
	phLit                 // literal: matching
)

// frame is the state of one value being written.
type frame struct {
	n     *node
	phase uint8
	// object: next property index (all before it are written or skipped); array: items written;
	// string: characters written; literal and key: bytes matched.
	i    int
	pos  int
	mask uint64 // candidate keys or literals
	// string: UTF-8 continuation bytes still expected, and the pattern's NFA threads
	cont    uint8
	threads [2]uint64
	// number
	neg    bool
	digits int8
	frac   int8
	mag    float64 // magnitude written so far (integer part plus fraction)
	scale  float64 // the place value of the next fraction digit
}

// Matcher follows text as it is written and says what may come next. The zero value is not
// usable; call Schema.NewMatcher. Copying a Matcher with Clone is cheap (its stack).
type Matcher struct {
	stack []frame
}

// NewMatcher starts matching a value of the schema.
func (s *Schema) NewMatcher() *Matcher {
	m := &Matcher{stack: make([]frame, 1, 8)}
	m.stack[0] = newFrame(s.root)
	return m
}

func newFrame(n *node) frame {
	f := frame{n: n}
	if n.kind == kLiteral {
		f.mask = 1<<len(n.lits) - 1 // all 64 bits when the shift is 64
	}
	return f
}

// MinLength is the length in bytes of the shortest text the schema accepts.
func (s *Schema) MinLength() int { return s.root.min }

// Clone returns an independent copy.
func (m *Matcher) Clone() *Matcher {
	return &Matcher{stack: append(make([]frame, 0, cap(m.stack)), m.stack...)}
}

// Feed advances by text and reports whether the text keeps the value valid. After false the
// Matcher is in an undefined state.
func (m *Matcher) Feed(text string) bool {
	for i := 0; i < len(text); i++ {
		if !m.step(text[i]) {
			return false
		}
	}
	return true
}

// Complete reports whether the text so far is a whole value the schema accepts.
func (m *Matcher) Complete() bool {
	return len(m.stack) == 1 && accepting(&m.stack[0])
}

// Remaining is the fewest bytes that complete the value (0 when Complete).
func (m *Matcher) Remaining() int {
	r := 0
	for i := len(m.stack) - 1; i >= 0; i-- {
		r += remaining(&m.stack[i], i == len(m.stack)-1)
	}
	return r
}

type result uint8

const (
	reject   result = iota
	consumed        // the byte was taken
	ended           // the value had ended before the byte: pop and give the byte to the parent
	push            // the byte was taken and opened a child value (already pushed)
)

func (m *Matcher) step(b byte) bool {
	for {
		top := len(m.stack) - 1
		r := m.feedFrame(top, b)
		switch r {
		case reject:
			return false
		case consumed, push:
			return true
		case ended:
			if top == 0 {
				return false
			}
			m.stack = m.stack[:top]
			// The parent's child ended: it moves on, then sees b.
			p := &m.stack[top-1]
			p.phase = phAfter
			if p.n.kind == kArray {
				p.i++
			}
		}
	}
}

// startChild pushes a frame for n and feeds it its first byte.
func (m *Matcher) startChild(n *node, b byte) result {
	m.stack = append(m.stack, newFrame(n))
	if r := m.feedFrame(len(m.stack)-1, b); r == reject || r == ended {
		m.stack = m.stack[:len(m.stack)-1]
		return reject
	}
	return push
}

func firstByteOK(n *node, b byte) bool {
	switch n.kind {
	case kObject:
		return b == '{'
	case kArray:
		return b == '['
	case kString:
		return b == '"'
	case kNumber:
		return b == '-' || b >= '0' && b <= '9'
	case kLiteral:
		for _, l := range n.lits {
			if l[0] == b {
				return true
			}
		}
	}
	return false
}

func (m *Matcher) feedFrame(idx int, b byte) result {
	f := &m.stack[idx]
	switch f.n.kind {
	case kUnion:
		// Alternatives start with different bytes: the first byte picks one for good.
		for _, a := range f.n.alts {
			if firstByteOK(a, b) {
				*f = newFrame(a)
				return m.feedFrame(idx, b)
			}
		}
		return reject
	case kObject:
		return m.feedObject(idx, b)
	case kArray:
		return m.feedArray(idx, b)
	case kString:
		return feedString(f, b)
	case kNumber:
		return feedNumber(f, b)
	case kLiteral:
		return feedLiteral(f, b)
	}
	return reject
}

// keyCandidates are the properties that may come next: from f.i on, up to and including the
// first required one.
func keyCandidates(n *node, from int) uint64 {
	var mask uint64
	for j := from; j < len(n.props); j++ {
		mask |= 1 << j
		if n.props[j].required {
			break
		}
	}
	return mask
}

// brackets handles what objects and arrays share: the opening bracket, the closing one (taken
// when canClose), and the end after it; handled is false for every other byte and phase.
func brackets(f *frame, b, open, close byte, canClose bool) (r result, handled bool) {
	switch {
	case f.phase == phStart:
		if b != open {
			return reject, true
		}
		f.phase = phOpen
		return consumed, true
	case f.phase == phClosed:
		return ended, true
	case (f.phase == phOpen || f.phase == phAfter) && b == close:
		if !canClose {
			return reject, true
		}
		f.phase = phClosed
		return consumed, true
	}
	return reject, false
}

func (m *Matcher) feedObject(idx int, b byte) result {
	f := &m.stack[idx]
	n := f.n
	if r, ok := brackets(f, b, '{', '}', n.reqAfter[f.i] == 0); ok {
		return r
	}
	switch f.phase {
	case phOpen, phAfter:
		want := byte(',')
		if f.phase == phOpen {
			want = '"'
		}
		if b != want {
			return reject
		}
		f.mask = keyCandidates(n, f.i)
		if f.mask == 0 {
			return reject
		}
		f.phase = phKey
		f.pos = 0
		if b == '"' {
			return m.feedObject(idx, b)
		}
		return consumed
	case phKey:
		var next uint64
		done := -1
		for j := f.i; j < len(n.props); j++ {
			if f.mask&(1<<j) == 0 {
				continue
			}
			k := n.props[j].key
			if f.pos < len(k) && k[f.pos] == b {
				next |= 1 << j
				if f.pos == len(k)-1 {
					done = j
				}
			}
		}
		if next == 0 {
			return reject
		}
		f.pos++
		f.mask = next
		if done >= 0 { // keys are quoted, so a whole key is a prefix of no other
			f.i = done
			f.phase = phColon
		}
		return consumed
	case phColon:
		if b != ':' {
			return reject
		}
		// f.i moves past the property now; the next key is looked for from there.
		f.phase = phValue
		f.i++
		return consumed
	case phValue:
		// The first byte of the value (f may move: startChild grows the stack).
		return m.startChild(n.props[f.i-1].node, b)
	}
	return reject
}

func (m *Matcher) feedArray(idx int, b byte) result {
	f := &m.stack[idx]
	n := f.n
	if r, ok := brackets(f, b, '[', ']', f.i >= n.minItems); ok {
		return r
	}
	switch f.phase {
	case phOpen, phAfter:
		if f.i >= n.maxItems {
			return reject
		}
		if f.phase == phAfter {
			if b != ',' {
				return reject
			}
			f.phase = phValue
			return consumed
		}
		// The first item's first byte: the frame is in phValue while its child is open.
		old := f.phase
		f.phase = phValue
		r := m.startChild(n.items, b)
		if r == reject {
			m.stack[idx].phase = old
		}
		return r
	case phValue:
		return m.startChild(n.items, b)
	}
	return reject
}

func feedString(f *frame, b byte) result {
	n := f.n
	switch f.phase {
	case phStart:
		if b != '"' {
			return reject
		}
		f.phase = phString
		if n.pattern != nil {
			f.threads = startThreads(n.pattern)
		}
		return consumed
	case phString:
		if f.cont > 0 { // a continuation byte of a multi-byte character
			lo, hi := byte(0x80), byte(0xBF)
			if f.pos != 0 { // the first continuation after E0, ED, F0 or F4 (see below)
				lo, hi = byte(f.pos>>8), byte(f.pos)
				f.pos = 0
			}
			if b < lo || b > hi {
				return reject
			}
			f.cont--
			f.mag = f.mag*64 + float64(b&0x3F) // the rune so far, kept in mag
			if f.cont == 0 && n.pattern != nil {
				if f.threads = stepThreads(n.pattern, f.threads, rune(f.mag)); f.threads == [2]uint64{} ||
					patternDistance(n.pattern, f.threads) > n.maxLen-f.i {
					return reject
				}
			}
			return consumed
		}
		switch {
		case b == '"':
			if f.i < n.minLen || n.pattern != nil && !matches(n.pattern, f.threads) {
				return reject
			}
			f.phase = phClosed
			return consumed
		case f.i >= n.maxLen || b < 0x20 || b == 0x7F:
			return reject
		case b == '\\':
			if n.pattern != nil {
				return reject // pattern strings are written without escapes
			}
			f.phase = phEscape
			return consumed
		case b < 0x80:
			if n.pattern != nil {
				if f.threads = stepThreads(n.pattern, f.threads, rune(b)); f.threads == [2]uint64{} {
					return reject
				}
				if patternDistance(n.pattern, f.threads) > n.maxLen-f.i-1 {
					return reject
				}
			}
			f.i++
			return consumed
		}
		if n.pattern != nil {
			return reject // pattern strings are ASCII
		}
		// The first byte of a multi-byte character: C2..F4; the byte after E0, ED, F0 and
		// F4 has a narrower range (no overlong forms, surrogates or runes past U+10FFFF).
		switch b {
		case 0xE0:
			f.pos = 0xA0<<8 | 0xBF
		case 0xED:
			f.pos = 0x80<<8 | 0x9F
		case 0xF0:
			f.pos = 0x90<<8 | 0xBF
		case 0xF4:
			f.pos = 0x80<<8 | 0x8F
		}
		switch {
		case b >= 0xC2 && b <= 0xDF:
			f.cont, f.mag = 1, float64(b&0x1F)
		case b >= 0xE0 && b <= 0xEF:
			f.cont, f.mag = 2, float64(b&0x0F)
		case b >= 0xF0 && b <= 0xF4:
			f.cont, f.mag = 3, float64(b&0x07)
		default:
			return reject
		}
		f.i++
		return consumed
	case phEscape:
		switch b {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			f.phase = phString
			f.i++
			return consumed
		}
		return reject
	case phClosed:
		return ended
	}
	return reject
}

func feedLiteral(f *frame, b byte) result {
	lits := f.n.lits
	var next uint64
	whole := false
	for j, l := range lits {
		if f.mask&(1<<j) == 0 {
			continue
		}
		if f.pos < len(l) && l[f.pos] == b {
			next |= 1 << j
		}
		if f.pos == len(l) {
			whole = true
		}
	}
	if next == 0 {
		if whole {
			return ended
		}
		return reject
	}
	f.phase = phLit
	f.mask = next
	f.pos++
	return consumed
}

func feedNumber(f *frame, b byte) result {
	n := f.n
	isDigit := b >= '0' && b <= '9'
	switch f.phase {
	case phStart:
		f.phase = phInt
		if b == '-' {
			f.neg = true
			if !numberFeasible(f) {
				return reject
			}
			return consumed
		}
		return feedNumber(f, b)
	case phInt:
		switch {
		case isDigit:
			if f.digits >= int8(n.intDigits) || f.digits == 1 && f.mag == 0 || n.integer && f.neg && f.digits == 0 && b == '0' {
				return reject // too long, a leading zero, or an integer -0
			}
			f.digits++
			f.mag = f.mag*10 + float64(b-'0')
		case b == '.' && !n.integer && f.digits > 0:
			f.phase = phFrac
			f.scale = 0.1
		default:
			if numberAccepting(f) {
				return ended
			}
			return reject
		}
	case phFrac:
		switch {
		case isDigit:
			if f.frac >= maxFracDigits {
				return reject
			}
			f.frac++
			f.mag += float64(b-'0') * f.scale
			f.scale /= 10
		default:
			if numberAccepting(f) {
				return ended
			}
			return reject
		}
	}
	if !numberFeasible(f) {
		return reject
	}
	return consumed
}

func (f *frame) value() float64 {
	if f.neg {
		return -f.mag
	}
	return f.mag
}

func numberAccepting(f *frame) bool {
	n := f.n
	if f.phase == phStart || f.digits == 0 || f.phase == phFrac && f.frac == 0 {
		return false
	}
	v := f.value()
	if f.neg && v == 0 && f.phase == phInt {
		v = 0
	}
	return inRange(n, v)
}

func inRange(n *node, v float64) bool {
	if v < n.lo || v > n.hi || n.exLo && v == n.lo || n.exHi && v == n.hi {
		return false
	}
	return true
}

// numberFeasible reports whether some continuation of the digits so far lands in range.
func numberFeasible(f *frame) bool {
	n := f.n
	// The magnitudes reachable, as a union of intervals [a, b].
	check := func(a, b float64) bool {
		lo, hi := a, b
		if f.neg {
			lo, hi = -b, -a
		}
		return hi >= n.lo && lo <= n.hi && !(n.exHi && lo >= n.hi) && !(n.exLo && hi <= n.lo)
	}
	fracSpan := 0.0
	if !n.integer {
		fracSpan = 1 - math.Pow(10, -maxFracDigits)
	}
	switch f.phase {
	case phFrac:
		return check(f.mag, f.mag+f.scale*10*(1-math.Pow(10, -float64(maxFracDigits-f.frac))))
	case phInt:
		if f.digits == 0 {
			least := 0.0
			switch {
			case f.neg && n.integer:
				least = 1 // no -0
			case f.neg:
				least = math.SmallestNonzeroFloat64 // a sign only where a negative value fits
			}
			return check(least, math.Pow(10, float64(n.intDigits))-1+fracSpan)
		}
		if f.mag == 0 {
			return check(0, fracSpan)
		}
		p := 1.0
		for k := int(f.digits); k <= n.intDigits; k++ {
			if check(f.mag*p, f.mag*p+p-1+fracSpan) {
				return true
			}
			p *= 10
		}
	}
	return false
}

// accepting reports whether the frame holds a whole value (a number may still grow).
func accepting(f *frame) bool {
	switch f.n.kind {
	case kNumber:
		return numberAccepting(f)
	case kLiteral:
		if f.phase != phLit {
			return false
		}
		for j, l := range f.n.lits {
			if f.mask&(1<<j) != 0 && len(l) == f.pos {
				return true
			}
		}
		return false
	}
	return f.phase == phClosed
}

// remaining is the fewest bytes that end the frame; top says no child of it is open (an open
// child counts its own).
func remaining(f *frame, top bool) int {
	n := f.n
	if f.phase == phStart {
		return n.min
	}
	switch n.kind {
	case kObject:
		switch f.phase {
		case phOpen:
			return max(1, n.reqAfter[0])
		case phAfter:
			return n.reqAfter[f.i] + 1
		case phValue:
			r := n.reqAfter[f.i] + 1
			if top {
				r += n.props[f.i-1].node.min
			}
			return r
		case phColon:
			return 1 + n.props[f.i].node.min + n.reqAfter[f.i+1] + 1
		case phKey:
			best := unreachable
			for k := f.i; k < len(n.props); k++ {
				if f.mask&(1<<k) != 0 {
					p := n.props[k]
					best = min(best, len(p.key)-f.pos+1+p.node.min+n.reqAfter[k+1]+1)
				}
			}
			return best
		}
	case kArray:
		item := n.items.min + 1
		switch f.phase {
		case phOpen:
			if n.minItems == 0 {
				return 1
			}
			return n.minItems * item
		case phAfter:
			return max(0, n.minItems-f.i)*item + 1
		case phValue:
			r := max(0, n.minItems-f.i-1)*item + 1
			if top {
				r += n.items.min
			}
			return r
		}
	case kString:
		switch f.phase {
		case phString, phEscape:
			need := max(0, n.minLen-f.i)
			if n.pattern != nil {
				need = max(need, patternDistance(n.pattern, f.threads))
			}
			r := need + 1 + int(f.cont)
			if f.phase == phEscape {
				r++
			}
			return r
		}
	case kNumber:
		if numberAccepting(f) {
			return 0
		}
		return numberRemaining(f)
	case kLiteral:
		best := unreachable
		for j, l := range n.lits {
			if f.mask&(1<<j) != 0 {
				best = min(best, len(l)-f.pos)
			}
		}
		return best
	}
	return 0
}

// numberRemaining counts the digits to add to reach the range (an estimate on the safe side).
func numberRemaining(f *frame) int {
	if f.phase == phFrac {
		return 1
	}
	for k := 0; k <= f.n.intDigits; k++ {
		p := math.Pow(10, float64(k))
		lo, hi := f.mag*p, f.mag*p+p-1
		if f.digits == 0 {
			lo, hi = 0, p-1
		}
		if f.neg {
			lo, hi = -hi, -lo
		}
		if hi >= f.n.lo && lo <= f.n.hi {
			// An integer in range exists at this length; if none is on the integer grid
			// (a narrow non-integer range), a fraction is needed too.
			if math.Ceil(math.Max(lo, f.n.lo)) <= math.Floor(math.Min(hi, f.n.hi)) {
				return max(k, 1-int(f.digits))
			}
			return max(k, 1-int(f.digits)) + 2
		}
	}
	return 8
}

// The pattern's NFA: threads are a bit set over the program's instructions, kept on the
// rune-consuming instructions and Match after following empty moves.

func startThreads(p *syntax.Prog) [2]uint64 {
	var t [2]uint64
	addThread(p, &t, uint32(p.Start))
	return t
}

func addThread(p *syntax.Prog, t *[2]uint64, pc uint32) {
	if t[pc/64]&(1<<(pc%64)) != 0 {
		return
	}
	t[pc/64] |= 1 << (pc % 64)
	in := &p.Inst[pc]
	switch in.Op {
	case syntax.InstAlt, syntax.InstAltMatch:
		addThread(p, t, in.Out)
		addThread(p, t, in.Arg)
	case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
		// Anchors hold trivially: the whole string is matched, start to end.
		addThread(p, t, in.Out)
	}
}

func stepThreads(p *syntax.Prog, t [2]uint64, r rune) [2]uint64 {
	var next [2]uint64
	for pc := range uint32(len(p.Inst)) {
		if t[pc/64]&(1<<(pc%64)) == 0 {
			continue
		}
		in := &p.Inst[pc]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			ok := in.Op == syntax.InstRuneAny || in.Op == syntax.InstRuneAnyNotNL && r != '\n' ||
				(in.Op == syntax.InstRune || in.Op == syntax.InstRune1) && in.MatchRune(r)
			if ok && r != '"' && r != '\\' && r >= 0x20 {
				addThread(p, &next, in.Out)
			}
		}
	}
	return next
}

func matches(p *syntax.Prog, t [2]uint64) bool {
	for pc := range uint32(len(p.Inst)) {
		if t[pc/64]&(1<<(pc%64)) != 0 && p.Inst[pc].Op == syntax.InstMatch {
			return true
		}
	}
	return false
}

// patternDistance is the fewest characters from threads t to a match (a breadth-first search
// over the program; MaxInt/2 when none is reachable).
func patternDistance(p *syntax.Prog, t [2]uint64) int {
	cur := t
	var seen [2]uint64
	for d := 0; d <= len(p.Inst); d++ {
		if matches(p, cur) {
			return d
		}
		var next [2]uint64
		for pc := range uint32(len(p.Inst)) {
			if cur[pc/64]&(1<<(pc%64)) == 0 {
				continue
			}
			switch in := &p.Inst[pc]; in.Op {
			case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				addThread(p, &next, in.Out)
			}
		}
		next[0] &^= seen[0]
		next[1] &^= seen[1]
		if next == [2]uint64{} {
			break
		}
		seen[0] |= next[0]
		seen[1] |= next[1]
		cur = next
	}
	return unreachable
}

// unreachable stands for a completion that cannot be had; sums of a few stay far from overflow.
const unreachable = 1 << 30
