package es

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// appendCanonical is the fast way to the canonical form of one JSON value:
// it rewrites raw in a single pass, without building Go values. It covers
// what events hold in practice (strings without escapes, valid UTF-8, keys
// that appear once) and reports ok=false for anything else, which
// writeCanonical then hands to the decoding reference (writeValue). Every
// stored hash depends on the two agreeing byte for byte:
// FuzzCanonicalFastMatchesReference holds them to it.
func appendCanonical(dst, raw []byte) (out []byte, ok bool) {
	var members [16]canonMember
	p := canonParser{raw: raw, out: dst, members: members[:0]}
	p.space()
	if !p.value(0) {
		return dst, false
	}
	p.space()
	if p.i != len(p.raw) {
		return dst, false
	}
	return p.out, true
}

// maxFastDepth bounds the nesting the fast path follows; deeper values take
// the reference path, which knows encoding/json's own limit.
const maxFastDepth = 200

type canonParser struct {
	raw []byte
	i   int
	out []byte
	// members is scratch space for the objects being rewritten, shared by
	// all levels (each level uses the part above its own start).
	members []canonMember
	// moved is scratch space for members being put in order.
	moved []byte
}

// canonMember is one object member as written to out: its key and the
// bytes of `"key":value`.
type canonMember struct {
	key        []byte
	start, end int
}

func (p *canonParser) space() {
	for p.i < len(p.raw) {
		switch p.raw[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *canonParser) value(depth int) bool {
	if p.i >= len(p.raw) || depth > maxFastDepth {
		return false
	}
	switch c := p.raw[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, ok := p.str()
		if !ok {
			return false
		}
		p.out = append(p.out, '"')
		p.out = append(p.out, s...)
		p.out = append(p.out, '"')
		return true
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return false
}

func (p *canonParser) literal(word string) bool {
	if !bytes.HasPrefix(p.raw[p.i:], []byte(word)) {
		return false
	}
	p.i += len(word)
	p.out = append(p.out, word...)
	return true
}

// str reads a string that needs no decoding: no escapes, no control
// characters, valid UTF-8. Such a string's canonical form is its raw bytes
// between quotes.
func (p *canonParser) str() ([]byte, bool) {
	start := p.i + 1
	ascii := true
	for j := start; j < len(p.raw); j++ {
		switch c := p.raw[j]; {
		case c == '"':
			s := p.raw[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (p *canonParser) number() bool {
	start, j := p.i, p.i
	digits := func() int {
		k := j
		for j < len(p.raw) && p.raw[j] >= '0' && p.raw[j] <= '9' {
			j++
		}
		return j - k
	}
	if p.raw[j] == '-' {
		j++
	}
	switch n := digits(); {
	case n == 0:
		return false
	case n > 1 && p.raw[j-n] == '0':
		return false // a leading zero is not JSON
	}
	if j < len(p.raw) && p.raw[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(p.raw) && (p.raw[j] == 'e' || p.raw[j] == 'E') {
		j++
		if j < len(p.raw) && (p.raw[j] == '+' || p.raw[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	lit := p.raw[start:j]
	if plainInteger(lit) {
		p.i = j
		p.out = append(p.out, lit...)
		return true
	}
	n, err := normalNumberChecked(string(lit))
	if err != nil {
		return false
	}
	p.i = j
	p.out = append(p.out, n...)
	return true
}

// plainInteger reports whether a valid JSON number is already canonical as
// written: an integer that is not zero and has no trailing zero.
func plainInteger(lit []byte) bool {
	digits := bytes.TrimPrefix(lit, []byte("-"))
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return digits[len(digits)-1] != '0'
}

func (p *canonParser) array(depth int) bool {
	p.i++ // [
	p.out = append(p.out, '[')
	p.space()
	if p.i < len(p.raw) && p.raw[p.i] == ']' {
		p.i++
		p.out = append(p.out, ']')
		return true
	}
	for {
		p.space()
		if !p.value(depth + 1) {
			return false
		}
		p.space()
		if p.i >= len(p.raw) {
			return false
		}
		switch p.raw[p.i] {
		case ',':
			p.i++
			p.out = append(p.out, ',')
		case ']':
			p.i++
			p.out = append(p.out, ']')
			return true
		default:
			return false
		}
	}
}

// object writes each member as it comes, then puts the members in key
// order when they did not arrive in it.
func (p *canonParser) object(depth int) bool {
	p.i++ // {
	p.out = append(p.out, '{')
	p.space()
	if p.i < len(p.raw) && p.raw[p.i] == '}' {
		p.i++
		p.out = append(p.out, '}')
		return true
	}
	first := len(p.members)
	defer func() { p.members = p.members[:first] }()
	sorted := true
	for {
		p.space()
		if p.i >= len(p.raw) || p.raw[p.i] != '"' {
			return false
		}
		key, ok := p.str()
		if !ok {
			return false
		}
		if n := len(p.members); n > first {
			switch c := bytes.Compare(p.members[n-1].key, key); {
			case c == 0:
				return false // a repeated key: the reference decides which counts
			case c > 0:
				sorted = false
			}
		}
		if len(p.members) > first {
			p.out = append(p.out, ',')
		}
		start := len(p.out)
		p.out = append(p.out, '"')
		p.out = append(p.out, key...)
		p.out = append(p.out, '"', ':')
		p.space()
		if p.i >= len(p.raw) || p.raw[p.i] != ':' {
			return false
		}
		p.i++
		p.space()
		if !p.value(depth + 1) {
			return false
		}
		p.members = append(p.members, canonMember{key: key, start: start, end: len(p.out)})
		p.space()
		if p.i >= len(p.raw) {
			return false
		}
		if p.raw[p.i] == ',' {
			p.i++
			continue
		}
		if p.raw[p.i] != '}' {
			return false
		}
		p.i++
		break
	}
	if !sorted {
		ms := p.members[first:]
		slices.SortFunc(ms, func(a, b canonMember) int { return bytes.Compare(a.key, b.key) })
		for i := 1; i < len(ms); i++ {
			if bytes.Equal(ms[i-1].key, ms[i].key) {
				return false
			}
		}
		from := ms[0].start
		for _, m := range ms {
			from = min(from, m.start)
		}
		p.moved = append(p.moved[:0], p.out[from:]...)
		p.out = p.out[:from]
		for i, m := range ms {
			if i > 0 {
				p.out = append(p.out, ',')
			}
			p.out = append(p.out, p.moved[m.start-from:m.end-from]...)
		}
	}
	p.out = append(p.out, '}')
	return true
}
